//! The FetchXML condition operators a record filter may use (API-FACTS 2.3) and the
//! value each one takes, so a snippet is checked before Dataverse ever sees it.

/// What a single `value` must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Any text (strings, numbers, 0/1 booleans, GUIDs, dates).
    Any,
    /// A UTC date/time `2026-01-01T00:00:00Z` or a date `2026-01-01`.
    Date,
    /// A whole number written without quotes (`last-x-days`, ...).
    Count,
}

/// How many values an operator takes and where they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRule {
    /// No value at all (`null`, `not-null`, `today`, ...).
    None,
    /// One `value` attribute.
    Single(ValueKind),
    /// One or more `<value>` children (`in`, `not-in`, ...).
    List,
    /// Exactly two `<value>` children (`between`, `not-between`).
    Two,
}

/// A known condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    name: &'static str,
    rule: ValueRule,
}

use ValueKind::{Any, Count, Date};
use ValueRule::{List, None as NoValue, Single, Two};

const OPERATORS: &[(&str, ValueRule)] = &[
    ("eq", Single(Any)),
    ("ne", Single(Any)),
    ("neq", Single(Any)),
    ("gt", Single(Any)),
    ("ge", Single(Any)),
    ("lt", Single(Any)),
    ("le", Single(Any)),
    ("like", Single(Any)),
    ("not-like", Single(Any)),
    ("begins-with", Single(Any)),
    ("not-begin-with", Single(Any)),
    ("ends-with", Single(Any)),
    ("not-end-with", Single(Any)),
    ("under", Single(Any)),
    ("eq-or-under", Single(Any)),
    ("not-under", Single(Any)),
    ("above", Single(Any)),
    ("eq-or-above", Single(Any)),
    ("in", List),
    ("not-in", List),
    ("contain-values", List),
    ("not-contain-values", List),
    ("between", Two),
    ("not-between", Two),
    ("null", NoValue),
    ("not-null", NoValue),
    ("on", Single(Date)),
    ("not-on", Single(Date)),
    ("on-or-after", Single(Date)),
    ("on-or-before", Single(Date)),
    ("today", NoValue),
    ("yesterday", NoValue),
    ("tomorrow", NoValue),
    ("last-seven-days", NoValue),
    ("next-seven-days", NoValue),
    ("this-week", NoValue),
    ("last-week", NoValue),
    ("next-week", NoValue),
    ("this-month", NoValue),
    ("last-month", NoValue),
    ("next-month", NoValue),
    ("this-year", NoValue),
    ("last-year", NoValue),
    ("next-year", NoValue),
    ("this-fiscal-year", NoValue),
    ("this-fiscal-period", NoValue),
    ("last-fiscal-year", NoValue),
    ("last-fiscal-period", NoValue),
    ("next-fiscal-year", NoValue),
    ("next-fiscal-period", NoValue),
    ("eq-userid", NoValue),
    ("ne-userid", NoValue),
    ("eq-userteams", NoValue),
    ("eq-useroruserteams", NoValue),
    ("eq-businessid", NoValue),
    ("ne-businessid", NoValue),
    ("last-x-hours", Single(Count)),
    ("last-x-days", Single(Count)),
    ("last-x-weeks", Single(Count)),
    ("last-x-months", Single(Count)),
    ("last-x-years", Single(Count)),
    ("last-x-fiscal-years", Single(Count)),
    ("last-x-fiscal-periods", Single(Count)),
    ("next-x-hours", Single(Count)),
    ("next-x-days", Single(Count)),
    ("next-x-weeks", Single(Count)),
    ("next-x-months", Single(Count)),
    ("next-x-years", Single(Count)),
    ("next-x-fiscal-years", Single(Count)),
    ("next-x-fiscal-periods", Single(Count)),
    ("olderthan-x-minutes", Single(Count)),
    ("olderthan-x-hours", Single(Count)),
    ("olderthan-x-days", Single(Count)),
    ("olderthan-x-weeks", Single(Count)),
    ("olderthan-x-months", Single(Count)),
    ("olderthan-x-years", Single(Count)),
    ("in-fiscal-year", Single(Count)),
    ("in-fiscal-period", Single(Count)),
];

impl Operator {
    /// The operator named `name`, if it is one a record filter may use.
    pub fn from_name(name: &str) -> Option<Self> {
        OPERATORS
            .iter()
            .find(|(known, _)| *known == name)
            .map(|&(name, rule)| Self { name, rule })
    }

    /// Every operator a record filter may use, by name.
    pub fn names() -> impl Iterator<Item = &'static str> {
        OPERATORS.iter().map(|(name, _)| *name)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn rule(&self) -> ValueRule {
        self.rule
    }
}

/// Checks one value against its kind; `Err` carries what to write instead.
pub(super) fn check_value(kind: ValueKind, operator: &str, value: &str) -> Result<(), String> {
    match kind {
        ValueKind::Any => Ok(()),
        ValueKind::Count => {
            if !value.is_empty() && value.len() <= 9 && value.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err(format!(
                    "'{operator}' takes a whole number written without quotes, e.g. value='7'"
                ))
            }
        }
        ValueKind::Date => {
            if is_utc_date_time(value) || is_date(value) {
                Ok(())
            } else {
                Err(format!(
                    "'{operator}' takes a UTC date such as 2026-01-01T00:00:00Z or 2026-01-01"
                ))
            }
        }
    }
}

fn is_date(value: &str) -> bool {
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok() && value.len() == 10
}

fn is_utc_date_time(value: &str) -> bool {
    value.len() == 20
        && value.ends_with('Z')
        && chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%SZ").is_ok()
}

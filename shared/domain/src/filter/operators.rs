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

/// The operators by the values they take, in API-FACTS order, their names separated by
/// white space.
const OPERATORS: &[(ValueRule, &str)] = &[
    (
        Single(Any),
        "eq ne neq gt ge lt le like not-like begins-with not-begin-with ends-with \
         not-end-with under eq-or-under not-under above eq-or-above",
    ),
    (List, "in not-in contain-values not-contain-values"),
    (Two, "between not-between"),
    (NoValue, "null not-null"),
    (Single(Date), "on not-on on-or-after on-or-before"),
    (
        NoValue,
        "today yesterday tomorrow last-seven-days next-seven-days this-week last-week \
         next-week this-month last-month next-month this-year last-year next-year \
         this-fiscal-year this-fiscal-period last-fiscal-year last-fiscal-period \
         next-fiscal-year next-fiscal-period eq-userid ne-userid eq-userteams \
         eq-useroruserteams eq-businessid ne-businessid",
    ),
    (
        Single(Count),
        "last-x-hours last-x-days last-x-weeks last-x-months last-x-years \
         last-x-fiscal-years last-x-fiscal-periods next-x-hours next-x-days next-x-weeks \
         next-x-months next-x-years next-x-fiscal-years next-x-fiscal-periods \
         olderthan-x-minutes olderthan-x-hours olderthan-x-days olderthan-x-weeks \
         olderthan-x-months olderthan-x-years in-fiscal-year in-fiscal-period",
    ),
];

impl Operator {
    /// The operator named `name`, if it is one a record filter may use.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::all().find(|known| known.name == name)
    }

    /// Every operator a record filter may use, by name.
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::all().map(|operator| operator.name)
    }

    fn all() -> impl Iterator<Item = Self> {
        OPERATORS.iter().flat_map(|&(rule, names)| {
            names
                .split_whitespace()
                .map(move |name| Self { name, rule })
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operator_is_named_once_with_its_rule() {
        let names: Vec<&str> = Operator::names().collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!((names.len(), unique.len()), (78, 78));
        for (name, rule) in [
            ("eq", Single(Any)),
            ("eq-or-above", Single(Any)),
            ("not-contain-values", List),
            ("not-between", Two),
            ("not-null", NoValue),
            ("on-or-before", Single(Date)),
            ("today", NoValue),
            ("ne-businessid", NoValue),
            ("last-x-days", Single(Count)),
            ("in-fiscal-period", Single(Count)),
        ] {
            assert_eq!(
                Operator::from_name(name).map(|o| o.rule()),
                Some(rule),
                "{name}"
            );
        }
        for unknown in ["", "eq ne", "EQ", "not-end-with under", "equals"] {
            assert_eq!(Operator::from_name(unknown), None, "{unknown:?}");
        }
    }
}

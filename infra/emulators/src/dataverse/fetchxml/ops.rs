//! Condition operators: each FetchXML `<condition>` is compiled once per query into a
//! [`Predicate`] over one column, with its literal(s) parsed for the column's type.
//! Relative date operators are resolved against the emulator's clock at compile time.

use super::ast::Condition;
use crate::dataverse::errors::ApiError;
use crate::dataverse::schema::{AttrDef, AttrKind};
use crate::dataverse::values::{FieldValue, Key, parse_datetime, parse_literal};
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, TimeZone, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A compiled condition on one column value (`None` = null).
#[derive(Debug, Clone)]
pub enum Predicate {
    Compare(Cmp, Key),
    /// Wildcard pattern (lowercase), negated or not.
    Like(Vec<Tok>, bool),
    In(Vec<Key>, bool),
    Between(Key, Key, bool),
    Null(bool),
    /// Instant in `[from, to)` (milliseconds), negated or not.
    Range(Option<i64>, Option<i64>, bool),
    ContainValues(Vec<i64>, bool),
}

/// A piece of a `like` pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Char(char),
    One,
    Any,
}

fn pattern(p: &str) -> Vec<Tok> {
    p.to_lowercase()
        .chars()
        .map(|c| match c {
            '%' => Tok::Any,
            '_' => Tok::One,
            c => Tok::Char(c),
        })
        .collect()
}

fn like(pat: &[Tok], text: &[char]) -> bool {
    // Iterative wildcard matching with backtracking on the last `%`.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(Tok::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Char(c)) if text.get(t) == Some(c) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat.get(p..)
        .is_some_and(|rest| rest.iter().all(|x| *x == Tok::Any))
}

impl Predicate {
    /// Whether a row's value satisfies the condition (SQL semantics: null fails all but `null`).
    pub fn test(&self, value: Option<&FieldValue>) -> bool {
        let Some(v) = value else {
            return matches!(self, Predicate::Null(false));
        };
        match self {
            Predicate::Null(negated) => *negated,
            Predicate::ContainValues(wanted, negated) => {
                let has = match v {
                    FieldValue::Choices(c) => wanted.iter().any(|w| c.contains(w)),
                    FieldValue::Int(i) => wanted.contains(i),
                    _ => false,
                };
                has != *negated
            }
            _ => {
                let k = Key::of(v);
                match self {
                    Predicate::Compare(op, lit) => match k.partial_cmp(lit) {
                        None => false,
                        Some(o) => match op {
                            Cmp::Eq => o.is_eq(),
                            Cmp::Ne => o.is_ne(),
                            Cmp::Gt => o.is_gt(),
                            Cmp::Ge => o.is_ge(),
                            Cmp::Lt => o.is_lt(),
                            Cmp::Le => o.is_le(),
                        },
                    },
                    Predicate::Like(pat, negated) => {
                        let text: Vec<char> = match &k {
                            Key::Text(s) => s.chars().collect(),
                            _ => return false,
                        };
                        like(pat, &text) != *negated
                    }
                    Predicate::In(keys, negated) => keys.contains(&k) != *negated,
                    Predicate::Between(lo, hi, negated) => (k >= *lo && k <= *hi) != *negated,
                    Predicate::Range(from, to, negated) => match k {
                        Key::Time(t) => {
                            let inside = from.is_none_or(|f| t >= f) && to.is_none_or(|e| t < e);
                            inside != *negated
                        }
                        _ => false,
                    },
                    Predicate::Null(_) | Predicate::ContainValues(..) => false,
                }
            }
        }
    }
}

fn day_start(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map(|n| n.and_utc().timestamp_millis())
        .unwrap_or(0)
}

fn ms(d: DateTime<Utc>) -> i64 {
    d.timestamp_millis()
}

/// Compiles `cond` for column `attr` of `entity`, with `now` as the clock.
pub fn compile(
    entity: &str,
    attr: &AttrDef,
    cond: &Condition,
    now: DateTime<Utc>,
) -> Result<Predicate, ApiError> {
    let op = cond.operator.as_str();
    let bad = |why: &str| {
        ApiError::invalid_fetchxml(format!(
            "Condition on '{entity}.{}' with operator '{op}': {why}",
            cond.attribute
        ))
    };
    let single = || -> Result<&str, ApiError> {
        cond.value
            .as_deref()
            .or_else(|| cond.values.first().map(String::as_str))
            .ok_or_else(|| bad("a value is required"))
    };
    let lit = |raw: &str| -> Result<Key, ApiError> {
        parse_literal(attr.kind, raw)
            .map(|v| Key::of(&v))
            .ok_or_else(|| {
                bad(&format!(
                    "'{raw}' is not a valid {} value",
                    attr.kind.attribute_type()
                ))
            })
    };
    let int = || -> Result<i64, ApiError> {
        single()?
            .trim()
            .parse::<i64>()
            .map_err(|_| bad("the value must be a whole number"))
    };
    let date = || -> Result<NaiveDate, ApiError> {
        let raw = single()?;
        parse_datetime(raw)
            .map(|d| d.date_naive())
            .ok_or_else(|| bad(&format!("'{raw}' is not a date")))
    };
    let is_date = matches!(attr.kind, AttrKind::DateTime | AttrKind::DateOnly);
    let need_date = || {
        if is_date {
            Ok(())
        } else {
            Err(bad("the operator is valid only for date columns"))
        }
    };
    let today = now.date_naive();
    let range = |from: Option<i64>, to: Option<i64>| Ok(Predicate::Range(from, to, false));
    let months_ago = |n: u32| now.checked_sub_months(Months::new(n)).unwrap_or(now);
    let months_ahead = |n: u32| now.checked_add_months(Months::new(n)).unwrap_or(now);
    let month_start = |y: i32, m: u32| Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().map(ms);
    let text_op = |p: String, negated: bool| -> Result<Predicate, ApiError> {
        if !matches!(attr.kind, AttrKind::String | AttrKind::Memo) {
            return Err(bad("the operator is valid only for text columns"));
        }
        Ok(Predicate::Like(pattern(&p), negated))
    };
    let multi = |negated: bool| -> Result<Predicate, ApiError> {
        let raws: Vec<&str> = if cond.values.is_empty() {
            single()?.split(',').collect()
        } else {
            cond.values.iter().map(String::as_str).collect()
        };
        Ok((raws, negated)).and_then(|(raws, negated)| {
            let keys = raws.iter().map(|r| lit(r)).collect::<Result<Vec<_>, _>>()?;
            if keys.is_empty() {
                return Err(bad("at least one <value> is required"));
            }
            Ok(Predicate::In(keys, negated))
        })
    };
    let n = || -> Result<u32, ApiError> {
        u32::try_from(int()?).map_err(|_| bad("the value must be positive"))
    };
    match op {
        "eq" => Ok(Predicate::Compare(Cmp::Eq, lit(single()?)?)),
        "ne" | "neq" => Ok(Predicate::Compare(Cmp::Ne, lit(single()?)?)),
        "gt" => Ok(Predicate::Compare(Cmp::Gt, lit(single()?)?)),
        "ge" => Ok(Predicate::Compare(Cmp::Ge, lit(single()?)?)),
        "lt" => Ok(Predicate::Compare(Cmp::Lt, lit(single()?)?)),
        "le" => Ok(Predicate::Compare(Cmp::Le, lit(single()?)?)),
        "like" => text_op(single()?.to_owned(), false),
        "not-like" => text_op(single()?.to_owned(), true),
        "begins-with" => text_op(format!("{}%", single()?), false),
        "not-begin-with" => text_op(format!("{}%", single()?), true),
        "ends-with" => text_op(format!("%{}", single()?), false),
        "not-end-with" => text_op(format!("%{}", single()?), true),
        "in" => multi(false),
        "not-in" => multi(true),
        "between" | "not-between" => {
            let [lo, hi] = cond.values.as_slice() else {
                return Err(bad("exactly two <value> elements are required"));
            };
            Ok(Predicate::Between(lit(lo)?, lit(hi)?, op == "not-between"))
        }
        "null" => Ok(Predicate::Null(false)),
        "not-null" => Ok(Predicate::Null(true)),
        "contain-values" | "not-contain-values" => {
            if attr.kind != AttrKind::MultiSelectPicklist {
                return Err(bad(
                    "the operator is valid only for multi-select choice columns",
                ));
            }
            let codes = cond
                .values
                .iter()
                .map(|v| {
                    v.trim()
                        .parse::<i64>()
                        .map_err(|_| bad(&format!("'{v}' is not a choice value")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Predicate::ContainValues(codes, op == "not-contain-values"))
        }
        "on" | "not-on" | "on-or-after" | "on-or-before" => {
            need_date()?;
            let d = date()?;
            let (start, next) = (day_start(d), day_start(d) + 86_400_000);
            match op {
                "on" => range(Some(start), Some(next)),
                "not-on" => Ok(Predicate::Range(Some(start), Some(next), true)),
                "on-or-after" => range(Some(start), None),
                _ => range(None, Some(next)),
            }
        }
        "today" | "yesterday" | "tomorrow" | "last-seven-days" | "next-seven-days"
        | "this-week" | "last-week" | "next-week" | "this-month" | "last-month" | "next-month"
        | "this-year" | "last-year" | "next-year" => {
            need_date()?;
            let t = day_start(today);
            let day = 86_400_000;
            let week_start = t - i64::from(today.weekday().num_days_from_sunday()) * day;
            let (y, m) = (today.year(), today.month());
            let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let (nny, nnm) = if nm == 12 { (ny + 1, 1) } else { (ny, nm + 1) };
            let year = |y: i32| month_start(y, 1);
            match op {
                "today" => range(Some(t), Some(t + day)),
                "yesterday" => range(Some(t - day), Some(t)),
                "tomorrow" => range(Some(t + day), Some(t + 2 * day)),
                "last-seven-days" => range(Some(t - 7 * day), Some(ms(now))),
                "next-seven-days" => range(Some(ms(now)), Some(t + 8 * day)),
                "this-week" => range(Some(week_start), Some(week_start + 7 * day)),
                "last-week" => range(Some(week_start - 7 * day), Some(week_start)),
                "next-week" => range(Some(week_start + 7 * day), Some(week_start + 14 * day)),
                "this-month" => range(month_start(y, m), month_start(ny, nm)),
                "last-month" => range(month_start(py, pm), month_start(y, m)),
                "next-month" => range(month_start(ny, nm), month_start(nny, nnm)),
                "this-year" => range(year(y), year(y + 1)),
                "last-year" => range(year(y - 1), year(y)),
                _ => range(year(y + 1), year(y + 2)),
            }
        }
        _ if op.starts_with("last-x-")
            || op.starts_with("next-x-")
            || op.starts_with("olderthan-x-") =>
        {
            need_date()?;
            let x = n()?;
            let unit = op.rsplit('-').next().unwrap_or_default();
            let back = |x: u32| -> Option<DateTime<Utc>> {
                match unit {
                    "minutes" => Some(now - Duration::minutes(i64::from(x))),
                    "hours" => Some(now - Duration::hours(i64::from(x))),
                    "days" => Some(now - Duration::days(i64::from(x))),
                    "weeks" => Some(now - Duration::weeks(i64::from(x))),
                    "months" => Some(months_ago(x)),
                    "years" => Some(months_ago(x.saturating_mul(12))),
                    _ => None,
                }
            };
            let ahead = |x: u32| -> Option<DateTime<Utc>> {
                match unit {
                    "hours" => Some(now + Duration::hours(i64::from(x))),
                    "days" => Some(now + Duration::days(i64::from(x))),
                    "weeks" => Some(now + Duration::weeks(i64::from(x))),
                    "months" => Some(months_ahead(x)),
                    "years" => Some(months_ahead(x.saturating_mul(12))),
                    _ => None,
                }
            };
            let unknown = || {
                ApiError::invalid_fetchxml(format!("The condition operator '{op}' is not valid."))
            };
            if op.starts_with("olderthan-x-") {
                let edge = back(x).ok_or_else(unknown)?;
                range(None, Some(ms(edge)))
            } else if op.starts_with("last-x-") {
                let edge = back(x).ok_or_else(unknown)?;
                // Day-based operators start at midnight, as Dataverse rounds them to whole days.
                let from = if unit == "hours" || unit == "minutes" {
                    ms(edge)
                } else {
                    day_start(edge.date_naive())
                };
                range(Some(from), Some(ms(now) + 1))
            } else {
                let edge = ahead(x).ok_or_else(unknown)?;
                let to = if unit == "hours" {
                    ms(edge)
                } else {
                    day_start(edge.date_naive()) + 86_400_000
                };
                range(Some(ms(now)), Some(to))
            }
        }
        other => Err(ApiError::invalid_fetchxml(format!(
            "The condition operator '{other}' is not valid or not supported by this emulator."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_follow_sql_wildcards() {
        let m = |p: &str, t: &str| like(&pattern(p), &t.chars().collect::<Vec<_>>());
        assert!(m("%@example.com", "ada@example.com"));
        assert!(m("a%e", "apple"));
        assert!(m("a_c", "abc"));
        assert!(!m("a_c", "abbc"));
        assert!(m("%", ""));
        assert!(!m("abc", "abcd"));
        assert!(m("%b%b%", "abcb"));
    }
}

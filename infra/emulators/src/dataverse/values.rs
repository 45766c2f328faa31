//! Column values: how rows are stored, compared, rendered as Web API JSON and formatted.
//!
//! Values are stored untyped-but-tagged ([`FieldValue`]); the column's [`AttrKind`] decides
//! how a value is rendered (`_x_value` for lookups, comma lists for multi-select) and how a
//! query literal is parsed before comparing.

use super::schema::{AttrDef, AttrKind};
use chrono::{DateTime, NaiveDate, Utc};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use uuid::Uuid;

/// One stored value.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Text(String),
    /// Integers, choice/state/status codes.
    Int(i64),
    /// Money and decimals.
    Number(f64),
    Bool(bool),
    DateTime(DateTime<Utc>),
    Date(NaiveDate),
    Guid(Uuid),
    /// A reference to a row of `entity`.
    Lookup {
        entity: String,
        id: Uuid,
    },
    /// Multi-select choice codes.
    Choices(Vec<i64>),
}

impl From<&str> for FieldValue {
    fn from(v: &str) -> Self {
        FieldValue::Text(v.to_owned())
    }
}
impl From<String> for FieldValue {
    fn from(v: String) -> Self {
        FieldValue::Text(v)
    }
}
impl From<i64> for FieldValue {
    fn from(v: i64) -> Self {
        FieldValue::Int(v)
    }
}
impl From<i32> for FieldValue {
    fn from(v: i32) -> Self {
        FieldValue::Int(i64::from(v))
    }
}
impl From<f64> for FieldValue {
    fn from(v: f64) -> Self {
        FieldValue::Number(v)
    }
}
impl From<bool> for FieldValue {
    fn from(v: bool) -> Self {
        FieldValue::Bool(v)
    }
}
impl From<DateTime<Utc>> for FieldValue {
    fn from(v: DateTime<Utc>) -> Self {
        FieldValue::DateTime(v)
    }
}
impl From<NaiveDate> for FieldValue {
    fn from(v: NaiveDate) -> Self {
        FieldValue::Date(v)
    }
}
impl From<Uuid> for FieldValue {
    fn from(v: Uuid) -> Self {
        FieldValue::Guid(v)
    }
}

/// A row's columns by logical name. Absent = null.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record(pub BTreeMap<String, FieldValue>);

impl Record {
    /// An empty row.
    pub fn new() -> Self {
        Record::default()
    }

    /// Sets `name` (builder style).
    pub fn with(mut self, name: &str, value: impl Into<FieldValue>) -> Self {
        self.0.insert(name.to_owned(), value.into());
        self
    }

    /// Sets `name` to a lookup to a row of `entity`.
    pub fn with_lookup(mut self, name: &str, entity: &str, id: Uuid) -> Self {
        self.0.insert(
            name.to_owned(),
            FieldValue::Lookup {
                entity: entity.to_owned(),
                id,
            },
        );
        self
    }

    /// The value of `name`, if not null.
    pub fn get(&self, name: &str) -> Option<&FieldValue> {
        self.0.get(name)
    }
}

/// Checks that `value` fits a column of `attr`'s type, converting where Dataverse would
/// (an integer given for a money column, a GUID given for a lookup with one target).
pub fn coerce(attr: &AttrDef, value: FieldValue) -> Result<FieldValue, String> {
    use AttrKind as K;
    use FieldValue as V;
    let ok = match (attr.kind, value) {
        (K::String | K::Memo, v @ V::Text(_)) => v,
        (K::Integer | K::Picklist | K::State | K::Status, v @ V::Int(_)) => v,
        (K::Decimal | K::Money, v @ V::Number(_)) => v,
        (K::Decimal | K::Money, V::Int(i)) => V::Number(i as f64),
        (K::Boolean, v @ V::Bool(_)) => v,
        (K::Boolean, V::Int(i)) => V::Bool(i != 0),
        (K::MultiSelectPicklist, v @ V::Choices(_)) => v,
        (K::MultiSelectPicklist, V::Int(i)) => V::Choices(vec![i]),
        (K::DateTime, v @ V::DateTime(_)) => v,
        (K::DateOnly, v @ V::Date(_)) => v,
        (K::DateOnly, V::DateTime(d)) => V::Date(d.date_naive()),
        (K::Uniqueidentifier, v @ V::Guid(_)) => v,
        (K::Lookup | K::Customer, v @ V::Lookup { .. }) => v,
        (K::Lookup | K::Customer, V::Guid(id)) => match attr.targets {
            [only] => V::Lookup {
                entity: (*only).to_owned(),
                id,
            },
            _ => {
                return Err(format!(
                    "column '{}' needs a lookup naming its table",
                    attr.name
                ));
            }
        },
        (kind, v) => {
            return Err(format!(
                "column '{}' of type {kind:?} cannot hold {v:?}",
                attr.name
            ));
        }
    };
    Ok(ok)
}

/// Parses a query literal (FetchXML `value`, OData literal without quotes) for a column.
pub fn parse_literal(kind: AttrKind, raw: &str) -> Option<FieldValue> {
    use AttrKind as K;
    let raw = raw.trim();
    match kind {
        K::String | K::Memo => Some(FieldValue::Text(raw.to_owned())),
        K::Integer | K::Picklist | K::State | K::Status | K::MultiSelectPicklist => {
            raw.parse::<i64>().ok().map(FieldValue::Int)
        }
        K::Decimal | K::Money => raw.parse::<f64>().ok().map(FieldValue::Number),
        K::Boolean => match raw.to_ascii_lowercase().as_str() {
            "1" | "true" => Some(FieldValue::Bool(true)),
            "0" | "false" => Some(FieldValue::Bool(false)),
            _ => None,
        },
        K::DateTime | K::DateOnly => parse_datetime(raw).map(FieldValue::DateTime),
        K::Uniqueidentifier | K::Lookup | K::Customer => parse_guid(raw).map(FieldValue::Guid),
    }
}

/// Accepts `{GUID}`, `GUID`, any case.
pub fn parse_guid(raw: &str) -> Option<Uuid> {
    let t = raw.trim().trim_start_matches('{').trim_end_matches('}');
    Uuid::parse_str(t).ok()
}

/// Accepts RFC 3339, `YYYY-MM-DDTHH:MM:SS` (UTC assumed) and `YYYY-MM-DD` (midnight UTC).
pub fn parse_datetime(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(raw) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = chrono::NaiveDateTime::parse_from_str(raw, fmt) {
            return Some(n.and_utc());
        }
    }
    for fmt in ["%Y-%m-%d", "%m/%d/%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(raw, fmt) {
            return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
        }
    }
    None
}

/// A comparable projection of a value: strings compare case-insensitively (SQL Server's
/// default collation), GUIDs in SQL Server order, dates as instants.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub enum Key {
    Num(f64),
    Text(String),
    Time(i64),
    Guid(super::guid_order::SqlGuid),
    Bool(bool),
}

impl Key {
    /// The comparable form of a stored value.
    pub fn of(v: &FieldValue) -> Key {
        match v {
            FieldValue::Text(s) => Key::Text(s.to_lowercase()),
            FieldValue::Int(i) => Key::Num(*i as f64),
            FieldValue::Number(n) => Key::Num(*n),
            FieldValue::Bool(b) => Key::Bool(*b),
            FieldValue::DateTime(d) => Key::Time(d.timestamp_millis()),
            FieldValue::Date(d) => Key::Time(
                d.and_hms_opt(0, 0, 0)
                    .map(|n| n.and_utc().timestamp_millis())
                    .unwrap_or(0),
            ),
            FieldValue::Guid(id) | FieldValue::Lookup { id, .. } => Key::Guid((*id).into()),
            FieldValue::Choices(c) => {
                Key::Text(c.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
            }
        }
    }

    /// Total order for sorting (mismatched variants compare by variant).
    pub fn total_cmp(&self, other: &Key) -> Ordering {
        self.partial_cmp(other).unwrap_or(Ordering::Equal)
    }
}

/// Web API JSON for a value (the property name is decided by the caller).
pub fn to_json(kind: AttrKind, v: &FieldValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        FieldValue::Text(s) => J::String(s.clone()),
        FieldValue::Int(i) => J::from(*i),
        FieldValue::Number(n) => serde_json::Number::from_f64(*n)
            .map(J::Number)
            .unwrap_or(J::Null),
        FieldValue::Bool(b) => J::Bool(*b),
        FieldValue::DateTime(d) if kind == AttrKind::DateOnly => {
            J::String(d.format("%Y-%m-%d").to_string())
        }
        FieldValue::DateTime(d) => J::String(d.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        FieldValue::Date(d) => J::String(d.format("%Y-%m-%d").to_string()),
        FieldValue::Guid(id) | FieldValue::Lookup { id, .. } => J::String(id.to_string()),
        FieldValue::Choices(c) => {
            J::String(c.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
        }
    }
}

/// Dataverse's formatted value for choice, yes/no, state/status, money and date columns
/// (en-US, UTC). `None` where Dataverse gives none, e.g. a code without a label.
pub fn formatted(attr: &AttrDef, v: &FieldValue) -> Option<String> {
    use AttrKind as K;
    let label = |code: i64| {
        attr.options
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, l)| (*l).to_owned())
    };
    match (attr.kind, v) {
        (K::Picklist | K::State | K::Status, FieldValue::Int(code)) => label(*code),
        (K::Boolean, FieldValue::Bool(b)) => label(i64::from(*b)),
        (K::MultiSelectPicklist, FieldValue::Choices(codes)) => {
            let labels: Option<Vec<String>> = codes.iter().map(|c| label(*c)).collect();
            labels.map(|l| l.join("; "))
        }
        (K::Money, FieldValue::Number(n)) => Some(money(*n)),
        (K::Integer, FieldValue::Int(i)) => {
            Some(group_thousands(&i.unsigned_abs().to_string(), *i < 0))
        }
        (K::DateOnly, FieldValue::Date(d)) => Some(d.format("%-m/%-d/%Y").to_string()),
        (K::DateOnly, FieldValue::DateTime(d)) => Some(d.format("%-m/%-d/%Y").to_string()),
        (K::DateTime, FieldValue::DateTime(d)) => {
            Some(d.format("%-m/%-d/%Y %-I:%M %p").to_string())
        }
        _ => None,
    }
}

fn group_thousands(digits: &str, negative: bool) -> String {
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if negative { format!("-{out}") } else { out }
}

/// `$1,234.50` (US dollars, the org's base currency).
fn money(n: f64) -> String {
    let cents = (n.abs() * 100.0).round() as u64;
    let whole = group_thousands(&(cents / 100).to_string(), false);
    let sign = if n < 0.0 { "-" } else { "" };
    format!("{sign}${whole}.{:02}", cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_formatted_with_symbol_and_grouping() {
        assert_eq!(money(1234.5), "$1,234.50");
        assert_eq!(money(-0.5), "-$0.50");
        assert_eq!(money(1_000_000.0), "$1,000,000.00");
    }

    #[test]
    fn dates_parse_in_the_shapes_queries_use() {
        assert!(parse_datetime("2026-01-05T10:00:00Z").is_some());
        assert!(parse_datetime("2026-01-05").is_some());
        assert!(parse_datetime("2026-01-05T10:00:00").is_some());
        assert!(parse_datetime("yesterday").is_none());
    }

    #[test]
    fn guids_parse_with_or_without_braces() {
        assert!(parse_guid("{00000000-0000-0000-0000-000000000001}").is_some());
        assert!(parse_guid("00000000-0000-0000-0000-000000000001").is_some());
        assert!(parse_guid("nope").is_none());
    }
}

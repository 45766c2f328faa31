//! Value coercion: turns a Dataverse JSON value into what Insider expects for a given key
//! (API-FACTS.md 1.2: booleans for the opt-ins, a number for age, RFC 3339 UTC datetimes
//! ending in `Z`, strings for names, number arrays for `static_segment_id`). Custom keys
//! pass through with dates normalised to `Z`. A value that cannot be coerced is an error
//! the caller turns into an omitted attribute and a note; nothing here panics.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Number, Value};

/// What a key's value must become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coercion {
    Text,
    Number,
    Boolean,
    DateTime,
    NumberArray,
    TextArray,
    /// Custom and unknown keys: sent as they are, dates normalised to `Z`.
    PassThrough,
}

impl Coercion {
    /// The coercion of a standard user attribute key (anything else passes through).
    pub(crate) fn for_attribute(key: &str) -> Self {
        match key {
            "email" | "phone_number" | "uuid" | "name" | "surname" | "gender" | "language"
            | "country" | "city" | "lo" => Coercion::Text,
            "age" => Coercion::Number,
            "birthday" => Coercion::DateTime,
            "email_optin" | "sms_optin" | "whatsapp_optin" | "gdpr_optin" => Coercion::Boolean,
            "static_segment_id" | "list_id" => Coercion::NumberArray,
            _ => Coercion::PassThrough,
        }
    }

    /// The coercion of a standard event parameter key (anything else passes through).
    pub(crate) fn for_event_param(key: &str) -> Self {
        match key {
            "product_id" | "name" | "url" | "currency" | "event_group_id" | "product_image_url"
            | "color" | "size" | "brand" => Coercion::Text,
            "quantity" | "unit_price" | "unit_sale_price" | "shipping_cost" | "discount" => {
                Coercion::Number
            }
            "taxonomy" => Coercion::TextArray,
            _ => Coercion::PassThrough,
        }
    }

    /// A short description for notes ("a number").
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Coercion::Text => "a string",
            Coercion::Number => "a number",
            Coercion::Boolean => "a boolean",
            Coercion::DateTime => "a date or date-time",
            Coercion::NumberArray => "a list of numbers",
            Coercion::TextArray => "a list of strings",
            Coercion::PassThrough => "a string, number, boolean or list",
        }
    }

    /// Like [`Coercion::apply`] on a borrowed value: the same result, without first cloning
    /// a string the coercion replaces anyway (dates, numbers read from text).
    pub(crate) fn apply_ref(self, value: &Value) -> Option<Value> {
        match self {
            Coercion::Text => match value {
                Value::String(s) => Some(Value::String(s.clone())),
                Value::Number(_) | Value::Bool(_) => to_text(value.clone()).map(Value::String),
                _ => None,
            },
            Coercion::Number => to_number(value).map(Value::Number),
            Coercion::Boolean => parse_bool(value).map(Value::Bool),
            Coercion::DateTime => match value {
                Value::String(s) => normalise_datetime(s).map(Value::String),
                _ => None,
            },
            Coercion::NumberArray => to_number_array(value),
            Coercion::PassThrough => match value {
                Value::String(s) => Some(Value::String(
                    normalise_datetime_if_date(s).unwrap_or_else(|| s.clone()),
                )),
                Value::Number(_) | Value::Bool(_) => Some(value.clone()),
                Value::Object(_) | Value::Null => None,
                Value::Array(_) => pass_through(value.clone()),
            },
            Coercion::TextArray => self.apply(value.clone()),
        }
    }

    /// Coerces `value`; `None` when it cannot be (the caller notes it and omits the key).
    pub(crate) fn apply(self, value: Value) -> Option<Value> {
        match self {
            Coercion::Text => to_text(value).map(Value::String),
            Coercion::Number => to_number(&value).map(Value::Number),
            Coercion::Boolean => parse_bool(&value).map(Value::Bool),
            Coercion::DateTime => match value {
                Value::String(s) => normalise_datetime(&s).map(Value::String),
                _ => None,
            },
            Coercion::NumberArray => to_number_array(&value),
            Coercion::TextArray => to_text_array(value),
            Coercion::PassThrough => pass_through(value),
        }
    }
}

/// Reads a boolean the ways Dataverse and people write one: `true`/`false`, `1`/`0`,
/// `"true"`/`"false"`, `"yes"`/`"no"` (any case, surrounding spaces ignored).
pub(crate) fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => {
            let s = s.trim();
            if ["true", "yes", "1"]
                .iter()
                .any(|t| s.eq_ignore_ascii_case(t))
            {
                Some(true)
            } else if ["false", "no", "0"]
                .iter()
                .any(|f| s.eq_ignore_ascii_case(f))
            {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn to_text(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn to_number(value: &Value) -> Option<Number> {
    match value {
        Value::Number(n) => Some(n.clone()),
        Value::String(s) => parse_number(s.trim()),
        _ => None,
    }
}

/// Parses a decimal string into a JSON number: integers stay integers.
fn parse_number(s: &str) -> Option<Number> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(Number::from(i));
    }
    s.parse::<f64>().ok().and_then(Number::from_f64)
}

fn to_number_array(value: &Value) -> Option<Value> {
    let numbers: Option<Vec<Value>> = match value {
        Value::Number(n) => Some(vec![Value::Number(n.clone())]),
        Value::String(s) => s
            .split(',')
            .map(|part| parse_number(part.trim()).map(Value::Number))
            .collect(),
        Value::Array(items) => items
            .iter()
            .map(|item| to_number(item).map(Value::Number))
            .collect(),
        _ => None,
    };
    numbers.map(Value::Array)
}

fn to_text_array(value: Value) -> Option<Value> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|item| to_text(item).map(Value::String))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        other => to_text(other).map(|s| Value::Array(vec![Value::String(s)])),
    }
}

fn pass_through(value: Value) -> Option<Value> {
    match value {
        Value::String(s) => Some(Value::String(normalise_datetime_if_date(&s).unwrap_or(s))),
        Value::Number(_) | Value::Bool(_) => Some(value),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Array(_) | Value::Object(_) | Value::Null => None,
                scalar => pass_through(scalar),
            })
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        Value::Object(_) | Value::Null => None,
    }
}

/// Formats an instant the way Insider wants it: RFC 3339, UTC, ending in `Z`.
pub(crate) fn format_utc(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Normalises a date or date-time string to RFC 3339 UTC ending in `Z`: offsets are
/// converted, a date-only `1990-05-17` becomes `1990-05-17T00:00:00Z`, a date-time without
/// an offset is taken as UTC (Dataverse's convention).
pub(crate) fn normalise_datetime(s: &str) -> Option<String> {
    let s = s.trim();
    if s.len() > 64 {
        return None;
    }
    if let Some(fast) = plain_utc_datetime(s) {
        return fast;
    }
    parse_and_format(s)
}

/// The general path of [`normalise_datetime`]: chrono parses, [`format_utc`] writes.
fn parse_and_format(s: &str) -> Option<String> {
    // Date-only first: Dataverse's DateOnly fields (birthdays) are the common case.
    if s.len() == 10 {
        return s
            .parse::<NaiveDate>()
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
            .map(|naive| format_utc(naive.and_utc()));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(format_utc(dt.with_timezone(&Utc)));
    }
    // No offset: `2024-01-02T10:00:00` (or with a space) is taken as UTC.
    s.parse::<NaiveDateTime>()
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
        .map(|naive| format_utc(naive.and_utc()))
}

/// The two shapes Dataverse sends almost always, `YYYY-MM-DD` and `YYYY-MM-DDTHH:MM:SSZ`,
/// checked by hand: `Some(result)` when `s` has exactly one of these shapes (the result is
/// what chrono's parse and [`format_utc`] give: the date at midnight with `T00:00:00Z`
/// appended, or the date-time unchanged; `None` inside for an impossible date or time),
/// `None` for any other shape, which the general parser handles. Leap seconds (`:60`) and
/// hour 24 take the general path.
fn plain_utc_datetime(s: &str) -> Option<Option<String>> {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if (b.len() != 10 && b.len() != 20) || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if b.len() == 20 {
        let shape = [(10, b'T'), (13, b':'), (16, b':'), (19, b'Z')];
        if shape.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
            return None;
        }
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
    }
    let year = i32::try_from(year).ok()?;
    let valid = NaiveDate::from_ymd_opt(year, month, day).is_some();
    Some(valid.then(|| {
        let mut out = String::with_capacity(20);
        out.push_str(s);
        if b.len() == 10 {
            out.push_str("T00:00:00Z");
        }
        out
    }))
}

/// Like [`normalise_datetime`] but only for strings shaped like a date
/// (`YYYY-MM-DD...`), so free text in custom attributes is never reinterpreted.
fn normalise_datetime_if_date(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let looks_like_date = bytes.len() >= 10
        && bytes.len() <= 40
        && bytes.get(4) == Some(&b'-')
        && bytes.get(7) == Some(&b'-')
        && bytes
            .iter()
            .take(4)
            .chain(bytes.iter().skip(5).take(2))
            .chain(bytes.iter().skip(8).take(2))
            .all(u8::is_ascii_digit);
    if looks_like_date {
        normalise_datetime(s)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;

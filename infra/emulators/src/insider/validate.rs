//! The upsert API's per-user validation rules (API-FACTS.md 1.2 and 1.5), reported the way
//! Insider does: error keys `users.<i>.<path>.<rule>` mapping to lists of messages. Keys
//! and messages quoted in API-FACTS are used verbatim; the rest (attribute types, "at least
//! one of attributes or events", custom identifier types) follow the same pattern.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::DateTime;
use serde_json::{Map, Value};

pub(crate) const EMAIL_RULE: &str = r"^.+@.+\..+$";
pub(crate) const PHONE_RULE: &str = r"^\+[1-9]\d{6,14}$";
pub(crate) const EVENT_NAME_RULE: &str = r"^[a-z0-9][a-zA-Z0-9._-]*$";

struct Rules {
    email: regex::Regex,
    phone: regex::Regex,
    event_name: regex::Regex,
}

static RULES: LazyLock<Option<Rules>> = LazyLock::new(|| {
    Some(Rules {
        email: regex::Regex::new(EMAIL_RULE).ok()?,
        phone: regex::Regex::new(PHONE_RULE).ok()?,
        event_name: regex::Regex::new(EVENT_NAME_RULE).ok()?,
    })
});

fn matches(pick: impl Fn(&Rules) -> &regex::Regex, s: &str) -> bool {
    RULES.as_ref().is_some_and(|rules| pick(rules).is_match(s))
}

/// Error key -> messages, as in `fail.errors`.
pub(crate) type Errors = BTreeMap<String, Vec<String>>;

fn push(errors: &mut Errors, key: String, message: String) {
    errors.entry(key).or_default().push(message);
}

/// Checks user `i`; returns true when it is valid (errors are added otherwise).
pub(crate) fn validate_user(i: usize, user: &Value, errors: &mut Errors) -> bool {
    let before = errors.len();
    let Some(user) = user.as_object() else {
        push(
            errors,
            format!("users.{i}.type(object)"),
            "user must be an object".into(),
        );
        return false;
    };
    match (user.get("identifiers"), user.get("insider_id")) {
        (Some(Value::Object(ids)), _) if !ids.is_empty() => validate_identifiers(i, ids, errors),
        (_, Some(Value::String(id))) if !id.is_empty() => {}
        _ => {
            push(
                errors,
                format!("users.{i}.identifiers.required"),
                "either insider_id or idenifiers must be specified".into(),
            );
            push(
                errors,
                format!("users.{i}.insider_id.required"),
                "either insider_id or idenifiers must be specified".into(),
            );
        }
    }
    let attributes = user.get("attributes");
    let events = user.get("events");
    if attributes.is_none() && events.is_none() {
        push(
            errors,
            format!("users.{i}.required(attributes|events)"),
            "at least one of attributes or events must be specified".into(),
        );
    }
    if let Some(attributes) = attributes {
        match attributes.as_object() {
            Some(map) if !map.is_empty() => validate_attributes(i, map, errors),
            _ => push(
                errors,
                format!("users.{i}.attributes.min(1)"),
                "attributes must contain at least one attribute".into(),
            ),
        }
    }
    if let Some(events) = events {
        match events.as_array() {
            Some(list) => {
                for (j, event) in list.iter().enumerate() {
                    validate_event(i, j, event, errors);
                }
            }
            None => push(
                errors,
                format!("users.{i}.events.type(array)"),
                "events must be an array".into(),
            ),
        }
    }
    errors.len() == before
}

fn validate_identifiers(i: usize, ids: &Map<String, Value>, errors: &mut Errors) {
    for (key, value) in ids {
        match key.as_str() {
            "email" => match value.as_str() {
                Some(s) if matches(|r| &r.email, s) => {}
                _ => push(
                    errors,
                    format!("users.{i}.identifiers.*.regexp({EMAIL_RULE})"),
                    format!("not a valid email address: {}", plain(value)),
                ),
            },
            "phone_number" => match value.as_str() {
                Some(s) if matches(|r| &r.phone, s) => {}
                _ => push(
                    errors,
                    format!("users.{i}.identifiers.*.regexp({PHONE_RULE})"),
                    format!("user has an invalid phone number: {}", plain(value)),
                ),
            },
            "uuid" => {
                if !value.is_string() {
                    push(
                        errors,
                        format!("users.{i}.identifiers.*.type(string)"),
                        format!("uuid must be string: {}", plain(value)),
                    );
                }
            }
            "custom" => match value.as_object() {
                Some(custom) => {
                    for (name, v) in custom {
                        if !v.is_string() {
                            push(
                                errors,
                                format!("users.{i}.identifiers.custom.{name}.type(string)"),
                                format!("{name} must be string: {}", plain(v)),
                            );
                        }
                    }
                }
                None => push(
                    errors,
                    format!("users.{i}.identifiers.custom.type(object)"),
                    "custom identifiers must be an object".into(),
                ),
            },
            _ => push(
                errors,
                format!("users.{i}.identifiers.*.in(defaults_column)"),
                "key must be one of phone_number(pn), email(em) or uuid".into(),
            ),
        }
    }
}

fn validate_attributes(i: usize, attributes: &Map<String, Value>, errors: &mut Errors) {
    for (key, value) in attributes {
        let ok = match key.as_str() {
            "email_optin" | "sms_optin" | "whatsapp_optin" | "gdpr_optin" => {
                Some(value.is_boolean())
            }
            "age" => Some(value.is_number()),
            "birthday" => Some(value.as_str().is_some_and(is_utc_datetime)),
            "phone_number" => Some(value.as_str().is_some_and(|s| matches(|r| &r.phone, s))),
            "email" | "uuid" | "name" | "surname" | "gender" | "language" | "country" | "city"
            | "lo" => Some(value.is_string()),
            "static_segment_id" | "list_id" => Some(
                value
                    .as_array()
                    .is_some_and(|items| items.iter().all(Value::is_number)),
            ),
            "custom" => Some(value.is_object()),
            _ => None,
        };
        if ok == Some(false) {
            push(
                errors,
                format!("users.{i}.attributes.{key}.type"),
                format!("{key} has an invalid type or format"),
            );
        }
    }
}

fn validate_event(i: usize, j: usize, event: &Value, errors: &mut Errors) {
    let Some(event) = event.as_object() else {
        push(
            errors,
            format!("users.{i}.events.{j}.type(object)"),
            "event must be an object".into(),
        );
        return;
    };
    match event.get("event_name").and_then(Value::as_str) {
        Some(name) if matches(|r| &r.event_name, name) => {}
        Some(_) => push(
            errors,
            format!("users.{i}.events.{j}.event_name.regexp({EVENT_NAME_RULE})"),
            "invalid event name".into(),
        ),
        None => push(
            errors,
            format!("users.{i}.events.{j}.event_name.required"),
            "event_name is required".into(),
        ),
    }
    match event.get("timestamp").and_then(Value::as_str) {
        Some(ts) if DateTime::parse_from_rfc3339(ts).is_ok() => {}
        _ => push(
            errors,
            format!("users.{i}.events.{j}.timestamp.datetime"),
            "timestamp must be an RFC 3339 date-time".into(),
        ),
    }
    let name = event
        .get("event_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name == "purchase" || name == "cart_page_view" {
        let params = event.get("event_params").and_then(Value::as_object);
        let mut required = vec!["event_group_id", "currency", "unit_sale_price"];
        if name == "purchase" {
            required.push("quantity");
        }
        for param in required {
            if params.and_then(|p| p.get(param)).is_none() {
                push(
                    errors,
                    format!("users.{i}.events.{j}.event_params.*.required"),
                    format!("{param} is required for {name} events"),
                );
            }
        }
    }
}

/// RFC 3339 and ending in `Z` (Insider's birthday rule).
fn is_utc_datetime(s: &str) -> bool {
    s.ends_with('Z') && DateTime::parse_from_rfc3339(s).is_ok()
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

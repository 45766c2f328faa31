//! From YAML text to a [`Definition`], reporting syntax errors with line and column, and
//! type errors and unknown keys with their paths, one top-level section at a time so
//! that one mistake does not hide the others. Secret fields holding a value instead of a
//! reference are reported without ever echoing the value.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::checks::Rules;
use super::{Problem, did_you_mean, rules};
use crate::definition::{
    Definition, DynamicsSettings, EventMapping, FieldMapping, FixedValue, IdentifierMapping,
    InsiderSettings, InvalidIdentifierStrategy, Method, PhoneSettings, Removals, Source,
};

const REQUIRED: &[&str] = &["id", "method", "dynamics", "source", "insider"];
const KNOWN: &[&str] = &[
    "id",
    "name",
    "enabled",
    "method",
    "schedule",
    "dynamics",
    "source",
    "identifiers",
    "invalid_identifier",
    "phone",
    "attributes",
    "fixed_attributes",
    "events",
    "removals",
    "insider",
];
/// Where secret references live: (parent object path, key).
const SECRET_FIELDS: &[(&[&str], &str)] = &[
    (&["dynamics", "auth"], "client_secret"),
    (&["dynamics", "auth"], "refresh_token"),
    (&["insider"], "token"),
];

/// Parses YAML text into a definition, or every problem found on the way.
pub(super) fn parse(text: &str) -> Result<Definition, Vec<Problem>> {
    let mut value: Value = serde_norway::from_str(text).map_err(|e| {
        let message = match e.location() {
            Some(at) => format!(
                "YAML syntax error at line {}, column {}: {e}",
                at.line(),
                at.column()
            ),
            None => format!("YAML syntax error: {e}"),
        };
        vec![problem("", message)]
    })?;
    let mut problems = Vec::new();
    let Some(root) = value.as_object_mut() else {
        let message = if value.is_null() {
            "the definition is empty; start from one of the files in examples/"
        } else {
            "the definition must be a mapping of keys (id, method, dynamics, source, ...)"
        };
        return Err(vec![problem("", message.to_owned())]);
    };
    redact_inline_secrets(root, &mut problems);
    for key in root.keys() {
        if !KNOWN.contains(&key.as_str()) {
            let hint = did_you_mean(key, KNOWN.iter().copied())
                .map(|s| format!("did you mean '{s}'?"))
                .unwrap_or_else(|| format!("known keys: {}", KNOWN.join(", ")));
            problems.push(problem(key, format!("unknown key; {hint}")));
        }
    }
    for key in REQUIRED {
        if !root.contains_key(*key) {
            problems.push(problem(key, "required key is missing".to_owned()));
        }
    }
    for (key, section) in root.iter() {
        let found = match key.as_str() {
            "id" | "name" | "schedule" => section_problem::<String>(key, section),
            "enabled" => section_problem::<bool>(key, section),
            "method" => section_problem::<Method>(key, section),
            "dynamics" => section_problem::<DynamicsSettings>(key, section),
            "source" => section_problem::<Source>(key, section),
            "identifiers" => section_problem::<Vec<IdentifierMapping>>(key, section),
            "invalid_identifier" => section_problem::<InvalidIdentifierStrategy>(key, section),
            "phone" => section_problem::<PhoneSettings>(key, section),
            "attributes" => section_problem::<Vec<FieldMapping>>(key, section),
            "fixed_attributes" => section_problem::<Vec<FixedValue>>(key, section),
            "events" => section_problem::<Option<EventMapping>>(key, section),
            "removals" => section_problem::<Removals>(key, section),
            "insider" => section_problem::<InsiderSettings>(key, section),
            _ => None,
        };
        problems.extend(found);
    }
    if !problems.is_empty() {
        source_keys_of_raw(root, &mut problems);
        return Err(problems);
    }
    serde_json::from_value(value).map_err(|e| vec![problem("", e.to_string())])
}

/// The semantic rules need a typed definition, so a type error anywhere stops them; the
/// key the method needs in `source` is still named, from the raw document, unless that
/// path already has a problem.
fn source_keys_of_raw(root: &Map<String, Value>, problems: &mut Vec<Problem>) {
    let Some(method) = root
        .get("method")
        .and_then(|m| serde_json::from_value::<Method>(m.clone()).ok())
    else {
        return;
    };
    let Some(source) = root.get("source").and_then(Value::as_object) else {
        return;
    };
    let given = |key: &str| source.get(key).is_some_and(|v| !v.is_null());
    let mut rules = Rules::default();
    rules::source_keys(&mut rules, method, given("entity"), given("list"));
    for found in rules.problems {
        if !problems.iter().any(|p| p.path == found.path) {
            problems.push(found);
        }
    }
}

/// Deserialises one top-level section; a problem carries the full path.
fn section_problem<T: DeserializeOwned>(key: &str, section: &Value) -> Option<Problem> {
    let error = serde_path_to_error::deserialize::<_, T>(section).err()?;
    let inner = error.path().to_string();
    let mut path = match inner.as_str() {
        "." => key.to_owned(),
        p if p.starts_with('[') => format!("{key}{p}"),
        p => format!("{key}.{p}"),
    };
    let raw = error.into_inner().to_string();
    let message = if let Some(field) = raw
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        path = format!("{path}.{field}");
        "required key is missing".to_owned()
    } else if raw.contains("untagged enum EventName") {
        "write { fixed: NAME } or { field: FIELD, mappings: { CODE: NAME } }".to_owned()
    } else if raw.contains("untagged enum TimestampRepr") {
        "write processing_time or { field: FIELD }".to_owned()
    } else if raw.contains("untagged enum RemovalsRepr") {
        "write ignore, delete_profile or { attribute: KEY, value: VALUE }".to_owned()
    } else if let Some(rest) = raw.strip_prefix("unknown field `") {
        let unknown = rest.split('`').next().unwrap_or_default();
        let expected: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
        match did_you_mean(unknown, expected.iter().copied()) {
            Some(s) => format!("unknown key; did you mean '{s}'?"),
            None => format!("unknown key; known keys: {}", expected.join(", ")),
        }
    } else {
        raw.replace("expected u32", "expected a whole number (0 or more)")
            .replace("expected u64", "expected a whole number (0 or more)")
    };
    Some(problem(&path, message))
}

/// Replaces any secret field that is not `{ secret: NAME }` by a placeholder and reports
/// it, so no later message can echo a pasted secret value.
fn redact_inline_secrets(root: &mut Map<String, Value>, problems: &mut Vec<Problem>) {
    for (parents, key) in SECRET_FIELDS {
        let mut node = Some(&mut *root);
        for parent in *parents {
            node = node
                .and_then(|n| n.get_mut(*parent))
                .and_then(Value::as_object_mut);
        }
        let Some(slot) = node.and_then(|n| n.get_mut(*key)) else {
            continue;
        };
        if slot.is_object() || slot.is_null() {
            continue;
        }
        let path = format!("{}.{key}", parents.join("."));
        problems.push(problem(
            &path,
            format!(
                "must be a secret reference, not the value itself: write {key}: {{ secret: NAME }} and store the value in the secret store under NAME"
            ),
        ));
        *slot = serde_json::json!({ "secret": "redacted" });
    }
}

fn problem(path: &str, message: String) -> Problem {
    Problem {
        path: path.to_owned(),
        message,
    }
}

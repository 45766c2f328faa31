//! The small checks the definition rules are made of (ranges, URLs, secret names, fields
//! that must be selected, Insider keys and event names), each adding a problem with its
//! path and a hint. `rules` applies them section by section.

use super::{Problem, did_you_mean};
use crate::definition::{FieldMapping, FixedValue, SecretRef};

/// Insider's standard attribute keys (API-FACTS 1.2). `uuid` is left out on purpose: it is
/// an identifier and belongs under `identifiers`.
pub const STANDARD_ATTRIBUTE_KEYS: &[&str] = &[
    "email",
    "phone_number",
    "name",
    "surname",
    "gender",
    "age",
    "birthday",
    "email_optin",
    "sms_optin",
    "whatsapp_optin",
    "gdpr_optin",
    "language",
    "country",
    "city",
    "static_segment_id",
    "list_id",
    "lo",
];

#[derive(Default)]
pub(super) struct Rules {
    /// Every problem found so far, in document order.
    pub problems: Vec<Problem>,
}

impl Rules {
    pub(super) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(super) fn range(&mut self, path: &str, value: u64, min: u64, max: u64) {
        if value < min || value > max {
            self.add(path, format!("{value} is out of range; use {min}..{max}"));
        }
    }

    /// An `https://` URL, or `http://` to a loopback host: every URL a definition names
    /// receives a secret or a token (ARCHITECTURE.md section 9).
    pub(super) fn url(&mut self, path: &str, text: &str) {
        match url::Url::parse(text) {
            Ok(u) if u.scheme() == "https" && u.host().is_some() => {}
            Ok(u) if u.scheme() == "http" && u.host().is_some_and(is_loopback) => {}
            Ok(u) if u.scheme() == "http" && u.host().is_some() => self.add(
                path,
                format!(
                    "'{text}' sends secrets in cleartext; use https://; plain http is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost)"
                ),
            ),
            Ok(u) => self.add(
                path,
                format!("'{text}' uses scheme '{}'; use an http(s) URL", u.scheme()),
            ),
            Err(e) => self.add(
                path,
                format!("'{text}' is not a URL ({e}); write a full https://... URL"),
            ),
        }
    }

    pub(super) fn secret(&mut self, path: &str, reference: &SecretRef) {
        let name = &reference.secret;
        let ok = !name.is_empty()
            && name.len() <= 512
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c));
        if !ok {
            self.add(
                format!("{path}.secret"),
                "a secret name uses 1..512 of A-Z a-z 0-9 / _ + = . @ -, e.g. dynsync/insider",
            );
        }
    }

    pub(super) fn in_fields(&mut self, path: &str, field: &str, fields: &[String]) {
        if fields.iter().any(|f| f == field) {
            return;
        }
        let hint = match did_you_mean(field, fields.iter().map(String::as_str)) {
            Some(s) => format!("did you mean '{s}'?"),
            None => "add it to source.fields (only selected fields can be mapped)".to_owned(),
        };
        self.add(path, format!("'{field}' is not in source.fields; {hint}"));
    }

    pub(super) fn key(&mut self, path: &str, key: &str, standard: Option<&[&str]>) {
        if let Some(custom) = key.strip_prefix("custom.") {
            if custom.is_empty()
                || !custom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                self.add(
                    path,
                    format!(
                        "'{key}': a custom key is custom.<name> with letters, digits, '_' or '-'"
                    ),
                );
            }
            return;
        }
        match standard {
            Some(keys) if !keys.contains(&key) => {
                let hint = match did_you_mean(key, keys.iter().copied()) {
                    Some(s) if key != "uuid" => {
                        format!("did you mean '{s}'? Custom attributes go under custom.<key>")
                    }
                    _ if key == "uuid" => {
                        "uuid is an identifier: map it under identifiers".to_owned()
                    }
                    _ => format!("write custom.{key} for a custom attribute"),
                };
                self.add(
                    path,
                    format!("'{key}' is not an Insider standard attribute; {hint}"),
                );
            }
            None if key.is_empty()
                || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                self.add(path, format!("'{key}' is not a valid parameter key; use letters, digits and '_', or custom.<key>"));
            }
            _ => {}
        }
    }

    pub(super) fn event_name(&mut self, path: &str, name: &str) {
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            self.add(path, format!("'{name}' is not a name Insider accepts (^[a-z0-9][a-zA-Z0-9._-]*$); e.g. purchase, form_submit"));
        }
    }

    pub(super) fn mappings(
        &mut self,
        base: &str,
        list: &[FieldMapping],
        fields: &[String],
        standard: Option<&[&str]>,
        seen: &mut Vec<String>,
    ) {
        for (i, mapping) in list.iter().enumerate() {
            let path = format!("{base}[{i}]");
            self.key(&format!("{path}.key"), &mapping.key, standard);
            self.duplicate(&format!("{path}.key"), &mapping.key, seen);
            self.in_fields(&format!("{path}.field"), &mapping.field, fields);
            if !mapping.labels.is_empty() && !mapping.code_to_label {
                self.add(
                    format!("{path}.labels"),
                    "labels apply only with code_to_label: true; add it or remove labels",
                );
            }
        }
    }

    pub(super) fn fixed(
        &mut self,
        base: &str,
        list: &[FixedValue],
        standard: Option<&[&str]>,
        seen: &mut Vec<String>,
    ) {
        for (i, fixed) in list.iter().enumerate() {
            let path = format!("{base}[{i}]");
            self.key(&format!("{path}.key"), &fixed.key, standard);
            self.duplicate(&format!("{path}.key"), &fixed.key, seen);
            let scalar = |v: &serde_json::Value| v.is_string() || v.is_number() || v.is_boolean();
            let ok = match &fixed.value {
                serde_json::Value::Array(items) => items.iter().all(scalar),
                other => scalar(other),
            };
            if !ok {
                self.add(
                    format!("{path}.value"),
                    "a fixed value is a string, number or boolean (or a list of them)",
                );
            }
        }
    }

    pub(super) fn duplicate(&mut self, path: &str, key: &str, seen: &mut Vec<String>) {
        if seen.iter().any(|k| k == key) {
            self.add(
                path,
                format!("'{key}' is set twice; keep one mapping per key"),
            );
        } else {
            seen.push(key.to_owned());
        }
    }
}

/// 127.0.0.0/8, ::1 and `localhost`: where plain http never leaves the machine.
fn is_loopback(host: url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
    }
}

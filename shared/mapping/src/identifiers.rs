//! Identifier mapping (the guide's Step 6 and the invalid-identifier strategy of Step 9):
//! reads each identifier field, checks it the way Insider does, and reports invalid ones by
//! type and field name only, never by value (identifiers are PII).

use std::sync::LazyLock;

use dynsync_domain::Identifiers;
use dynsync_domain::definition::{IdentifierMapping, IdentifierType};
use regex::Regex;
use serde_json::Value;

use crate::phone::PhoneNormaliser;

/// Insider's email rule (API-FACTS.md 1.5), plus no whitespace inside.
static EMAIL: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^.+@.+\..+$").ok());

/// Identifier values longer than this are refused rather than sent (Insider keys are short).
const MAX_IDENTIFIER_LEN: usize = 1024;

/// One identifier mapping, compiled.
#[derive(Debug, Clone)]
pub(crate) struct IdentifierRule {
    kind: IdentifierType,
    /// `custom` only.
    name: String,
    field: String,
}

/// An identifier that could not be used, described without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidIdentifier {
    pub(crate) label: String,
    pub(crate) why: &'static str,
}

impl std::fmt::Display for InvalidIdentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.label, self.why)
    }
}

impl IdentifierRule {
    pub(crate) fn new(mapping: &IdentifierMapping) -> Self {
        Self {
            kind: mapping.kind,
            name: mapping.name.clone().unwrap_or_default(),
            field: mapping.field.clone(),
        }
    }

    /// `email (emailaddress1)`, `custom crm_id (contactid)`.
    fn label(&self) -> String {
        match self.kind {
            IdentifierType::Email => format!("email ({})", self.field),
            IdentifierType::PhoneNumber => format!("phone_number ({})", self.field),
            IdentifierType::Uuid => format!("uuid ({})", self.field),
            IdentifierType::Custom => format!("custom {} ({})", self.name, self.field),
        }
    }

    /// Reads and checks this identifier; a valid value is written into `out` (a second
    /// mapping of the same identifier does not overwrite the first valid one).
    pub(crate) fn apply(
        &self,
        record: &serde_json::Map<String, Value>,
        phone: &PhoneNormaliser,
        out: &mut Identifiers,
    ) -> Result<(), InvalidIdentifier> {
        let invalid = |why| InvalidIdentifier {
            label: self.label(),
            why,
        };
        let raw = match record.get(&self.field) {
            None | Some(Value::Null) => return Err(invalid("missing")),
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(invalid("not a string or number")),
        };
        if raw.is_empty() {
            return Err(invalid("empty"));
        }
        if raw.len() > MAX_IDENTIFIER_LEN {
            return Err(invalid("longer than 1024 characters"));
        }
        match self.kind {
            IdentifierType::Email => {
                if !is_valid_email(&raw) {
                    return Err(invalid("not a valid email address"));
                }
                out.email.get_or_insert(raw);
            }
            IdentifierType::PhoneNumber => {
                let e164 = phone.normalise(&raw).map_err(invalid)?;
                out.phone_number.get_or_insert(e164);
            }
            IdentifierType::Uuid => {
                out.uuid.get_or_insert(raw);
            }
            IdentifierType::Custom => {
                if self.name.is_empty() {
                    return Err(invalid("custom identifier has no name"));
                }
                out.custom.entry(self.name.clone()).or_insert(raw);
            }
        }
        Ok(())
    }
}

/// Insider's email check: `^.+@.+\..+$` and no whitespace anywhere.
pub(crate) fn is_valid_email(s: &str) -> bool {
    !s.chars().any(char::is_whitespace) && EMAIL.as_ref().is_some_and(|re| re.is_match(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_like_insider_does() {
        for (input, valid) in [
            ("ada@example.com", true),
            ("a@b.co", true),
            ("ada@example", false),
            ("@example.com", false),
            ("ada example@x.com", false),
            ("ada@exa mple.com", false),
            ("plain", false),
        ] {
            assert_eq!(is_valid_email(input), valid, "{input}");
        }
    }
}

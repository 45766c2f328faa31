//! Identifier mapping (the guide's Step 6 and the invalid-identifier strategy of Step 9):
//! reads each identifier field, checks it the way Insider does, and reports invalid ones by
//! type and field name only, never by value (identifiers are PII).

use std::borrow::Cow;

use dynsync_domain::Identifiers;
use dynsync_domain::definition::{IdentifierMapping, IdentifierType};
use serde_json::Value;

use crate::lookup::{Fields, Lookup};
use crate::phone::PhoneNormaliser;

/// Identifier values longer than this are refused rather than sent (Insider keys are short).
const MAX_IDENTIFIER_LEN: usize = 1024;

/// One identifier mapping, compiled.
#[derive(Debug, Clone)]
pub(crate) struct IdentifierRule {
    kind: IdentifierType,
    /// `custom` only.
    name: String,
    field: String,
    /// The field's index in the mapper's [`Lookup`].
    index: usize,
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
    pub(crate) fn new(mapping: &IdentifierMapping, lookup: &mut Lookup) -> Self {
        Self {
            index: lookup.index(&mapping.field),
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
        fields: &Fields<'_>,
        phone: &PhoneNormaliser,
        out: &mut Identifiers,
    ) -> Result<(), InvalidIdentifier> {
        let invalid = |why| InvalidIdentifier {
            label: self.label(),
            why,
        };
        // Borrowed from the record: only the value that is kept gets copied.
        let raw: Cow<'_, str> = match fields.get(self.index) {
            None | Some(Value::Null) => return Err(invalid("missing")),
            Some(Value::String(s)) => Cow::Borrowed(s.trim()),
            Some(Value::Number(n)) => Cow::Owned(n.to_string()),
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
                if out.email.is_none() {
                    out.email = Some(raw.into_owned());
                }
            }
            IdentifierType::PhoneNumber => {
                let e164 = phone.normalise(&raw).map_err(invalid)?;
                if out.phone_number.is_none() {
                    out.phone_number = Some(e164);
                }
            }
            IdentifierType::Uuid => {
                if out.uuid.is_none() {
                    out.uuid = Some(raw.into_owned());
                }
            }
            IdentifierType::Custom => {
                if self.name.is_empty() {
                    return Err(invalid("custom identifier has no name"));
                }
                if !out.custom.contains_key(&self.name) {
                    out.custom.insert(self.name.clone(), raw.into_owned());
                }
            }
        }
        Ok(())
    }
}

/// Insider's email check: `^.+@.+\..+$` and no whitespace anywhere.
///
/// Without whitespace (so without line breaks, which `.` does not match) the pattern holds
/// exactly when some `@` has a character before it and a `.` after it with at least one
/// character on each side. The earliest such `@` leaves the most room, so one pass finds
/// it; `@` and `.` are single bytes, so byte positions count characters' presence.
pub(crate) fn is_valid_email(s: &str) -> bool {
    let bytes = s.as_bytes();
    // ASCII text, the usual case, in one pass: its whitespace is `\t` to `\r` and the space;
    // a dot counts once the first `@` with a character before it is known.
    let mut at = None;
    let mut dotted = false;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\t'..=b'\r' | b' ' => return false,
            b'@' if at.is_none() && i >= 1 => at = Some(i),
            b'.' if at.is_some_and(|a| i >= a + 2 && i + 1 < bytes.len()) => dotted = true,
            0x80.. => return is_valid_email_text(s),
            _ => {}
        }
    }
    dotted
}

/// [`is_valid_email`] for any text (Unicode whitespace included).
fn is_valid_email_text(s: &str) -> bool {
    if s.chars().any(char::is_whitespace) {
        return false;
    }
    let bytes = s.as_bytes();
    let Some(at) = bytes.iter().skip(1).position(|&b| b == b'@') else {
        return false;
    };
    // `at` counts from the second byte: the `@` sits at `at + 1`, so a dot needs an index
    // of at least `at + 3` and a character after it.
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'.' && i >= at + 3 && i + 1 < bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    use regex::Regex;

    /// Insider's email rule (API-FACTS.md 1.5), which `is_valid_email` implements by hand.
    static EMAIL: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^.+@.+\..+$").ok());

    #[test]
    fn the_email_check_agrees_with_insiders_pattern() {
        let pattern = EMAIL.as_ref().map(|re| re.is_match("a@b.c"));
        assert_eq!(pattern, Some(true));
        let alphabet = ['a', '@', '.', 'é', '\n', ' '];
        // Every string of up to six characters over the characters that matter.
        let mut strings = Vec::new();
        let mut frontier = vec![String::new()];
        for _ in 0..6 {
            frontier = frontier
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            strings.extend(frontier.iter().cloned());
        }
        for s in &strings {
            let by_pattern = !s.chars().any(char::is_whitespace)
                && EMAIL.as_ref().is_some_and(|re| re.is_match(s));
            assert_eq!(is_valid_email(s), by_pattern, "{s:?}");
        }
    }

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
            ("ada\t@example.com", false),
            ("ada@example.com\r", false),
            ("ada@exa\u{b}mple.com", false),
            ("ada@example.co\u{c}m", false),
            ("ada@exa\u{a0}mple.com", false),
            ("ada@exa\u{2003}mple.com", false),
            ("adé@exämple.com", true),
            ("@a@b.c", true),
            ("a@.b", false),
            ("a@b.", false),
        ] {
            assert_eq!(is_valid_email(input), valid, "{input}");
        }
    }
}

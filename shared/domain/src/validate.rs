//! Validation of a definition into an [`Integration`] the engine can trust.
//!
//! Validation reports every problem at once, each with its path (`attributes[2].field`)
//! and a message that says what to fix: YAML syntax errors name line and column, type
//! errors and unknown keys are found per top-level section (`parse`), and the semantic
//! rules of ARCHITECTURE.md sections 3 and 8 run on the typed definition (`rules`).

mod checks;
mod parse;
mod rules;
mod schedule;

pub use checks::STANDARD_ATTRIBUTE_KEYS;
pub use schedule::Schedule;

use crate::definition::{AuthMethod, Definition};
use crate::error::ErrorKind;
use crate::filter::FetchXmlFilter;

/// One problem found in a definition: where (`attributes[2].field`, or empty for the whole
/// document) and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in the definition", .0.len())]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// Every problem as `path: message`, joined by `separator`.
    pub fn joined(&self, separator: &str) -> String {
        self.0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(separator)
    }

    /// An invalid definition is bad input: retrying cannot help.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Permanent
    }
}

/// A definition that passed validation, with its filter and schedule parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    definition: Definition,
    filter: Option<FetchXmlFilter>,
    schedule: Schedule,
}

impl Integration {
    /// Parses and validates YAML text.
    pub fn from_yaml(text: &str) -> Result<Self, Problems> {
        let definition = parse::parse(text).map_err(Problems)?;
        Self::new(definition)
    }

    /// Validates an already parsed definition.
    pub fn new(definition: Definition) -> Result<Self, Problems> {
        let (problems, checked) = rules::check(&definition);
        match (problems.is_empty(), checked.schedule) {
            (true, Some(schedule)) => Ok(Self {
                definition,
                filter: checked.filter,
                schedule,
            }),
            _ => Err(Problems(problems)),
        }
    }

    pub fn definition(&self) -> &Definition {
        &self.definition
    }

    pub fn id(&self) -> &str {
        &self.definition.id
    }

    /// The name shown in listings: `name`, else the id.
    pub fn display_name(&self) -> &str {
        self.definition
            .name
            .as_deref()
            .unwrap_or(&self.definition.id)
    }

    /// The record filter, `None` when the definition says `none`.
    pub fn filter(&self) -> Option<&FetchXmlFilter> {
        self.filter.as_ref()
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The phone dial code as digits only (a leading `+` in the definition is dropped).
    pub fn country_code(&self) -> Option<&str> {
        let code = self.definition.phone.country_code.as_deref()?;
        Some(code.strip_prefix('+').unwrap_or(code))
    }

    /// The authorize endpoint for `authorization_code`: `authorize_url`, else the token
    /// URL with its final `/token` replaced by `/authorize`. `None` for client credentials.
    pub fn authorize_url(&self) -> Option<String> {
        let auth = &self.definition.dynamics.auth;
        if auth.method != AuthMethod::AuthorizationCode {
            return None;
        }
        if let Some(url) = &auth.authorize_url {
            return Some(url.clone());
        }
        let base = auth
            .token_url
            .strip_suffix("/token")
            .unwrap_or(&auth.token_url);
        Some(format!("{base}/authorize"))
    }
}

/// The closest candidate to `word`, if one is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(distance, _)| *distance <= limit && *distance > 0)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn did_you_mean_suggests_only_close_candidates() {
        let fields = ["gendercode", "emailaddress1", "firstname"];
        assert_eq!(
            did_you_mean("gendercod", fields.iter().copied()),
            Some("gendercode")
        );
        assert_eq!(
            did_you_mean("emailaddress2", fields.iter().copied()),
            Some("emailaddress1")
        );
        assert_eq!(did_you_mean("lastname", fields.iter().copied()), None);
        assert_eq!(did_you_mean("firstname", fields.iter().copied()), None);
    }
}

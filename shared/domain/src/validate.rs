//! Validation of a definition into an [`Integration`] the engine can trust.
//!
//! TEMPORARY SKELETON: the foundation issue replaces this with full validation.

use crate::definition::Definition;

/// One problem found in a definition: where (`attributes[2].field`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in the definition", .0.len())]
pub struct Problems(pub Vec<Problem>);

/// A definition that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    definition: Definition,
}

impl Integration {
    /// Parses and validates YAML text.
    pub fn from_yaml(text: &str) -> Result<Self, Problems> {
        let definition: Definition = serde_norway::from_str(text).map_err(|e| {
            Problems(vec![Problem {
                path: String::new(),
                message: e.to_string(),
            }])
        })?;
        Self::new(definition)
    }

    /// Validates an already parsed definition.
    pub fn new(definition: Definition) -> Result<Self, Problems> {
        Ok(Self { definition })
    }

    pub fn definition(&self) -> &Definition {
        &self.definition
    }
}

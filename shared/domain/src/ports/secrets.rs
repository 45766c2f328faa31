//! The secret store: resolves `{ secret: NAME }` references and keeps rotated refresh tokens.

use std::fmt;

use crate::error::ErrorKind;

/// A secret value. Its `Debug` and `Display` never show the value, so it cannot leak
/// through logs or error messages by accident; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that must send it (a header, a form field).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No secret of that name. The message says where it was looked for.
    #[error("secret '{name}' not found: {hint}")]
    NotFound { name: String, hint: String },
    /// The store could not be reached or refused the call.
    #[error("secret store failed for '{name}': {message}")]
    Store {
        name: String,
        message: String,
        kind: ErrorKind,
    },
}

impl SecretError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SecretError::NotFound { .. } => ErrorKind::Permanent,
            SecretError::Store { kind, .. } => *kind,
        }
    }
}

/// Resolves secret names to values and stores new values (rotated refresh tokens).
#[async_trait::async_trait]
pub trait SecretStore: Send + Sync {
    async fn get(&self, name: &str) -> Result<Secret, SecretError>;
    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError>;
    /// Reads the value from the store itself, past any cache: a service refused the value
    /// `get` gave (401), and it may have been rotated since. Stores without a cache read
    /// as `get` does.
    async fn get_fresh(&self, name: &str) -> Result<Secret, SecretError> {
        self.get(name).await
    }
}

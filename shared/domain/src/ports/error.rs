//! The error every port returns: what failed, whether retrying can help, and the cause.

use crate::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PortError {
    pub kind: ErrorKind,
    /// What failed and, for permanent errors, what to fix. Never contains secrets.
    pub message: String,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl PortError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Transient,
            message: message.into(),
            source: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Permanent,
            message: message.into(),
            source: None,
        }
    }

    /// Wraps an adapter's own typed error, keeping it as the source.
    pub fn from_error(
        kind: ErrorKind,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

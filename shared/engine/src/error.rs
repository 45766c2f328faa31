//! The engine's error: which step failed, whether retrying can help, and the cause.

use dynsync_domain::ErrorKind;
use dynsync_domain::ports::PortError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The state store failed (read, conditional write).
    #[error("state store: {0}")]
    State(#[source] PortError),
    /// The page queue failed.
    #[error("page queue: {0}")]
    Queue(#[source] PortError),
    /// Dataverse failed; a permanent error also fails the execution.
    #[error("Dataverse: {0}")]
    Source(#[source] PortError),
    /// Insider failed a batch in a way that may pass on a retry.
    #[error("Insider: {0}")]
    Sink(#[source] PortError),
    /// A page task names an execution the state store does not know.
    #[error("execution '{0}' does not exist")]
    UnknownExecution(String),
    /// A stored definition no longer validates.
    #[error("definition '{id}' is invalid: {problems}")]
    InvalidDefinition { id: String, problems: String },
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::State(e)
            | EngineError::Queue(e)
            | EngineError::Source(e)
            | EngineError::Sink(e) => e.kind(),
            EngineError::UnknownExecution(_) | EngineError::InvalidDefinition { .. } => {
                ErrorKind::Permanent
            }
        }
    }

    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_keeps_the_kind_of_the_port_error_it_wraps() {
        assert!(EngineError::Sink(PortError::transient("429")).is_transient());
        assert!(!EngineError::Source(PortError::permanent("401")).is_transient());
        assert_eq!(
            EngineError::UnknownExecution("x".into()).kind(),
            ErrorKind::Permanent
        );
    }
}

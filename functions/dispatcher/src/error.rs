//! The dispatcher's error: what went wrong with an invocation, classified where it is born,
//! with a message that says what to fix (a manual caller reads it in the Lambda response).

use dynsync_domain::ErrorKind;
use dynsync_domain::ports::PortError;
use dynsync_engine::EngineError;

#[derive(Debug, thiserror::Error)]
pub enum DispatcherError {
    /// The event is neither a scheduled event nor a manual run.
    #[error(
        "unrecognised event ({0}); the dispatcher takes an EventBridge scheduled event or {{\"integration_id\": \"<id>\"}}"
    )]
    UnrecognisedEvent(String),
    /// A manual run names an integration that is not stored.
    #[error("integration '{0}' is not stored; push its definition first (dynsync push FILE --aws)")]
    UnknownIntegration(String),
    /// The stored definition no longer validates.
    #[error("definition '{id}' is invalid: {problems}; fix it and push it again")]
    InvalidDefinition { id: String, problems: String },
    /// Reading the state store failed.
    #[error("state store: {0}")]
    State(#[source] PortError),
    /// The engine failed (state store, queue, Dataverse).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The answer could not be serialised.
    #[error("cannot write the response: {0}")]
    Response(String),
    /// A schedule tick tried every integration but left some for the next tick (their
    /// state could not be read, or their start failed transiently: the slot stays due),
    /// or its stall check failed. `summary` is what it did.
    #[error("the next tick retries what this one could not do: {}; everything else was scheduled", .undone.join("; "))]
    TickIncomplete {
        undone: Vec<String>,
        summary: Box<crate::TickSummary>,
    },
}

impl DispatcherError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            DispatcherError::State(e) => e.kind(),
            DispatcherError::Engine(e) => e.kind(),
            // The next tick tries again.
            DispatcherError::TickIncomplete { .. } => ErrorKind::Transient,
            DispatcherError::UnrecognisedEvent(_)
            | DispatcherError::UnknownIntegration(_)
            | DispatcherError::InvalidDefinition { .. }
            | DispatcherError::Response(_) => ErrorKind::Permanent,
        }
    }

    /// A short name for the Lambda error type (`errorType` in the response).
    pub fn name(&self) -> &'static str {
        match self {
            DispatcherError::UnrecognisedEvent(_) => "UnrecognisedEvent",
            DispatcherError::UnknownIntegration(_) => "UnknownIntegration",
            DispatcherError::InvalidDefinition { .. } => "InvalidDefinition",
            DispatcherError::State(_) => "StateStoreError",
            DispatcherError::Engine(_) => "EngineError",
            DispatcherError::Response(_) => "ResponseError",
            DispatcherError::TickIncomplete { .. } => "TickIncomplete",
        }
    }
}

/// What a failed invocation answers: `errorType` names the variant, `errorMessage` says
/// what to fix.
impl From<DispatcherError> for lambda_runtime::Diagnostic {
    fn from(error: DispatcherError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: error.name().to_owned(),
            error_message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_invocation_answers_with_the_variant_and_what_to_fix() {
        let diagnostic = lambda_runtime::Diagnostic::from(DispatcherError::UnknownIntegration(
            "active-contacts".into(),
        ));
        assert_eq!(diagnostic.error_type, "UnknownIntegration");
        assert!(
            diagnostic
                .error_message
                .contains("'active-contacts' is not stored")
        );
        assert!(diagnostic.error_message.contains("dynsync push"));
    }

    #[test]
    fn errors_keep_the_kind_of_their_cause() {
        let transient = DispatcherError::State(PortError::transient("DynamoDB throttled"));
        assert!(transient.kind().is_transient());
        let invalid = DispatcherError::InvalidDefinition {
            id: "x".into(),
            problems: "schedule: 6 fields".into(),
        };
        assert_eq!(invalid.kind(), ErrorKind::Permanent);
    }
}

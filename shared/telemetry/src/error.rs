//! The telemetry crate's one error type: setting up logging or writing metrics failed.

use dynsync_domain::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter (`RUST_LOG` or the level given) does not parse.
    #[error("invalid log filter '{filter}': {source}; use a level such as info or debug")]
    Filter {
        filter: String,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global tracing subscriber is already installed in this process.
    #[error("logging is already set up in this process: {0}")]
    AlreadyInitialised(String),
    /// Writing the metrics line failed (stdout closed or full).
    #[error("could not write metrics: {0}")]
    Write(#[source] std::io::Error),
}

impl TelemetryError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            TelemetryError::Write(_) => ErrorKind::Transient,
            TelemetryError::Filter { .. } | TelemetryError::AlreadyInitialised(_) => {
                ErrorKind::Permanent
            }
        }
    }
}

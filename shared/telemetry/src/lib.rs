//! dynsync's telemetry: how the Lambdas and the CLI log, and the CloudWatch metrics they
//! publish.
//!
//! Modules: `logs` (tracing set-up: on Lambda the runtime's own initializer, which honours
//! Lambda's logging controls `AWS_LAMBDA_LOG_FORMAT`/`AWS_LAMBDA_LOG_LEVEL`; on the CLI
//! readable lines on stderr), `emf` (a per-invocation recorder that writes CloudWatch
//! embedded-metric-format documents, one JSON line each, when flushed), `events` (one struct
//! per telemetry event that writes its log line and its metrics together, so the two never
//! disagree), `error`. Events carry counts and ids only, never record contents or secrets.
//! This crate depends on the domain types and nothing that does remote I/O; the Lambda
//! initializer sits behind the `lambda` feature so the CLI does not build the runtime.

mod emf;
mod error;
mod events;
mod logs;

pub use emf::{FUNCTION_DIMENSION, INTEGRATION_DIMENSION, Metrics, NAMESPACE, Unit};
pub use error::TelemetryError;
pub use events::{
    Event, ExecutionFinished, ExecutionStarted, PageDeferred, PageFailed, PageProcessed,
};
pub use logs::init_cli;
#[cfg(feature = "lambda")]
pub use logs::init_lambda;

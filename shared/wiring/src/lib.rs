//! The one place that builds dynsync's engine from typed configuration, for both Lambdas,
//! the CLI's `--aws` commands and the CLI's local runs; the engine itself only sees ports.
//!
//! Modules: `connectors` ([`LiveConnectors`]: an integration's Dataverse source and Insider
//! sink, built once per definition; always compiled), and behind features so each package
//! carries only what it runs: with `aws`, `config` ([`AwsConfig`] read from the
//! environment, [`ConfigError`] naming every bad variable), `aws` ([`AwsPorts`]: the engine
//! on DynamoDB, SQS and Secrets Manager) and `lambda` (the functions' per-invocation helpers:
//! [`flush_metrics`], [`flush_secrets`], [`report_init_error`]); with
//! `local` (the CLI only, so no SQLite in the Lambda packages), `local` ([`LocalState`]: the
//! state folder's SQLite state, page queues and member sets, and the engine over them).

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "aws")]
mod config;
mod connectors;
#[cfg(feature = "aws")]
mod lambda;
#[cfg(feature = "local")]
pub mod local;

#[cfg(feature = "aws")]
pub use aws::AwsPorts;
#[cfg(feature = "aws")]
pub use config::{AwsConfig, ConfigError, DEFAULT_TIME_RESERVE};
pub use connectors::LiveConnectors;
#[cfg(feature = "aws")]
pub use lambda::{flush_metrics, flush_secrets, report_init_error};
#[cfg(feature = "local")]
pub use local::{LocalState, LocalStateError};

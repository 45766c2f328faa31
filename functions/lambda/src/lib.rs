//! What dynsync's two Lambda functions share at cold start: their settings read once from
//! the environment (every problem reported together), and the AWS ports built once and
//! borrowed by every invocation (STYLE.md habit 1: `main.rs` stays a few lines of wiring).
//!
//! Modules: `config` ([`LambdaConfig`], [`ConfigError`]), `ports` ([`AwsPorts`]: the engine
//! on DynamoDB, SQS and Secrets Manager with the live Dataverse/Insider connectors).
//! Handler logic lives in the function crates' `lib.rs`, not here.

mod config;
mod ports;

pub use config::{ConfigError, LambdaConfig};
pub use ports::AwsPorts;

/// Writes an invocation's metrics (one EMF line per integration) and logs, never fails, if
/// stdout refuses them: metrics must not fail the work they describe.
pub fn flush_metrics(metrics: &dynsync_telemetry::Metrics) {
    if let Err(error) = metrics.flush() {
        tracing::warn!(error = %error, "metrics were not written");
    }
}

/// Emits the `ExecutionFinished` event of an execution this invocation ended (failed, or
/// found stalled), read back from the state; a failed read is logged, never raised.
pub async fn report_finished(
    engine: &dynsync_engine::Engine,
    execution_id: &str,
    metrics: &dynsync_telemetry::Metrics,
) {
    use dynsync_telemetry::Event;
    match engine.state().get_execution(execution_id).await {
        Ok(Some(execution)) => dynsync_telemetry::ExecutionFinished::of(&execution).emit(metrics),
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(execution_id, error = %error, "cannot read the ended execution back");
        }
    }
}

/// Writes the secret values whose write the store deferred (a refresh token rotated less
/// than 10 minutes after the last write) once their interval has passed, so a rotated
/// token outlives the container. Never fails the invocation: Entra keeps the previous
/// refresh token valid, so a missed write costs nothing but a later retry.
pub async fn flush_secrets(secrets: &dynsync_aws::SecretsManagerSecretStore) {
    if let Err(error) = secrets.flush_due().await {
        tracing::warn!(error = %error, "a rotated secret was not written yet");
    }
}

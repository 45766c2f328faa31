//! What the two Lambda functions do around each invocation and at a failed start: write
//! the metrics, write the rotated secrets the store deferred, and tell the Runtime API why
//! the function cannot start. None of them fails the invocation.

use crate::ConfigError;

/// Writes an invocation's metrics (one EMF line per integration) and logs, never fails, if
/// stdout refuses them: metrics must not fail the work they describe.
pub fn flush_metrics(metrics: &dynsync_telemetry::Metrics) {
    if let Err(error) = metrics.flush() {
        tracing::warn!(error = %error, "metrics were not written");
    }
}

/// Tells Lambda why the function cannot start: posts `error` to the Runtime API's
/// `/runtime/init/error` (so the invoker sees the misconfiguration, not only a log line),
/// then the caller exits non-zero. Never fails: without `AWS_LAMBDA_RUNTIME_API`, or when the
/// post fails, the error is only logged (the exit still tells Lambda).
pub async fn report_init_error(error: &ConfigError) {
    tracing::error!(error = %error, "the function cannot start");
    let Some(api) = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .ok()
        .filter(|api| !api.trim().is_empty())
    else {
        return;
    };
    let body = serde_json::json!({
        "errorType": "Runtime.ConfigError",
        "errorMessage": error.to_string(),
    });
    let posted = reqwest::Client::new()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
        .timeout(std::time::Duration::from_secs(5))
        .json(&body)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status);
    if let Err(e) = posted {
        tracing::warn!(error = %e, "the init error was not reported to the Lambda Runtime API");
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

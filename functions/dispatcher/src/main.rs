//! The dispatcher Lambda's entry point: logging, settings, the AWS ports built once per cold
//! start, then one [`Dispatcher::handle`] per event (schedule tick or manual run) with its
//! metrics flushed at the end. Errors reach the caller as `errorType`/`errorMessage`.

use dynsync_dispatcher::{Dispatcher, DispatcherError};
use dynsync_telemetry::Metrics;
use dynsync_wiring::{AwsConfig, AwsPorts, flush_metrics, flush_secrets};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

// One runtime thread: an invocation handles its events one after another, and each
// thread that allocates would get a glibc malloc arena of its own (issue 13, memory).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    dynsync_telemetry::init_lambda();
    let config = match AwsConfig::from_env("dispatcher") {
        Ok(config) => config,
        Err(error) => {
            dynsync_wiring::report_init_error(&error).await;
            return Err(error.into());
        }
    };
    let ports = AwsPorts::build(&config).await;
    let secrets = ports.secrets;
    let dispatcher = Dispatcher::new(ports.engine);
    let function = config.function_name.as_str();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (dispatcher, secrets) = (&dispatcher, &secrets);
        async move {
            let metrics = Metrics::new(function);
            let owner = format!("lambda:{}", event.context.request_id);
            let answer = dispatcher
                .handle(&event.payload, &owner, chrono::Utc::now(), &metrics)
                .await;
            flush_metrics(&metrics);
            flush_secrets(secrets).await;
            answer
                .inspect_err(|e: &DispatcherError| tracing::error!(error = %e, "invocation failed"))
        }
    }))
    .await
}

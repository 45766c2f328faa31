//! The worker Lambda's entry point: logging, settings, the AWS ports built once per cold
//! start, then one [`Worker::handle`] per SQS batch with its metrics flushed at the end.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use dynsync_telemetry::Metrics;
use dynsync_wiring::{AwsConfig, AwsPorts, flush_metrics, flush_secrets};
use dynsync_worker::{Worker, lambda_deadline};
use lambda_runtime::{Error, LambdaEvent, service_fn};

// One runtime thread: an invocation handles its events one after another, and each
// thread that allocates would get a glibc malloc arena of its own (issue 13, memory).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    dynsync_telemetry::init_lambda();
    let config = match AwsConfig::from_env("worker") {
        Ok(config) => config,
        Err(error) => {
            dynsync_wiring::report_init_error(&error).await;
            return Err(error.into());
        }
    };
    let ports = AwsPorts::build(&config).await;
    let secrets = ports.secrets;
    let worker = Worker::new(ports.engine, ports.queue, config.time_reserve);
    let function = config.function_name.as_str();
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (worker, secrets) = (&worker, &secrets);
        async move {
            let metrics = Metrics::new(function);
            let deadline = lambda_deadline(event.context.deadline);
            let response: SqsBatchResponse = worker.handle(event.payload, deadline, &metrics).await;
            flush_metrics(&metrics);
            flush_secrets(secrets).await;
            Ok::<_, Error>(response)
        }
    }))
    .await
}

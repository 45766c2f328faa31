//! dynsync's AWS adapters: the state store on one DynamoDB table
//! ([`DynamoDbStateStore`], schema in the `dynamodb` module comment), the page queue on SQS
//! ([`SqsPageQueue`]) and the secret store on Secrets Manager with a per-process cache and
//! throttled writes of rotated tokens ([`SecretsManagerSecretStore`]). Each is built from
//! an `aws_config::SdkConfig` and resource names; `AWS_ENDPOINT_URL` points the SDK at moto
//! in tests with no test-only code here. [`AwsRequestCounter`] counts requests per service.
//! [`infra`] creates the table and a queue as template.yaml declares them.
//!
//! Modules: `dynamodb`, `sqs`, `secrets`, `counter`, `infra`, `error` (one error type,
//! classified transient/permanent where it is born). Must not depend on the engine.

mod counter;
mod dynamodb;
mod error;
pub mod infra;
mod secrets;
mod sqs;

pub use counter::{AwsRequestCounter, AwsRequestCounts, AwsService, CountingInterceptor};
pub use dynamodb::DynamoDbStateStore;
pub use error::AwsError;
pub use secrets::{DEFAULT_CACHE_TTL, DEFAULT_WRITE_INTERVAL, SecretsManagerSecretStore};
pub use sqs::SqsPageQueue;

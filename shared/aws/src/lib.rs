//! dynsync's AWS adapters: the state store on one DynamoDB table
//! ([`DynamoDbStateStore`], schema in the `dynamodb` module comment), the page queue on SQS
//! ([`SqsPageQueue`]) and the secret store on Secrets Manager with a per-process cache and
//! throttled writes of rotated tokens ([`SecretsManagerSecretStore`]). Each is built from
//! an `aws_config::SdkConfig` and resource names; `AWS_ENDPOINT_URL` points the SDK at moto
//! in tests.
//!
//! Modules: `dynamodb`, `sqs`, `secrets`, `error` (one error type, classified
//! transient/permanent where it is born), and behind the `test-support` feature (tests and
//! benchmarks only, never in the Lambda packages): `counter` (`AwsRequestCounter`, AWS
//! requests per service, and clients that count them: pass one to an adapter's
//! `from_client`) and `infra` (the SDK configuration for moto every test crate uses, and
//! the table and a queue created exactly as template.yaml declares them). Must not depend on the engine.

#[cfg(feature = "test-support")]
mod counter;
mod dynamodb;
mod error;
#[cfg(feature = "test-support")]
pub mod infra;
mod secrets;
mod sqs;

#[cfg(feature = "test-support")]
pub use counter::{AwsRequestCounter, AwsRequestCounts, AwsService, CountingInterceptor};
pub use dynamodb::DynamoDbStateStore;
pub use error::AwsError;
pub use secrets::{DEFAULT_CACHE_TTL, DEFAULT_WRITE_INTERVAL, SecretsManagerSecretStore};
pub use sqs::SqsPageQueue;

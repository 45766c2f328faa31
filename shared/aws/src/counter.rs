//! Counts AWS requests per service, so a benchmark can report AWS requests per 1,000
//! records. An SDK interceptor on each client counts every attempt that is sent (a retried
//! call counts once per attempt, as AWS bills it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents, SharedInterceptor};
use aws_sdk_dynamodb::error::BoxError;

/// The services dynsync calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AwsService {
    DynamoDb,
    Sqs,
    SecretsManager,
}

/// Request totals at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct AwsRequestCounts {
    pub dynamodb: u64,
    pub sqs: u64,
    pub secretsmanager: u64,
}

impl AwsRequestCounts {
    pub fn total(&self) -> u64 {
        self.dynamodb + self.sqs + self.secretsmanager
    }
}

/// A shared counter; clones count into the same totals. Give the same counter to every
/// adapter of a process to get that process's totals.
#[derive(Debug, Clone, Default)]
pub struct AwsRequestCounter {
    counts: Arc<[AtomicU64; 3]>,
}

impl AwsRequestCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests sent to `service` so far.
    pub fn get(&self, service: AwsService) -> u64 {
        self.slot(service).load(Ordering::Relaxed)
    }

    /// Requests sent so far, per service.
    pub fn snapshot(&self) -> AwsRequestCounts {
        AwsRequestCounts {
            dynamodb: self.get(AwsService::DynamoDb),
            sqs: self.get(AwsService::Sqs),
            secretsmanager: self.get(AwsService::SecretsManager),
        }
    }

    /// Requests sent so far, all services.
    pub fn total(&self) -> u64 {
        self.snapshot().total()
    }

    fn slot(&self, service: AwsService) -> &AtomicU64 {
        let [dynamodb, sqs, secrets] = &*self.counts;
        match service {
            AwsService::DynamoDb => dynamodb,
            AwsService::Sqs => sqs,
            AwsService::SecretsManager => secrets,
        }
    }

    /// The interceptor to install on a client of `service`.
    pub fn interceptor(&self, service: AwsService) -> CountingInterceptor {
        CountingInterceptor {
            counter: self.clone(),
            service,
        }
    }
}

/// A client of one SDK on `config` whose requests count in `counter` (and pass `also`).
macro_rules! counted_client {
    ($sdk:ident, $service:expr, $counter:expr, $config:expr, $also:expr) => {{
        let mut builder =
            $sdk::config::Builder::from($config).interceptor($counter.interceptor($service));
        for interceptor in $also {
            builder.push_interceptor(interceptor.clone());
        }
        $sdk::Client::from_conf(builder.build())
    }};
}

impl AwsRequestCounter {
    /// A DynamoDB client on `config` counting into this counter; `also` are further
    /// interceptors (a benchmark's per-operation tally).
    pub fn dynamodb_client(
        &self,
        config: &SdkConfig,
        also: &[SharedInterceptor],
    ) -> aws_sdk_dynamodb::Client {
        counted_client!(aws_sdk_dynamodb, AwsService::DynamoDb, self, config, also)
    }

    /// An SQS client on `config` counting into this counter (see [`Self::dynamodb_client`]).
    pub fn sqs_client(
        &self,
        config: &SdkConfig,
        also: &[SharedInterceptor],
    ) -> aws_sdk_sqs::Client {
        counted_client!(aws_sdk_sqs, AwsService::Sqs, self, config, also)
    }

    /// A Secrets Manager client on `config` counting into this counter (see
    /// [`Self::dynamodb_client`]).
    pub fn secrets_client(
        &self,
        config: &SdkConfig,
        also: &[SharedInterceptor],
    ) -> aws_sdk_secretsmanager::Client {
        counted_client!(
            aws_sdk_secretsmanager,
            AwsService::SecretsManager,
            self,
            config,
            also
        )
    }
}

/// Counts each request attempt just before it is sent.
#[derive(Debug, Clone)]
pub struct CountingInterceptor {
    counter: AwsRequestCounter,
    service: AwsService,
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "dynsync-aws-request-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.counter
            .slot(self.service)
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_count_into_the_same_totals() {
        let counter = AwsRequestCounter::new();
        let clone = counter.clone();
        clone.slot(AwsService::Sqs).fetch_add(2, Ordering::Relaxed);
        counter
            .slot(AwsService::DynamoDb)
            .fetch_add(1, Ordering::Relaxed);
        assert_eq!(
            counter.snapshot(),
            AwsRequestCounts {
                dynamodb: 1,
                sqs: 2,
                secretsmanager: 0
            }
        );
        assert_eq!(clone.total(), 3);
    }
}

//! Counts AWS requests per service, so a benchmark can report AWS requests per 1,000
//! records. An SDK interceptor on each client counts every attempt that is sent (a retried
//! call counts once per attempt, as AWS bills it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
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

//! Where the AWS requests go: an SDK interceptor that tallies every request attempt by
//! operation (the `X-Amz-Target` header of the JSON protocols DynamoDB, SQS and Secrets
//! Manager speak) and, for DynamoDB, the request units it bills (items named in a batch or
//! transaction; a transaction costs twice). Installed next to `AwsRequestCounter`'s own
//! interceptor on the clients the benchmark builds, exactly as `AwsPorts::build` wires the
//! adapters, so the per-service totals still come from `AwsRequestCounter`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents, SharedInterceptor};
use aws_sdk_dynamodb::error::BoxError;
use dynsync_aws::{AwsRequestCounter, DynamoDbStateStore, SecretsManagerSecretStore, SqsPageQueue};
use dynsync_domain::ports::{PageQueue, SystemClock};
use dynsync_engine::{Engine, EngineConfig};
use dynsync_wiring::LiveConnectors;

/// Per operation: requests and the items they name (request units for DynamoDB).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperationCount {
    pub requests: u64,
    /// DynamoDB: items read or written (a transaction's items count twice); otherwise
    /// equal to `requests`.
    pub units: u64,
    /// DynamoDB: writes that record an answered batch in a page's ledger item, the one
    /// write of a page whose item holds the page's record ids (up to 16 bytes each).
    pub batch_writes: u64,
}

/// Shared tallies keyed by `Service.Operation`.
#[derive(Debug, Clone, Default)]
pub struct OperationTally {
    counts: Arc<Mutex<BTreeMap<String, OperationCount>>>,
}

impl OperationTally {
    pub fn snapshot(&self) -> BTreeMap<String, OperationCount> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn add(&self, operation: String, units: u64, batch_write: bool) {
        if let Ok(mut counts) = self.counts.lock() {
            let entry = counts.entry(operation).or_default();
            entry.requests += 1;
            entry.units += units;
            entry.batch_writes += u64::from(batch_write);
        }
    }
}

impl Intercept for OperationTally {
    fn name(&self) -> &'static str {
        "dynsync-bench-operation-tally"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or("unknown.unknown");
        let operation = target
            .rsplit_once('.')
            .map_or(target, |(_, operation)| operation);
        let service = if target.starts_with("DynamoDB") {
            "DynamoDB"
        } else if target.starts_with("AmazonSQS") {
            "SQS"
        } else if target.starts_with("secretsmanager") {
            "SecretsManager"
        } else {
            "other"
        };
        let (units, batch_write) = match (service, request.body().bytes()) {
            ("DynamoDB", Some(body)) => dynamodb_units(operation, body),
            _ => (1, false),
        };
        self.add(format!("{service}.{operation}"), units, batch_write);
        Ok(())
    }
}

/// Items a DynamoDB request reads or writes: one for single-item calls, the keys of a
/// BatchGetItem, the requests of a BatchWriteItem, twice the items of a transaction; and
/// whether it records an answered batch (an `UpdateItem` setting `#batches.<index>`, the
/// adapter's `record_batch`).
fn dynamodb_units(operation: &str, body: &[u8]) -> (u64, bool) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (1, false);
    };
    let count = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_array()).map_or(0, Vec::len);
    let units = match operation {
        "BatchGetItem" => json
            .get("RequestItems")
            .and_then(|r| r.as_object())
            .map_or(0, |tables| {
                tables.values().map(|t| count(t.get("Keys"))).sum()
            }),
        "BatchWriteItem" => json
            .get("RequestItems")
            .and_then(|r| r.as_object())
            .map_or(0, |tables| tables.values().map(|t| count(Some(t))).sum()),
        "TransactWriteItems" | "TransactGetItems" => 2 * count(json.get("TransactItems")),
        _ => 1,
    };
    let batch_write = operation == "UpdateItem"
        && json
            .get("UpdateExpression")
            .and_then(|e| e.as_str())
            .is_some_and(|e| e.contains("#batches."));
    (u64::try_from(units).unwrap_or(u64::MAX).max(1), batch_write)
}

/// The worker's (and dispatcher's) ports as `dynsync_wiring::AwsPorts::build` wires them,
/// with every client counting into `counter` and `tally`.
pub struct CountedPorts {
    pub engine: Arc<Engine>,
    pub queue: Arc<dyn PageQueue>,
}

impl CountedPorts {
    pub fn build(
        sdk: &SdkConfig,
        table: &str,
        queue_url: &str,
        config: EngineConfig,
        counter: &AwsRequestCounter,
        tally: &OperationTally,
    ) -> Self {
        let tally = [SharedInterceptor::new(tally.clone())];
        let state = Arc::new(DynamoDbStateStore::from_client(
            counter.dynamodb_client(sdk, &tally),
            table,
        ));
        let queue: Arc<dyn PageQueue> = Arc::new(SqsPageQueue::from_client(
            counter.sqs_client(sdk, &tally),
            queue_url,
        ));
        let secrets = Arc::new(SecretsManagerSecretStore::from_client(
            counter.secrets_client(sdk, &tally),
            None,
        ));
        let engine = Arc::new(Engine::new(
            state,
            queue.clone(),
            Arc::new(LiveConnectors::new(secrets)),
            Arc::new(SystemClock),
            config,
        ));
        Self { engine, queue }
    }
}

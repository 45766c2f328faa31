//! The benchmark's sync: a fresh table, page queue and secrets on moto, a definition
//! pushed, a manual run started through the dispatcher handler, then the worker handler
//! driven with real SQS batches the way Lambda's event source hands them over (ReceiveMessage
//! of up to the template's `WorkerBatchSize`, the handler, DeleteMessageBatch of what it did
//! not report as failed) until the execution is final and the queue is empty. The worker
//! runs in a child process of its own (`--sync-worker`, as a Lambda container that handles
//! every invocation), so its memory high-water mark over the whole sync is the worker's
//! alone: the emulators, holding every record, stay in the parent.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail, ensure};
use aws_config::SdkConfig;
use dynsync_aws::{AwsRequestCounter, AwsRequestCounts, DynamoDbStateStore, infra};
use dynsync_dispatcher::Dispatcher;
use dynsync_domain::Integration;
use dynsync_domain::execution::ExecutionStatus;
use dynsync_domain::ports::{Definitions, Executions};
use dynsync_emulators::dataverse::{CLIENT_ID, CLIENT_SECRET, DataverseEmulator};
use dynsync_emulators::insider::{InsiderEmulator, PARTNER, TOKEN};
use dynsync_telemetry::Metrics;
use dynsync_tests::bench::{CONTACT_MAPPING, status_kb};
use dynsync_wiring::AwsConfig;
use dynsync_worker::Worker;

use crate::event_source::EventSource;
pub use crate::sqs_event::lambda_event;
use crate::tally::{CountedPorts, OperationCount, OperationTally};

/// template.yaml's `WorkerBatchSize` default: page tasks per worker invocation.
pub const BATCH_SIZE: i32 = 5;
/// template.yaml's worker timeout: the deadline handed to each invocation.
const TIMEOUT: Duration = Duration::from_secs(300);
/// template.yaml's `DYNSYNC_TIME_RESERVE_SECONDS`.
const TIME_RESERVE: Duration = Duration::from_secs(90);

/// What one benchmark run created on moto, and the emulators it syncs between.
pub struct Resources {
    pub sdk: SdkConfig,
    pub table: String,
    /// Prefix of this run's names (table, queues, secrets, integration ids).
    pub tag: String,
    pub dataverse: DataverseEmulator,
    pub insider: InsiderEmulator,
}

impl Resources {
    /// Creates the state table and the two secrets the definitions name.
    pub async fn create(
        sdk: SdkConfig,
        dataverse: DataverseEmulator,
        insider: InsiderEmulator,
    ) -> anyhow::Result<Self> {
        let tag = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let table = format!("dynsync-{tag}");
        infra::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
            .await
            .context("creating the state table")?;
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        for (name, value) in [("dynamics", CLIENT_SECRET), ("insider", TOKEN)] {
            secrets
                .create_secret()
                .name(format!("dynsync/{tag}/{name}"))
                .secret_string(value)
                .send()
                .await
                .with_context(|| format!("creating the secret dynsync/{tag}/{name}"))?;
        }
        Ok(Self {
            sdk,
            table,
            tag,
            dataverse,
            insider,
        })
    }

    /// A page queue named after this run and `suffix` (visibility timeout 300 s).
    pub async fn create_queue(&self, suffix: &str) -> anyhow::Result<String> {
        let name = format!("dynsync-{}-{suffix}", self.tag);
        Ok(infra::create_queue(&aws_sdk_sqs::Client::new(&self.sdk), &name, TIMEOUT).await?)
    }

    /// The integration `<tag>-<suffix>` with `page_size`, pointing at the emulators.
    pub fn integration(&self, suffix: &str, page_size: u32) -> anyhow::Result<Integration> {
        let yaml = format!(
            "id: {tag}-{suffix}
name: AWS benchmark
dynamics:
  web_api_url: {web}
  auth:
    method: client_credentials
    token_url: {token}
    scopes: [\"{scope}\"]
    client_id: {CLIENT_ID}
    client_secret: {{ secret: dynsync/{tag}/dynamics }}
  page_size: {page_size}
  request_timeout_ms: 30000
  retries: 5
{CONTACT_MAPPING}
insider:
  api_url: {upsert}
  partner: {PARTNER}
  token: {{ secret: dynsync/{tag}/insider }}
",
            tag = self.tag,
            web = self.dataverse.web_api_url(),
            token = self.dataverse.token_url(),
            scope = self.dataverse.scope(),
            upsert = self.insider.upsert_url(),
        );
        Integration::from_yaml(&yaml).map_err(|problems| anyhow::anyhow!("{problems:?}"))
    }

    /// Pushes `integration` and starts it through the dispatcher's manual event on ports
    /// counting into `counter`/`tally`; the execution id and the ports.
    pub async fn start(
        &self,
        integration: &Integration,
        queue_url: &str,
        counter: &AwsRequestCounter,
        tally: &OperationTally,
    ) -> anyhow::Result<(String, CountedPorts)> {
        let config = lambda_config(&self.table, queue_url)?;
        let ports = CountedPorts::build(
            &self.sdk,
            &self.table,
            queue_url,
            config.engine,
            counter,
            tally,
        );
        // `dynsync push` stores the definition; not part of the sync's requests.
        DynamoDbStateStore::new(&self.sdk, &self.table)
            .put_definition(integration.definition())
            .await?;
        let dispatcher = Dispatcher::new(ports.engine.clone());
        let event = serde_json::json!({ "integration_id": integration.definition().id });
        let answer = dispatcher
            .handle(
                &event,
                "lambda:bench",
                chrono::Utc::now(),
                &Metrics::new("dispatcher"),
            )
            .await?;
        ensure!(
            answer["status"] == "running",
            "the manual run did not start: {answer}"
        );
        let execution_id = answer["execution_id"]
            .as_str()
            .context("the dispatcher answered without an execution id")?
            .to_owned();
        Ok((execution_id, ports))
    }
}

/// The settings the functions read from their environment, for `table` and `queue_url`.
pub fn lambda_config(table: &str, queue_url: &str) -> anyhow::Result<AwsConfig> {
    Ok(AwsConfig::from_lookup("worker", |name| match name {
        "DYNSYNC_TABLE" => Some(table.to_owned()),
        "DYNSYNC_QUEUE_URL" => Some(queue_url.to_owned()),
        "DYNSYNC_STALL_AFTER_MINUTES" => Some("60".to_owned()),
        "DYNSYNC_TIME_RESERVE_SECONDS" => Some(TIME_RESERVE.as_secs().to_string()),
        _ => None,
    })?)
}

/// The figures of one sync.
pub struct SyncReport {
    pub records: u64,
    pub pages: u64,
    pub seconds: f64,
    /// Worker invocations and the time spent in the handler (what Lambda bills).
    pub invocations: u64,
    pub handler_seconds: f64,
    /// Requests of the functions' own clients (dispatcher start included).
    pub requests: AwsRequestCounts,
    pub operations: BTreeMap<String, OperationCount>,
    /// Requests the event source makes on the queue (receives that delivered, deletes).
    pub event_source: BTreeMap<String, OperationCount>,
    /// The worker process's VmHWM once a tenth of the records were handled, and at the end.
    pub worker_early_kb: u64,
    pub worker_early_records: u64,
    pub worker_end_kb: u64,
}

/// Environment of the `--sync-worker` child: the execution it works for and the records
/// after which it takes its early memory reading.
const EXECUTION_VAR: &str = "DYNSYNC_BENCH_EXECUTION";
const EARLY_VAR: &str = "DYNSYNC_BENCH_EARLY_RECORDS";
/// Prefixes of the child's tally keys, `<prefix><Service.Operation>:<r|u|b>` (requests,
/// request units, batch writes): the functions' requests, the event source's.
const FUNCTION: &str = "fn:";
const SOURCE: &str = "es:";

/// Runs one full sync of `integration`: dispatcher manual run here, worker invocations on
/// SQS batches in the `--sync-worker` child until done. Fails unless every record was read
/// and upserted.
pub async fn run(
    res: &Resources,
    integration: &Integration,
    expected: u64,
) -> anyhow::Result<SyncReport> {
    let queue_url = res.create_queue("sync").await?;
    let counter = AwsRequestCounter::new();
    let tally = OperationTally::default();
    let started = Instant::now();
    let (execution_id, _ports) = res.start(integration, &queue_url, &counter, &tally).await?;
    let early = (expected / 10).max(1).to_string();
    let env = [
        ("DYNSYNC_TABLE", res.table.as_str()),
        ("DYNSYNC_QUEUE_URL", queue_url.as_str()),
        (EXECUTION_VAR, execution_id.as_str()),
        (EARLY_VAR, early.as_str()),
    ];
    let child = crate::children::spawn(crate::children::SYNC_WORKER, &env).await?;
    let seconds = started.elapsed().as_secs_f64();

    let execution = DynamoDbStateStore::new(&res.sdk, &res.table)
        .get_execution(&execution_id)
        .await?
        .context("the execution vanished")?;
    let c = execution.counters;
    ensure!(
        execution.status == ExecutionStatus::Succeeded
            && c.records_read == expected
            && c.upserted == expected,
        "the sync did not move every record: {c:?} (status {:?}, error {:?})",
        execution.status,
        execution.error
    );
    let start = counter.snapshot();
    let mut operations = tally.snapshot();
    let mut event_source = BTreeMap::new();
    for (key, value) in &child.values {
        let (map, op) = if let Some(op) = key.strip_prefix(FUNCTION) {
            (&mut operations, op)
        } else if let Some(op) = key.strip_prefix(SOURCE) {
            (&mut event_source, op)
        } else {
            continue;
        };
        let Some((name, field)) = op.rsplit_once(':') else {
            continue;
        };
        let entry: &mut OperationCount = map.entry(name.to_owned()).or_default();
        let value = *value as u64;
        match field {
            "r" => entry.requests += value,
            "u" => entry.units += value,
            "b" => entry.batch_writes += value,
            _ => {}
        }
    }
    let get = |key: &str| child.get(key).map(|v| v as u64);
    Ok(SyncReport {
        records: c.records_read,
        pages: c.pages,
        seconds,
        invocations: get("invocations")?,
        handler_seconds: child.get("handler_us")? / 1e6,
        requests: AwsRequestCounts {
            dynamodb: start.dynamodb + get("dynamodb")?,
            sqs: start.sqs + get("sqs")?,
            secretsmanager: start.secretsmanager + get("secretsmanager")?,
        },
        operations,
        event_source,
        worker_early_kb: get("early_kb")?,
        worker_early_records: get("early_records")?,
        worker_end_kb: get("hwm_kb")?,
    })
}

/// Child `--sync-worker`: the worker handler, wired as the Lambda's `main` wires it with
/// counting clients, on SQS batches until the execution is final and the queue is idle;
/// prints its invocations, handler time, requests and VmHWM on one `BENCH` line.
pub fn sync_worker() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let var = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
        let (table, queue_url) = (var("DYNSYNC_TABLE")?, var("DYNSYNC_QUEUE_URL")?);
        let execution_id = var(EXECUTION_VAR)?;
        let early_at: u64 = var(EARLY_VAR)?.parse()?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let (counter, tally) = (AwsRequestCounter::new(), OperationTally::default());
        let config = lambda_config(&table, &queue_url)?;
        let ports = CountedPorts::build(&sdk, &table, &queue_url, config.engine, &counter, &tally);
        let worker = Worker::new(ports.engine.clone(), ports.queue.clone(), TIME_RESERVE);
        let source = EventSource::new(&sdk, &queue_url);
        let check = DynamoDbStateStore::new(&sdk, &table);

        let (mut invocations, mut handler, mut records) = (0_u64, Duration::ZERO, 0_u64);
        let mut early = None;
        let mut idle_since = Instant::now();
        loop {
            let messages = source.poll().await?;
            if messages.is_empty() {
                let execution = check
                    .get_execution(&execution_id)
                    .await?
                    .context("the execution vanished")?;
                if execution.status.is_final() {
                    break;
                }
                if idle_since.elapsed() > Duration::from_secs(120) {
                    bail!("no page task for 120 s and execution {execution_id} is still running");
                }
                continue;
            }
            idle_since = Instant::now();
            let metrics = Metrics::new("worker");
            let begun = Instant::now();
            let response = worker
                .handle(lambda_event(&messages), SystemTime::now() + TIMEOUT, &metrics)
                .await;
            handler += begun.elapsed();
            invocations += 1;
            records += metrics
                .take_documents(0)
                .iter()
                .filter_map(|d| d.get("RecordsRead").and_then(serde_json::Value::as_f64))
                .sum::<f64>() as u64;
            if early.is_none() && records >= early_at {
                early = Some((status_kb("VmHWM"), records));
            }
            let failed: Vec<&str> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.as_str())
                .collect();
            source.delete(&messages, &failed).await?;
        }
        let (early_kb, early_records) = early.unwrap_or((status_kb("VmHWM"), records));
        let r = counter.snapshot();
        let mut line = format!(
            "BENCH invocations={invocations} handler_us={} records={records} early_kb={early_kb} early_records={early_records} hwm_kb={} dynamodb={} sqs={} secretsmanager={}",
            handler.as_micros(),
            status_kb("VmHWM"),
            r.dynamodb,
            r.sqs,
            r.secretsmanager,
        );
        let tallies = [
            (FUNCTION, tally.snapshot()),
            (SOURCE, source.tally.snapshot()),
        ];
        for (prefix, ops) in tallies {
            for (name, c) in ops {
                line.push_str(&format!(
                    " {prefix}{name}:r={} {prefix}{name}:u={} {prefix}{name}:b={}",
                    c.requests, c.units, c.batch_writes
                ));
            }
        }
        println!("{line}");
        Ok(())
    })
}

/// Shared with the children: the worker handler's deadline and reserve.
pub fn worker_deadline() -> SystemTime {
    SystemTime::now() + TIMEOUT
}

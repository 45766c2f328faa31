//! The benchmark's sync: a fresh table, page queue and secrets on moto, a definition
//! pushed, a manual run started through the dispatcher handler, then the worker handler
//! driven with real SQS batches the way Lambda's event source hands them over (ReceiveMessage
//! of up to the template's `WorkerBatchSize`, the handler, DeleteMessageBatch of what it did
//! not report as failed) until the execution is final and the queue is empty.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail, ensure};
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use dynsync_aws::{AwsRequestCounter, AwsRequestCounts, AwsService, DynamoDbStateStore, infra};
use dynsync_dispatcher::Dispatcher;
use dynsync_domain::Integration;
use dynsync_domain::execution::ExecutionStatus;
use dynsync_domain::ports::{Definitions, Executions};
use dynsync_emulators::dataverse::{CLIENT_ID, CLIENT_SECRET, DataverseEmulator};
use dynsync_emulators::insider::{InsiderEmulator, PARTNER, TOKEN};
use dynsync_telemetry::Metrics;
use dynsync_wiring::AwsConfig;
use dynsync_worker::Worker;

use crate::tally::{CountedPorts, OperationCount, OperationTally, delta};

/// template.yaml's `WorkerBatchSize` default: page tasks per worker invocation.
pub const BATCH_SIZE: i32 = 5;
/// template.yaml's worker timeout: the deadline handed to each invocation.
const TIMEOUT: Duration = Duration::from_secs(300);
/// template.yaml's `DYNSYNC_TIME_RESERVE_SECONDS`.
const TIME_RESERVE: Duration = Duration::from_secs(90);

/// The mapping of the full-sync benchmark: two identifiers, three attributes (one through
/// option-set labels) and a fixed one.
const BODY: &str = "method: entity
source:
  entity: contact
  fetch_mode: all
  fields: [contactid, emailaddress1, mobilephone, firstname, lastname, gendercode]
identifiers:
  - { type: email, field: emailaddress1 }
  - { type: phone_number, field: mobilephone }
attributes:
  - { key: name, field: firstname }
  - { key: surname, field: lastname }
  - { key: gender, field: gendercode, code_to_label: true }
fixed_attributes:
  - { key: custom.data_source, value: dynamics }";

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
{BODY}
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

    /// The settings the functions read from their environment, for `queue_url`.
    pub fn lambda_config(&self, queue_url: &str) -> anyhow::Result<AwsConfig> {
        Ok(AwsConfig::from_lookup("worker", |name| match name {
            "DYNSYNC_TABLE" => Some(self.table.clone()),
            "DYNSYNC_QUEUE_URL" => Some(queue_url.to_owned()),
            "DYNSYNC_STALL_AFTER_MINUTES" => Some("60".to_owned()),
            "DYNSYNC_TIME_RESERVE_SECONDS" => Some(TIME_RESERVE.as_secs().to_string()),
            _ => None,
        })?)
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
        let config = self.lambda_config(queue_url)?;
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
}

/// Runs one full sync of `integration`: dispatcher manual run, worker invocations on SQS
/// batches until done. Fails unless every record was read and upserted.
pub async fn run(
    res: &Resources,
    integration: &Integration,
    expected: u64,
) -> anyhow::Result<SyncReport> {
    let queue_url = res.create_queue("sync").await?;
    let counter = AwsRequestCounter::new();
    let tally = OperationTally::default();
    let started = Instant::now();
    let (execution_id, ports) = res.start(integration, &queue_url, &counter, &tally).await?;
    let worker = Worker::new(ports.engine.clone(), ports.queue.clone(), TIME_RESERVE);
    let source = EventSource::new(&res.sdk, &queue_url);
    let check = DynamoDbStateStore::new(&res.sdk, &res.table);

    let (mut invocations, mut handler) = (0_u64, Duration::ZERO);
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
            .handle(
                lambda_event(&messages),
                SystemTime::now() + TIMEOUT,
                &metrics,
            )
            .await;
        handler += begun.elapsed();
        invocations += 1;
        drop(metrics.take_documents(0));
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        source.delete(&messages, &failed).await?;
    }
    let seconds = started.elapsed().as_secs_f64();

    let execution = check
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
    Ok(SyncReport {
        records: c.records_read,
        pages: c.pages,
        seconds,
        invocations,
        handler_seconds: handler.as_secs_f64(),
        requests: counter.snapshot(),
        operations: tally.snapshot(),
        event_source: delta(&BTreeMap::new(), &source.tally.snapshot()),
    })
}

/// Lambda's SQS poller, on a client of its own so its requests are tallied apart.
struct EventSource {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    tally: OperationTally,
}

impl EventSource {
    fn new(sdk: &SdkConfig, queue_url: &str) -> Self {
        let tally = OperationTally::default();
        let config = aws_sdk_sqs::config::Builder::from(sdk)
            .interceptor(AwsRequestCounter::new().interceptor(AwsService::Sqs))
            .interceptor(tally.clone())
            .build();
        Self {
            client: aws_sdk_sqs::Client::from_conf(config),
            queue_url: queue_url.to_owned(),
            tally,
        }
    }

    async fn poll(&self) -> anyhow::Result<Vec<Message>> {
        let received = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(BATCH_SIZE)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await?;
        Ok(received.messages.unwrap_or_default())
    }

    /// Deletes the messages not reported as failed, in one DeleteMessageBatch.
    async fn delete(&self, messages: &[Message], failed: &[&str]) -> anyhow::Result<()> {
        let mut request = self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url);
        let mut any = false;
        for (i, m) in messages.iter().enumerate() {
            if m.message_id
                .as_deref()
                .is_some_and(|id| failed.contains(&id))
            {
                continue;
            }
            request = request.entries(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()?,
            );
            any = true;
        }
        if any {
            let out = request.send().await?;
            ensure!(
                out.failed.is_empty(),
                "DeleteMessageBatch failed for {:?}",
                out.failed
            );
        }
        Ok(())
    }
}

/// SQS messages as the Lambda event source hands them over.
pub fn lambda_event(messages: &[Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for m in messages {
        let mut message = SqsMessage::default();
        message.message_id = m.message_id.clone();
        message.receipt_handle = m.receipt_handle.clone();
        message.body = m.body.clone();
        for (name, value) in m.attributes.iter().flatten() {
            message
                .attributes
                .insert(name.as_str().to_owned(), value.clone());
        }
        event.records.push(message);
    }
    event
}

/// Shared with the children: the worker handler's deadline and reserve.
pub fn worker_deadline() -> SystemTime {
    SystemTime::now() + TIMEOUT
}

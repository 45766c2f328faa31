//! Shared test fixtures for the engine: definitions, a scripted Dataverse, an Insider-like
//! sink, and a harness wiring them with the in-memory ports.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod changes;
pub mod sink;
pub mod source;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use dynsync_domain::Integration;
use dynsync_domain::execution::{Execution, Trigger};
use dynsync_domain::ports::{Connectors, DataSource, PortError, UserSink};
use dynsync_engine::memory::{ManualClock, MemoryQueue, MemoryStateStore};
use dynsync_engine::{Engine, EngineConfig, OnProgress, StartOutcome, run_until_finished};

pub use sink::FakeSink;
pub use source::ScriptedSource;

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The knobs of a test definition.
#[derive(Debug, Clone)]
pub struct Spec {
    pub id: String,
    pub fetch_mode: Option<&'static str>,
    pub days_to_get: u32,
    pub list: Option<&'static str>,
    pub page_size: u32,
    pub partitions: u32,
    pub fast_fail: bool,
    pub schedule: &'static str,
    pub enabled: bool,
    /// Top-level `removals` (with it the definition also identifies users by `uuid` on
    /// the primary id, which removals need).
    pub removals: Option<&'static str>,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            id: "contacts".into(),
            fetch_mode: None,
            days_to_get: 0,
            list: None,
            page_size: 10,
            partitions: 1,
            fast_fail: false,
            schedule: "0 * * * *",
            enabled: true,
            removals: None,
        }
    }
}

impl Spec {
    pub fn yaml(&self) -> String {
        let source = match self.list {
            Some(list) => format!("  list: \"{list}\"\n"),
            None => {
                let mut s = "  entity: contact\n".to_owned();
                if let Some(mode) = self.fetch_mode {
                    s.push_str(&format!("  fetch_mode: {mode}\n"));
                }
                if self.days_to_get > 0 {
                    s.push_str(&format!("  days_to_get: {}\n", self.days_to_get));
                }
                s
            }
        };
        let (uuid, removals) = match self.removals {
            Some(removals) => (
                "  - { type: uuid, field: contactid }\n",
                format!("removals: {removals}\n"),
            ),
            None => ("", String::new()),
        };
        format!(
            r#"id: {id}
method: {method}
schedule: "{schedule}"
enabled: {enabled}
dynamics:
  web_api_url: https://contoso.crm4.dynamics.com/api/data/v9.2
  auth:
    method: client_credentials
    token_url: https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token
    scopes: ["https://contoso.crm4.dynamics.com/.default"]
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: {{ secret: dynsync/test/dynamics }}
  page_size: {page_size}
  partitions: {partitions}
source:
{source}  fields: [contactid, emailaddress1, firstname, modifiedon]
identifiers:
  - {{ type: email, field: emailaddress1 }}
{uuid}{removals}attributes:
  - {{ key: name, field: firstname }}
events:
  name: {{ fixed: purchase }}
  timestamp: processing_time
insider:
  partner: acme
  token: {{ secret: dynsync/insider }}
  fast_fail: {fast_fail}
"#,
            id = self.id,
            method = if self.list.is_some() {
                "marketing_list"
            } else {
                "entity"
            },
            schedule = self.schedule,
            enabled = self.enabled,
            page_size = self.page_size,
            partitions = self.partitions,
            fast_fail = self.fast_fail,
            uuid = uuid,
            removals = removals,
        )
    }

    pub fn integration(&self) -> Integration {
        match Integration::from_yaml(&self.yaml()) {
            Ok(integration) => integration,
            Err(problems) => panic!("test definition is invalid: {:?}", problems.0),
        }
    }
}

pub struct FakeConnectors {
    pub source: Arc<ScriptedSource>,
    pub sink: Arc<FakeSink>,
}

#[async_trait::async_trait]
impl Connectors for FakeConnectors {
    async fn source(&self, _: &Integration) -> Result<Arc<dyn DataSource>, PortError> {
        Ok(self.source.clone())
    }
    async fn sink(&self, _: &Integration) -> Result<Arc<dyn UserSink>, PortError> {
        Ok(self.sink.clone())
    }
}

/// The engine over in-memory ports, a scripted source and a fake sink.
pub struct Harness {
    pub clock: Arc<ManualClock>,
    pub state: Arc<MemoryStateStore>,
    pub queue: Arc<MemoryQueue>,
    pub source: Arc<ScriptedSource>,
    pub sink: Arc<FakeSink>,
    pub engine: Arc<Engine>,
}

pub const START: &str = "2026-11-27T10:00:00Z";

impl Harness {
    pub fn new(source: ScriptedSource) -> Self {
        Self::with_queue(
            source,
            Arc::new(MemoryQueue::new(std::time::Duration::from_secs(30))),
        )
    }

    pub fn with_queue(source: ScriptedSource, queue: Arc<MemoryQueue>) -> Self {
        Self::wired(source, queue.clone(), queue)
    }

    /// `engine_queue` is what the engine sends to (e.g. a duplicating wrapper of `queue`).
    pub fn wired(
        source: ScriptedSource,
        queue: Arc<MemoryQueue>,
        engine_queue: Arc<dyn dynsync_domain::ports::PageQueue>,
    ) -> Self {
        let clock = Arc::new(ManualClock::new(at(START)));
        let state = Arc::new(MemoryStateStore::new(clock.clone()));
        let source = Arc::new(source);
        let sink = Arc::new(FakeSink::default());
        let connectors = Arc::new(FakeConnectors {
            source: source.clone(),
            sink: sink.clone(),
        });
        let engine = Arc::new(Engine::new(
            state.clone(),
            engine_queue,
            connectors,
            clock.clone(),
            EngineConfig::default(),
        ));
        Self {
            clock,
            state,
            queue,
            source,
            sink,
            engine,
        }
    }

    pub async fn start(&self, integration: &Integration) -> Execution {
        match self
            .engine
            .start_execution(integration, Trigger::Manual, "test")
            .await
            .unwrap()
        {
            StartOutcome::Started(execution) => execution,
            StartOutcome::AlreadyRunning { execution_id } => {
                panic!("unexpected: {execution_id} is already running")
            }
        }
    }

    /// Starts an execution and runs it to its end with two workers.
    pub async fn run(&self, integration: &Integration) -> Execution {
        let started = self.start(integration).await;
        if started.status.is_final() {
            return started;
        }
        self.finish(&started.id).await
    }

    pub async fn finish(&self, execution_id: &str) -> Execution {
        let progress: OnProgress = Arc::new(|_| {});
        run_until_finished(
            self.engine.clone(),
            self.queue.clone(),
            execution_id,
            2,
            progress,
        )
        .await
        .unwrap()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

/// `records_read = upserted + skipped + failed`, the rule that always holds.
pub fn assert_counters_add_up(execution: &Execution) {
    let c = execution.counters;
    assert_eq!(
        c.records_read,
        c.upserted + c.skipped + c.failed,
        "counters do not add up: {c:?}"
    );
}

/// A queue that sends every task twice: each page task is delivered (at least) twice.
pub struct DuplicatingQueue(pub Arc<MemoryQueue>);

#[async_trait::async_trait]
impl dynsync_domain::ports::PageQueue for DuplicatingQueue {
    async fn send(&self, tasks: &[dynsync_domain::execution::PageTask]) -> Result<(), PortError> {
        self.0.send(tasks).await?;
        self.0.send(tasks).await
    }
    async fn receive(
        &self,
        max: usize,
        wait: std::time::Duration,
    ) -> Result<Vec<dynsync_domain::ports::Delivery>, PortError> {
        self.0.receive(max, wait).await
    }
    async fn ack(&self, receipt: &str) -> Result<(), PortError> {
        self.0.ack(receipt).await
    }
    async fn release(&self, receipt: &str, delay: std::time::Duration) -> Result<(), PortError> {
        self.0.release(receipt, delay).await
    }
}

/// A queue whose `send` number `fail_on` (1-based) fails transiently, as when a worker
/// crashes between registering the next page and sending its task.
pub struct FlakySendQueue {
    pub inner: Arc<MemoryQueue>,
    pub fail_on: u32,
    pub sends: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl dynsync_domain::ports::PageQueue for FlakySendQueue {
    async fn send(&self, tasks: &[dynsync_domain::execution::PageTask]) -> Result<(), PortError> {
        let n = self.sends.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if n == self.fail_on {
            return Err(PortError::transient("SQS is unavailable"));
        }
        self.inner.send(tasks).await
    }
    async fn receive(
        &self,
        max: usize,
        wait: std::time::Duration,
    ) -> Result<Vec<dynsync_domain::ports::Delivery>, PortError> {
        self.inner.receive(max, wait).await
    }
    async fn ack(&self, receipt: &str) -> Result<(), PortError> {
        self.inner.ack(receipt).await
    }
    async fn release(&self, receipt: &str, delay: std::time::Duration) -> Result<(), PortError> {
        self.inner.release(receipt, delay).await
    }
}

//! Test fixtures for the worker handler: a paged in-memory Dataverse, an accepting Insider,
//! the engine over in-memory ports, and SQS events built from the queue's real deliveries
//! (so receipts, receive counts and releases behave as on SQS).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../../tests/src/definition.rs"]
mod yaml;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use dynsync_domain::execution::{Execution, SourcePlan, Trigger};
use dynsync_domain::ports::{
    BatchOutcome, Connectors, DataSource, Executions, PageQueue, PageRequest, PortError,
    SourcePage, UserSink,
};
use dynsync_domain::{InsiderUser, Integration, Record};
use dynsync_engine::memory::{ManualClock, MemoryQueue, MemoryStateStore};
use dynsync_engine::{Engine, EngineConfig, StartOutcome};
use dynsync_worker::Worker;
use yaml::Endpoints;

/// The `contacts` definition, hourly, its endpoints placeholders (nothing here calls them).
pub fn definition() -> String {
    let dynamics = Endpoints::placeholder().dynamics("dynsync/test/dynamics");
    let body = "source:
  entity: contact
  fields: [contactid, emailaddress1, firstname]
identifiers:
  - { type: email, field: emailaddress1 }
attributes:
  - { key: name, field: firstname }
insider:
  partner: acme
  token: { secret: dynsync/insider }
";
    format!(
        "id: contacts\nmethod: entity\nschedule: \"0 * * * *\"\n{dynamics}  page_size: 2\n{body}"
    )
}

pub fn contact(n: u32) -> Record {
    let mut record = Record::new();
    record.insert(
        "contactid".into(),
        format!("{n:08x}-0000-0000-0000-000000000000").into(),
    );
    record.insert(
        "emailaddress1".into(),
        format!("user{n}@example.com").into(),
    );
    record.insert("firstname".into(), format!("Name {n}").into());
    record
}

/// Pages of contacts; the cursor of page `i + 1` is the last id of page `i`.
#[derive(Default)]
pub struct PagedSource {
    pub pages: Vec<Vec<Record>>,
    pub transient_failures: AtomicU32,
    pub permanent_error: Mutex<Option<String>>,
    pub fetches: AtomicU32,
    /// Throttled replies each page reports having waited out.
    pub throttles_per_page: AtomicU32,
}

impl PagedSource {
    /// `total` contacts in pages of `page_size`.
    pub fn contacts(total: u32, page_size: usize) -> Self {
        let all: Vec<Record> = (1..=total).map(contact).collect();
        Self {
            pages: all.chunks(page_size).map(<[Record]>::to_vec).collect(),
            ..Self::default()
        }
    }

    fn last_id(page: &[Record]) -> Option<String> {
        page.last()
            .and_then(|r| r.get("contactid"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    }
}

#[async_trait::async_trait]
impl DataSource for PagedSource {
    async fn plan(&self, _: &Integration) -> Result<SourcePlan, PortError> {
        Ok(SourcePlan {
            entity: "contact".into(),
            entity_set: "contacts".into(),
            primary_id: "contactid".into(),
            labels: Default::default(),
            list: None,
        })
    }

    async fn fetch_page(&self, request: PageRequest<'_>) -> Result<SourcePage, PortError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if self
            .transient_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(PortError::transient("Dataverse answered 503"));
        }
        if let Some(message) = self.permanent_error.lock().unwrap().clone() {
            return Err(PortError::permanent(message));
        }
        let index = match request.cursor {
            None => 0,
            Some(cursor) => {
                self.pages
                    .iter()
                    .position(|p| Self::last_id(p).as_deref() == Some(cursor))
                    .unwrap()
                    + 1
            }
        };
        let records = self.pages.get(index).cloned().unwrap_or_default();
        let next_cursor = if index + 1 < self.pages.len() {
            Self::last_id(&records)
        } else {
            None
        };
        Ok(SourcePage {
            records,
            next_cursor,
            throttles: self.throttles_per_page.load(Ordering::SeqCst),
        })
    }
}

/// Accepts every user and counts them.
#[derive(Default)]
pub struct AcceptingSink {
    pub users: AtomicU32,
}

#[async_trait::async_trait]
impl UserSink for AcceptingSink {
    async fn upsert(&self, users: &[InsiderUser], _: bool) -> Result<BatchOutcome, PortError> {
        self.users
            .fetch_add(u32::try_from(users.len()).unwrap(), Ordering::SeqCst);
        Ok(BatchOutcome {
            accepted: users.len() as u64,
            failures: Vec::new(),
        })
    }
}

struct Fixed {
    source: Arc<PagedSource>,
    sink: Arc<AcceptingSink>,
}

#[async_trait::async_trait]
impl Connectors for Fixed {
    async fn source(&self, _: &Integration) -> Result<Arc<dyn DataSource>, PortError> {
        Ok(self.source.clone())
    }
    async fn sink(&self, _: &Integration) -> Result<Arc<dyn UserSink>, PortError> {
        Ok(self.sink.clone())
    }
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

pub struct Harness {
    pub state: Arc<MemoryStateStore>,
    pub queue: Arc<MemoryQueue>,
    pub source: Arc<PagedSource>,
    pub sink: Arc<AcceptingSink>,
    pub engine: Arc<Engine>,
    pub worker: Worker,
}

impl Harness {
    pub fn new(source: PagedSource) -> Self {
        let clock = Arc::new(ManualClock::new(at("2026-11-27T10:00:00Z")));
        let state = Arc::new(MemoryStateStore::new(clock.clone()));
        let queue = Arc::new(MemoryQueue::new(Duration::from_secs(1800)));
        let source = Arc::new(source);
        let sink = Arc::new(AcceptingSink::default());
        let connectors = Arc::new(Fixed {
            source: source.clone(),
            sink: sink.clone(),
        });
        let engine = Arc::new(Engine::new(
            state.clone(),
            queue.clone(),
            connectors,
            clock,
            EngineConfig::default(),
        ));
        let worker = Worker::new(engine.clone(), queue.clone(), Duration::from_secs(30));
        Self {
            state,
            queue,
            source,
            sink,
            engine,
            worker,
        }
    }

    pub async fn start(&self) -> Execution {
        let integration = Integration::from_yaml(&definition()).unwrap();
        match self
            .engine
            .start_execution(&integration, Trigger::Manual, "test")
            .await
            .unwrap()
        {
            StartOutcome::Started(execution) => execution,
            StartOutcome::AlreadyRunning { execution_id } => panic!("{execution_id} is running"),
        }
    }

    /// The visible messages of the queue as Lambda's SQS event would carry them.
    pub async fn receive(&self) -> SqsEvent {
        let deliveries = self.queue.receive(10, Duration::ZERO).await.unwrap();
        let mut event = SqsEvent::default();
        for delivery in deliveries {
            event.records.push(message(
                &delivery.receipt,
                &serde_json::to_string(&delivery.task).unwrap(),
                delivery.receive_count,
            ));
        }
        event
    }

    pub async fn execution(&self, id: &str) -> Execution {
        self.state.get_execution(id).await.unwrap().unwrap()
    }
}

/// An SQS message as Lambda delivers it; the receipt doubles as message id.
pub fn message(receipt: &str, body: &str, receive_count: u32) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(format!("msg-{receipt}"));
    message.receipt_handle = Some(receipt.to_owned());
    message.body = Some(body.to_owned());
    message
        .attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    message
}

pub fn far_deadline() -> SystemTime {
    SystemTime::now() + Duration::from_secs(600)
}

pub fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// The named metric summed over every EMF document.
pub fn metric_sum(documents: &[serde_json::Value], name: &str) -> f64 {
    documents
        .iter()
        .filter_map(|d| d.get(name))
        .map(|v| match v {
            serde_json::Value::Array(values) => values.iter().filter_map(|v| v.as_f64()).sum(),
            other => other.as_f64().unwrap_or(0.0),
        })
        .sum()
}

//! Schedule ticks that meet faults, against the engine over in-memory ports: a scheduled
//! start that fails transiently (the queue refuses the first pages) leaves its slot to the
//! next tick, which starts it, and still no slot ever gets two running executions, also
//! when two ticks race for it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dynsync_dispatcher::{Dispatcher, DispatcherError};
use dynsync_domain::execution::{ExecutionStatus, PageTask};
use dynsync_domain::ports::{Definitions, Delivery, Executions, PageQueue, PortError};
use dynsync_engine::memory::{ManualClock, MemoryQueue, MemoryStateStore};
use dynsync_telemetry::Metrics;
use serde_json::{Value, json};
use support::{PlanningSource, at, engine, scheduled_event};

/// A queue that refuses sends (transiently) while `down` is set, as SQS throttling would.
struct FlakyQueue {
    inner: Arc<MemoryQueue>,
    down: AtomicBool,
}

#[async_trait::async_trait]
impl PageQueue for FlakyQueue {
    async fn send(&self, tasks: &[PageTask]) -> Result<(), PortError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(PortError::transient("SQS is throttling SendMessage"));
        }
        self.inner.send(tasks).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, PortError> {
        self.inner.receive(max, wait).await
    }
    async fn ack(&self, receipt: &str) -> Result<(), PortError> {
        self.inner.ack(receipt).await
    }
    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), PortError> {
        self.inner.release(receipt, delay).await
    }
}

struct Harness {
    clock: Arc<ManualClock>,
    state: Arc<MemoryStateStore>,
    queue: Arc<FlakyQueue>,
    dispatcher: Arc<Dispatcher>,
}

impl Harness {
    async fn new() -> Self {
        let clock = Arc::new(ManualClock::new(at("2026-11-27T09:30:00Z")));
        let state = Arc::new(MemoryStateStore::new(clock.clone()));
        let queue = Arc::new(FlakyQueue {
            inner: Arc::new(MemoryQueue::new(Duration::from_secs(1800))),
            down: AtomicBool::new(false),
        });
        let source = Arc::new(PlanningSource::default());
        let engine = engine(&clock, &state, queue.clone(), &source).await;
        Self {
            clock,
            state,
            queue,
            dispatcher: Arc::new(Dispatcher::new(engine)),
        }
    }

    async fn tick(&self, at_time: &str, metrics: &Metrics) -> Result<Value, DispatcherError> {
        self.clock.set(at(at_time));
        let event = scheduled_event(at_time);
        self.dispatcher
            .handle(&event, "request-1", at(at_time), metrics)
            .await
    }

    async fn executions(&self) -> Vec<dynsync_domain::execution::Execution> {
        self.state
            .list_executions(Some("contacts"), 10)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_scheduled_start_that_fails_transiently_leaves_its_slot_to_the_next_tick() {
    let h = Harness::new().await;
    let metrics = Metrics::new("dispatcher");
    h.tick("2026-11-27T09:30:00Z", &metrics).await.unwrap();

    // The 10:00 slot is due, but SQS refuses the first page's task.
    h.queue.down.store(true, Ordering::SeqCst);
    let failed_tick = h.tick("2026-11-27T10:00:20Z", &metrics).await;
    assert_eq!(
        h.state.last_slot("contacts").await.unwrap(),
        Some(at("2026-11-27T09:00:00Z")),
        "the slot whose start failed is still due"
    );

    // A minute later SQS is back: the next tick starts the 10:00 slot.
    h.queue.down.store(false, Ordering::SeqCst);
    let retried = h.tick("2026-11-27T10:01:00Z", &metrics).await.unwrap();
    let started = retried["started"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        started.len(),
        1,
        "the slot was used up by the failed start: {retried}"
    );
    assert_eq!(
        h.state.last_slot("contacts").await.unwrap(),
        Some(at("2026-11-27T10:00:00Z"))
    );
    let duplicate = h.tick("2026-11-27T10:02:00Z", &metrics).await.unwrap();
    assert_eq!(duplicate["started"], json!([]), "{duplicate}");

    // One execution ran for the slot; the failed start queued nothing and says why.
    let executions = h.executions().await;
    let running: Vec<_> = executions
        .iter()
        .filter(|e| e.status == ExecutionStatus::Running)
        .collect();
    assert_eq!(running.len(), 1, "{executions:?}");
    assert_eq!(json!(running[0].id), started[0]);
    assert_eq!(h.queue.inner.pending().len(), 1);
    for other in executions
        .iter()
        .filter(|e| e.status != ExecutionStatus::Running)
    {
        assert!(
            other
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("could not queue"),
            "{other:?}"
        );
    }

    // The failing tick tried everything, then failed the invocation, naming what to retry.
    let error = failed_tick.expect_err("a tick that left work undone fails its invocation");
    let message = error.to_string();
    assert!(
        message.contains("contacts") && message.contains("next tick"),
        "{message}"
    );
    assert!(error.kind().is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_ticks_start_one_execution_for_a_slot() {
    let h = Harness::new().await;
    let metrics = Metrics::new("dispatcher");
    h.tick("2026-11-27T09:30:00Z", &metrics).await.unwrap();
    h.clock.set(at("2026-11-27T10:00:10Z"));
    let now = at("2026-11-27T10:00:10Z");
    let event = scheduled_event("2026-11-27T10:00:10Z");
    let ticks: Vec<_> = (0..8)
        .map(|n| {
            let (dispatcher, event) = (h.dispatcher.clone(), event.clone());
            tokio::spawn(async move {
                dispatcher
                    .handle(
                        &event,
                        &format!("request-{n}"),
                        now,
                        &Metrics::new("dispatcher"),
                    )
                    .await
            })
        })
        .collect();
    let mut started = 0;
    for tick in ticks {
        let answer = tick.await.unwrap().unwrap();
        started += answer["started"].as_array().map_or(0, Vec::len);
    }
    assert_eq!(started, 1);
    assert_eq!(h.executions().await.len(), 1);
    assert_eq!(h.queue.inner.pending().len(), 1);
}

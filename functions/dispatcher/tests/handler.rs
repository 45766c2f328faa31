//! The dispatcher handler against the engine over in-memory ports: manual runs, schedule
//! ticks (claimed once), stalled executions, and events it does not take.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use dynsync_dispatcher::{Dispatcher, DispatcherError};
use dynsync_domain::execution::ExecutionStatus;
use dynsync_domain::ports::Executions;
use dynsync_engine::memory::{ManualClock, MemoryQueue, MemoryStateStore};
use dynsync_telemetry::Metrics;
use serde_json::{Value, json};
use support::{PlanningSource, at, engine, scheduled_event};

struct Harness {
    clock: Arc<ManualClock>,
    state: Arc<MemoryStateStore>,
    queue: Arc<MemoryQueue>,
    source: Arc<PlanningSource>,
    dispatcher: Dispatcher,
}

impl Harness {
    async fn new() -> Self {
        let clock = Arc::new(ManualClock::new(at("2026-11-27T09:30:00Z")));
        let state = Arc::new(MemoryStateStore::new(clock.clone()));
        let queue = Arc::new(MemoryQueue::new(Duration::from_secs(1800)));
        let source = Arc::new(PlanningSource::default());
        let engine = engine(&clock, &state, queue.clone(), &source).await;
        Self {
            clock,
            state,
            queue,
            source,
            dispatcher: Dispatcher::new(engine),
        }
    }

    async fn invoke(&self, event: Value, metrics: &Metrics) -> Result<Value, DispatcherError> {
        let now = dynsync_domain::ports::Clock::now(self.clock.as_ref());
        self.dispatcher
            .handle(&event, "request-1", now, metrics)
            .await
    }

    async fn tick(&self, at_time: &str, metrics: &Metrics) -> Value {
        self.clock.set(at(at_time));
        let event = scheduled_event(at_time);
        self.invoke(event, metrics).await.unwrap()
    }
}

fn metric_sum(metrics: &Metrics, name: &str) -> f64 {
    metrics
        .take_documents(0)
        .iter()
        .filter_map(|d| d.get(name).and_then(Value::as_f64))
        .sum()
}

#[tokio::test]
async fn a_manual_event_starts_an_execution_and_answers_with_its_id_and_status() {
    let h = Harness::new().await;
    let metrics = Metrics::new("dispatcher");
    let answer = h
        .invoke(json!({"integration_id": "contacts"}), &metrics)
        .await
        .unwrap();
    assert_eq!(answer["status"], "running");
    assert_eq!(answer["started"], true);
    assert_eq!(answer["integration_id"], "contacts");
    let id = answer["execution_id"].as_str().unwrap();
    let stored = h.state.get_execution(id).await.unwrap().unwrap();
    assert_eq!(stored.status, ExecutionStatus::Running);
    let queued = h.queue.pending();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].execution_id, id);
    assert_eq!(metric_sum(&metrics, "ExecutionsStarted"), 1.0);
}

#[tokio::test]
async fn a_manual_event_while_one_runs_answers_with_the_running_execution() {
    let h = Harness::new().await;
    let metrics = Metrics::new("dispatcher");
    let first = h
        .invoke(json!({"integration_id": "contacts"}), &metrics)
        .await
        .unwrap();
    let second = h
        .invoke(json!({"integration_id": "contacts"}), &metrics)
        .await
        .unwrap();
    assert_eq!(second["started"], false);
    assert_eq!(second["status"], "running");
    assert_eq!(second["execution_id"], first["execution_id"]);
    assert_eq!(h.queue.pending().len(), 1);
}

#[tokio::test]
async fn a_manual_run_that_cannot_plan_is_a_failed_execution_saying_why() {
    let h = Harness::new().await;
    *h.source.plan_error.lock().unwrap() = Some("Entra ID rejected the client secret".into());
    let metrics = Metrics::new("dispatcher");
    let answer = h
        .invoke(json!({"integration_id": "contacts"}), &metrics)
        .await
        .unwrap();
    assert_eq!(answer["status"], "failed");
    assert_eq!(answer["started"], true);
    assert!(answer["error"].as_str().unwrap().contains("client secret"));
    let documents = metrics.take_documents(0);
    assert_eq!(documents[0]["ExecutionsStarted"], json!(1.0));
    assert_eq!(documents[0]["ExecutionsFailed"], json!(1.0));
}

#[tokio::test]
async fn a_manual_event_for_an_unknown_integration_says_to_push_it() {
    let h = Harness::new().await;
    let error = h
        .invoke(
            json!({"integration_id": "nope"}),
            &Metrics::new("dispatcher"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, DispatcherError::UnknownIntegration(_)));
    assert!(error.to_string().contains("'nope'") && error.to_string().contains("push"));
    assert!(!error.kind().is_transient());
}

#[tokio::test]
async fn ticks_start_each_due_slot_once() {
    let h = Harness::new().await;
    let metrics = Metrics::new("dispatcher");
    // The first tick only records the latest slot (09:00): the first run is at 10:00.
    let first = h.tick("2026-11-27T09:30:00Z", &metrics).await;
    assert_eq!(first["initialised"], json!(["contacts"]));
    assert!(h.queue.pending().is_empty());

    let due = h.tick("2026-11-27T10:00:20Z", &metrics).await;
    assert_eq!(due["started"].as_array().map(Vec::len), Some(1));
    let duplicate = h.tick("2026-11-27T10:00:40Z", &metrics).await;
    assert_eq!(duplicate["started"], json!([]));
    assert_eq!(duplicate["already_running"], json!([]));
    assert_eq!(h.queue.pending().len(), 1);
    assert_eq!(metric_sum(&metrics, "ExecutionsStarted"), 1.0);
}

#[tokio::test]
async fn a_tick_fails_executions_whose_pages_stopped_moving() {
    let h = Harness::new().await;
    let metrics = Metrics::new("dispatcher");
    let answer = h
        .invoke(json!({"integration_id": "contacts"}), &metrics)
        .await
        .unwrap();
    let id = answer["execution_id"].as_str().unwrap().to_owned();
    metrics.take_documents(0);

    let summary = h.tick("2026-11-27T10:15:00Z", &metrics).await;
    assert_eq!(summary["stalled"], json!([id]));
    let stalled = h.state.get_execution(&id).await.unwrap().unwrap();
    assert_eq!(stalled.status, ExecutionStatus::Failed);
    assert!(stalled.error.unwrap_or_default().contains("stalled"));
    assert_eq!(metric_sum(&metrics, "ExecutionsFailed"), 1.0);
}

#[tokio::test]
async fn events_the_dispatcher_does_not_take_are_errors_saying_what_it_takes() {
    let h = Harness::new().await;
    for event in [
        json!({}),
        json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {}}),
    ] {
        let error = h
            .invoke(event, &Metrics::new("dispatcher"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, DispatcherError::UnrecognisedEvent(_)),
            "{error}"
        );
        assert!(error.to_string().contains("integration_id"));
    }
}

//! The scheduler's tick, run locks and stalled executions: due slots start one execution,
//! duplicate ticks start nothing, missed slots run once, paused integrations are skipped,
//! the first tick only records the slot, and a stalled execution is failed with its lock
//! released and its watermark untouched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::Duration;
use dynsync_domain::execution::{ExecutionStatus, Trigger};
use dynsync_domain::ports::{Clock, Definitions, Executions, PageQueue, RunLocks, SyncState};
use dynsync_engine::{StartOutcome, TickOutcome, TickReport};
use support::source::contacts;
use support::{Harness, ScriptedSource, Spec, at};

fn harness() -> Harness {
    Harness::new(ScriptedSource::new(contacts(
        0,
        3,
        at("2026-11-27T09:00:00Z"),
    )))
}

async fn store(harness: &Harness, spec: &Spec) {
    let definition = spec.integration().definition().clone();
    harness.state.put_definition(&definition).await.unwrap();
}

/// A scheduled tick at `time` (RFC 3339).
async fn tick(harness: &Harness, time: &str) -> TickReport {
    harness.engine.tick(at(time), "t").await.unwrap()
}

/// The default spec stored and its first tick (10:30) taken: the 10:00 slot is recorded,
/// 11:00 is the next due.
async fn initialised() -> Harness {
    let harness = harness();
    store(&harness, &Spec::default()).await;
    tick(&harness, "2026-11-27T10:30:00Z").await;
    harness
}

fn started_ids(report: &TickReport) -> Vec<String> {
    report
        .starts
        .iter()
        .filter_map(|s| match &s.outcome {
            TickOutcome::Started(StartOutcome::Started(e)) => Some(e.id.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_first_tick_records_the_latest_slot_without_running() {
    let harness = harness();
    store(&harness, &Spec::default()).await;

    let report = harness
        .engine
        .tick(at("2026-11-27T10:30:00Z"), "tick-1")
        .await
        .unwrap();

    assert_eq!(report.starts.len(), 1);
    assert_eq!(report.starts[0].outcome, TickOutcome::Initialised);
    assert_eq!(report.starts[0].slot, Some(at("2026-11-27T10:00:00Z")));
    assert_eq!(
        harness.state.last_slot("contacts").await.unwrap(),
        Some(at("2026-11-27T10:00:00Z"))
    );
    assert!(
        harness
            .state
            .list_executions(None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn a_due_slot_starts_one_execution_and_a_duplicate_tick_starts_nothing() {
    let harness = initialised().await;

    let not_due = tick(&harness, "2026-11-27T10:59:59Z").await;
    assert!(not_due.starts.is_empty());

    let due = tick(&harness, "2026-11-27T11:00:05Z").await;
    assert_eq!(started_ids(&due).len(), 1);
    assert_eq!(due.starts[0].slot, Some(at("2026-11-27T11:00:00Z")));
    let duplicate = tick(&harness, "2026-11-27T11:00:35Z").await;
    assert!(duplicate.starts.is_empty());

    let executions = harness
        .state
        .list_executions(Some("contacts"), 10)
        .await
        .unwrap();
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0].trigger, Trigger::Schedule);
    assert_eq!(
        harness.finish(&executions[0].id).await.status,
        ExecutionStatus::Succeeded
    );
}

#[tokio::test(start_paused = true)]
async fn missed_slots_run_once_not_once_each() {
    let harness = initialised().await;

    // The scheduler was down for four hours.
    let report = tick(&harness, "2026-11-27T14:10:00Z").await;

    assert_eq!(started_ids(&report).len(), 1);
    assert_eq!(report.starts[0].slot, Some(at("2026-11-27T14:00:00Z")));
    let again = tick(&harness, "2026-11-27T14:20:00Z").await;
    assert!(again.starts.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_paused_integration_is_skipped_until_it_is_resumed() {
    let harness = initialised().await;
    assert!(harness.state.set_enabled("contacts", false).await.unwrap());

    let paused = tick(&harness, "2026-11-27T11:00:00Z").await;
    assert!(paused.starts.is_empty());

    assert!(harness.state.set_enabled("contacts", true).await.unwrap());
    let resumed = tick(&harness, "2026-11-27T11:01:00Z").await;
    assert_eq!(started_ids(&resumed).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_slot_due_while_an_execution_runs_reports_the_running_one() {
    let harness = initialised().await;
    let first = tick(&harness, "2026-11-27T11:00:00Z").await;
    let running = started_ids(&first).remove(0);

    let second = tick(&harness, "2026-11-27T12:00:00Z").await;

    assert_eq!(
        second.starts[0].outcome,
        TickOutcome::Started(StartOutcome::AlreadyRunning {
            execution_id: running
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_second_start_while_one_runs_is_refused_until_the_lock_expires() {
    let harness = harness();
    let integration = Spec::default().integration();
    let first = harness.start(&integration).await;

    let refused = harness
        .engine
        .start_execution(&integration, Trigger::Manual, "other")
        .await
        .unwrap();
    assert_eq!(
        refused,
        StartOutcome::AlreadyRunning {
            execution_id: first.id.clone()
        }
    );
    let (holder, owner, _) = harness
        .state
        .lock_holder("contacts")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (holder.as_str(), owner.as_str()),
        (first.id.as_str(), "test")
    );

    // A crashed run's lock is stale after lock_ttl (2 hours) without progress.
    harness.advance(Duration::hours(2) + Duration::seconds(1));
    let taken = harness
        .engine
        .start_execution(&integration, Trigger::Manual, "other")
        .await
        .unwrap();
    assert!(matches!(taken, StartOutcome::Started(ref e) if e.id != first.id));
}

#[tokio::test(start_paused = true)]
async fn a_stalled_execution_is_failed_its_lock_released_and_its_watermark_untouched() {
    let harness = harness();
    let spec = Spec {
        fetch_mode: Some("new_and_updated"),
        ..Spec::default()
    };
    store(&harness, &spec).await;
    let integration = spec.integration();
    let done = harness.run(&integration).await;
    let mark = harness.state.watermark("contacts").await.unwrap();
    assert_eq!(mark, done.window.and_then(|w| w.to));

    harness.advance(Duration::hours(1));
    let stuck = harness.start(&integration).await;
    // Its page tasks are lost.
    while !harness.queue.is_empty() {
        for d in harness
            .queue
            .receive(10, std::time::Duration::ZERO)
            .await
            .unwrap()
        {
            harness.queue.ack(&d.receipt).await.unwrap();
        }
    }

    harness.advance(Duration::minutes(29));
    assert!(harness.engine.fail_stalled().await.unwrap().is_empty());
    harness.advance(Duration::minutes(2));
    let report = harness
        .engine
        .tick(harness_now(&harness), "t")
        .await
        .unwrap();

    assert_eq!(
        report
            .stalled
            .iter()
            .map(|e| e.id.clone())
            .collect::<Vec<_>>(),
        vec![stuck.id.clone()]
    );
    let failed = harness
        .state
        .get_execution(&stuck.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(
        failed
            .error
            .unwrap()
            .starts_with("stalled: no page completed since")
    );
    assert_eq!(harness.state.lock_holder("contacts").await.unwrap(), None);
    assert_eq!(harness.state.watermark("contacts").await.unwrap(), mark);
}

fn harness_now(harness: &Harness) -> chrono::DateTime<chrono::Utc> {
    harness.clock.now()
}

#[tokio::test(start_paused = true)]
async fn a_long_run_renews_its_lock_once_half_of_it_has_gone() {
    let harness = Harness::new(ScriptedSource::new(contacts(
        0,
        30,
        at("2020-01-01T00:00:00Z"),
    )));
    let integration = Spec::default().integration();
    let started = harness.start(&integration).await;
    let (_, _, first_expiry) = harness
        .state
        .lock_holder("contacts")
        .await
        .unwrap()
        .unwrap();

    // The first page, at once, finds plenty of the lock left (the engine remembers its
    // expiry and reads it no more); the second, 90 minutes later, renews it.
    for minutes in [0, 90] {
        harness.advance(Duration::minutes(minutes));
        let delivery = harness
            .queue
            .receive(1, std::time::Duration::ZERO)
            .await
            .unwrap()
            .remove(0);
        harness
            .engine
            .process_page(&delivery.task, 1)
            .await
            .unwrap();
    }

    let (holder, _, renewed) = harness
        .state
        .lock_holder("contacts")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder, started.id);
    assert_eq!(renewed, first_expiry + Duration::minutes(90));
}

#[tokio::test(start_paused = true)]
async fn a_local_run_whose_tasks_are_lost_ends_failed_once_it_stalls() {
    let harness = harness();
    let started = harness.start(&Spec::default().integration()).await;
    for d in harness
        .queue
        .receive(10, std::time::Duration::ZERO)
        .await
        .unwrap()
    {
        harness.queue.ack(&d.receipt).await.unwrap();
    }
    harness.advance(Duration::minutes(31));

    let execution = harness.finish(&started.id).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert!(execution.error.unwrap().starts_with("stalled"));
}

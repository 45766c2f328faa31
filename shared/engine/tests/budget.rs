//! The local runner's memory bound (issue 13): the pages in flight hold at most
//! `EngineConfig::pages_in_flight_bytes` of records together, whatever `--concurrency`
//! allows, and a budget smaller than one page still lets every page through, one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use dynsync_domain::execution::ExecutionStatus;
use dynsync_engine::{Engine, EngineConfig, OnProgress, run_until_finished};
use support::source::contacts;
use support::{FakeConnectors, Harness, ScriptedSource, Spec, at};

/// Runs 4 partitions of 40 contacts with 4 workers and `budget` bytes for the pages in
/// flight; returns the most page fetches seen at once and the harness.
async fn run_with_budget(budget: usize) -> (u32, Harness) {
    let harness = Harness::new(ScriptedSource::new(contacts(
        0,
        40,
        at("2026-11-01T00:00:00Z"),
    )));
    harness.source.yield_in_fetch();
    let engine = Arc::new(Engine::new(
        harness.state.clone(),
        harness.queue.clone(),
        Arc::new(FakeConnectors {
            source: harness.source.clone(),
            sink: harness.sink.clone(),
        }),
        harness.clock.clone(),
        EngineConfig {
            pages_in_flight_bytes: budget,
            ..EngineConfig::default()
        },
    ));
    let integration = Spec {
        page_size: 5,
        partitions: 4,
        ..Spec::default()
    }
    .integration();
    let started = match engine
        .start_execution(
            &integration,
            dynsync_domain::execution::Trigger::Manual,
            "test",
        )
        .await
        .unwrap()
    {
        dynsync_engine::StartOutcome::Started(execution) => execution,
        other => panic!("not started: {other:?}"),
    };
    let progress: OnProgress = Arc::new(|_| {});
    let finished = run_until_finished(engine, harness.queue.clone(), &started.id, 4, progress)
        .await
        .unwrap();
    assert_eq!(finished.status, ExecutionStatus::Succeeded, "{finished:?}");
    assert_eq!(finished.counters.upserted, 40);
    assert_eq!(harness.sink.accepted().len(), 40);
    assert!(harness.sink.accepted().values().all(|&n| n == 1));
    (harness.source.most_concurrent_fetches(), harness)
}

#[tokio::test]
async fn with_room_for_many_pages_the_workers_fetch_pages_at_once() {
    let (most, _) = run_with_budget(EngineConfig::default().pages_in_flight_bytes).await;
    assert!(most > 1, "4 workers and 4 partitions overlapped no fetch");
}

#[tokio::test]
async fn a_budget_smaller_than_one_page_runs_every_page_alone_and_loses_nothing() {
    let (most, _) = run_with_budget(1).await;
    assert_eq!(
        most, 1,
        "pages overlapped although each one fills the budget"
    );
}

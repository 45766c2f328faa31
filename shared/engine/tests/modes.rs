//! Fetch modes across runs: the window each execution fixes, the records it reads, and the
//! watermark that moves only when an incremental execution ends without failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::Duration;
use dynsync_domain::ErrorKind;
use dynsync_domain::execution::{ExecutionStatus, Window};
use dynsync_domain::ports::{Executions, RunLocks, SyncState};
use support::source::{contact, contacts};
use support::{Harness, ScriptedSource, Spec, assert_counters_add_up, at};

#[tokio::test(start_paused = true)]
async fn fetch_mode_all_reads_every_record_with_no_window_and_no_watermark() {
    let harness = Harness::new(ScriptedSource::new(contacts(
        0,
        25,
        at("2020-01-01T00:00:00Z"),
    )));
    let integration = Spec::default().integration();

    let execution = harness.run(&integration).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.window, None);
    assert_eq!(execution.counters.records_read, 25);
    assert_eq!(execution.counters.upserted, 25);
    assert_eq!(execution.counters.events_sent, 25);
    assert_eq!(execution.counters.pages, 3);
    assert!(execution.finished_at.is_some());
    assert_counters_add_up(&execution);
    assert_eq!(harness.state.watermark("contacts").await.unwrap(), None);
    assert_eq!(harness.state.lock_holder("contacts").await.unwrap(), None);

    // A second run reads everything again.
    harness.advance(Duration::hours(1));
    let again = harness.run(&integration).await;
    assert_eq!(again.counters.records_read, 25);
}

#[tokio::test(start_paused = true)]
async fn days_to_get_reads_only_records_modified_in_the_last_n_days() {
    let start = at(support::START);
    let mut rows = contacts(0, 4, start - Duration::days(1));
    rows.extend(contacts(100, 3, start - Duration::days(10)));
    let harness = Harness::new(ScriptedSource::new(rows));
    let integration = Spec {
        days_to_get: 7,
        ..Spec::default()
    }
    .integration();

    let execution = harness.run(&integration).await;

    assert_eq!(
        execution.window,
        Some(Window {
            from: Some(start - Duration::days(7)),
            to: None
        })
    );
    assert_eq!(execution.counters.records_read, 4);
    assert_eq!(harness.state.watermark("contacts").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn new_and_updated_windows_are_half_open_consecutive_and_never_overlap() {
    let start = at(support::START); // 10:00, safety lag 5 minutes
    let lag_edge = at("2026-11-27T09:55:00Z");
    let mut rows = contacts(0, 5, at("2026-11-27T09:00:00Z"));
    rows.push(contact(50, Some("edge@example.com"), lag_edge, lag_edge));
    rows.extend(contacts(60, 2, at("2026-11-27T09:57:00Z")));
    let harness = Harness::new(ScriptedSource::new(rows));
    let integration = Spec {
        fetch_mode: Some("new_and_updated"),
        ..Spec::default()
    }
    .integration();

    let first = harness.run(&integration).await;
    assert_eq!(
        first.window,
        Some(Window {
            from: None,
            to: Some(lag_edge)
        })
    );
    // The record modified exactly at `to` and the late ones belong to the next window.
    assert_eq!(first.counters.records_read, 5);
    assert_eq!(
        harness.state.watermark("contacts").await.unwrap(),
        Some(lag_edge)
    );

    harness.advance(Duration::hours(1));
    harness
        .source
        .put(contacts(200, 3, at("2026-11-27T10:30:00Z")));
    let second = harness.run(&integration).await;
    assert_eq!(
        second.window,
        Some(Window {
            from: Some(lag_edge),
            to: Some(start + Duration::minutes(55))
        })
    );
    assert_eq!(second.counters.records_read, 1 + 2 + 3);
    assert_eq!(
        harness.state.watermark("contacts").await.unwrap(),
        Some(start + Duration::minutes(55))
    );
    // No record was read by both runs: nobody received an event twice.
    assert_eq!(harness.sink.max_events_per_user(), 1);
    assert_eq!(harness.sink.accepted_users(), 11);
}

#[tokio::test(start_paused = true)]
async fn only_updated_skips_records_created_since_the_last_sync() {
    let long_ago = at("2026-01-01T00:00:00Z");
    let harness = Harness::new(ScriptedSource::new(contacts(0, 3, long_ago)));
    let integration = Spec {
        fetch_mode: Some("only_updated"),
        ..Spec::default()
    }
    .integration();

    // First run: no `from`, so the createdon condition is dropped and all are read.
    let first = harness.run(&integration).await;
    assert_eq!(first.counters.records_read, 3);

    harness.advance(Duration::hours(1));
    let modified = at("2026-11-27T10:30:00Z");
    harness.source.put(vec![
        contact(0, Some("user0@example.com"), long_ago, modified), // updated: read
        contact(300, Some("new@example.com"), modified, modified), // created since: not read
    ]);
    let second = harness.run(&integration).await;
    assert_eq!(second.counters.records_read, 1);
    assert_eq!(second.status, ExecutionStatus::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn a_failed_execution_leaves_the_watermark_where_the_last_success_put_it() {
    let harness = Harness::new(ScriptedSource::new(contacts(
        0,
        3,
        at("2026-11-27T09:00:00Z"),
    )));
    let integration = Spec {
        fetch_mode: Some("new_and_updated"),
        ..Spec::default()
    }
    .integration();
    let first = harness.run(&integration).await;
    let mark = first.window.and_then(|w| w.to);
    assert!(mark.is_some());

    harness.advance(Duration::hours(1));
    harness
        .source
        .fail_fetches_permanently("invalid FetchXML: check source.filter");
    let failed = harness.run(&integration).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .contains("check source.filter")
    );
    assert_eq!(harness.state.watermark("contacts").await.unwrap(), mark);
    assert_eq!(harness.state.lock_holder("contacts").await.unwrap(), None);

    // The next run starts from the last successful window's end: nothing is lost.
    harness.advance(Duration::hours(1));
    harness.source.heal();
    harness
        .source
        .put(contacts(10, 2, at("2026-11-27T10:30:00Z")));
    let third = harness.run(&integration).await;
    assert_eq!(third.window.and_then(|w| w.from), mark);
    assert_eq!(third.counters.records_read, 2);
}

#[tokio::test(start_paused = true)]
async fn completed_with_failures_still_moves_the_watermark() {
    let harness = Harness::new(ScriptedSource::new(contacts(
        0,
        4,
        at("2026-11-27T09:00:00Z"),
    )));
    harness.sink.reject_email("user2@example.com");
    let integration = Spec {
        fetch_mode: Some("new_and_updated"),
        ..Spec::default()
    }
    .integration();

    let execution = harness.run(&integration).await;

    assert_eq!(execution.status, ExecutionStatus::CompletedWithFailures);
    assert_eq!(
        harness.state.watermark("contacts").await.unwrap(),
        execution.window.and_then(|w| w.to)
    );
}

#[tokio::test(start_paused = true)]
async fn a_marketing_list_reads_all_members_every_run_with_no_window() {
    let harness = Harness::new(ScriptedSource::new(contacts(
        0,
        12,
        at("2020-01-01T00:00:00Z"),
    )));
    let integration = Spec {
        list: Some("VIP Segment"),
        ..Spec::default()
    }
    .integration();

    let first = harness.run(&integration).await;
    harness.advance(Duration::hours(1));
    let second = harness.run(&integration).await;

    for execution in [&first, &second] {
        assert_eq!(execution.status, ExecutionStatus::Succeeded);
        assert_eq!(execution.window, None);
        assert_eq!(execution.counters.records_read, 12);
    }
    assert_eq!(harness.state.watermark("contacts").await.unwrap(), None);
    let plan = harness.state.get_plan(&first.id).await.unwrap().unwrap();
    assert_eq!(
        plan.source.list.map(|l| l.name).as_deref(),
        Some("VIP Segment")
    );
}

#[tokio::test(start_paused = true)]
async fn partitions_split_the_reading_and_every_record_is_read_once() {
    let harness = Harness::new(ScriptedSource::new(contacts(
        0,
        40,
        at("2020-01-01T00:00:00Z"),
    )));
    let integration = Spec {
        partitions: 4,
        page_size: 3,
        ..Spec::default()
    }
    .integration();

    let execution = harness.run(&integration).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.counters.records_read, 40);
    assert_eq!(harness.sink.accepted_users(), 40);
    assert!(harness.sink.accepted().values().all(|n| *n == 1));
    let plan = harness
        .state
        .get_plan(&execution.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plan.partitions.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_plan_failure_is_a_failed_execution_that_says_what_to_fix_and_frees_the_lock() {
    let harness = Harness::new(ScriptedSource::new(Vec::new()));
    harness.source.fail_plan(
        ErrorKind::Permanent,
        "Entra ID rejected the client credentials: check dynamics.auth.client_id and the client secret",
    );
    let integration = Spec::default().integration();

    let execution = harness.run(&integration).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert!(
        execution
            .error
            .as_deref()
            .unwrap()
            .contains("check dynamics.auth.client_id")
    );
    assert!(execution.finished_at.is_some());
    let stored = harness
        .state
        .get_execution(&execution.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, execution);
    assert_eq!(harness.state.lock_holder("contacts").await.unwrap(), None);
    assert_eq!(harness.state.get_plan(&execution.id).await.unwrap(), None);
    assert!(harness.queue.is_empty());
}

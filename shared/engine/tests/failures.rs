//! Record failures, fast fail, whole-batch failures, transient errors and the receive
//! limit: every record ends upserted, skipped or failed, and the counters add up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use dynsync_domain::execution::{ExecutionStatus, MAX_RECORDED_FAILURES};
use dynsync_domain::ports::{RunLocks, SyncState};
use dynsync_engine::{OnProgress, run_until_finished};
use support::source::{contact, contacts};
use support::{Harness, ScriptedSource, Spec, assert_counters_add_up, at};

fn old() -> chrono::DateTime<chrono::Utc> {
    at("2020-01-01T00:00:00Z")
}

#[tokio::test(start_paused = true)]
async fn rejected_users_and_records_without_identifiers_are_counted_and_listed() {
    let mut rows = contacts(0, 20, old());
    rows.push(contact(500, None, old(), old()));
    rows.push(contact(501, Some("not an email"), old(), old()));
    let harness = Harness::new(ScriptedSource::new(rows));
    harness.sink.reject_email("user3@example.com");
    harness.sink.reject_email("user17@example.com");

    let execution = harness.run(&Spec::default().integration()).await;

    assert_eq!(execution.status, ExecutionStatus::CompletedWithFailures);
    let c = execution.counters;
    assert_eq!(c.records_read, 22);
    assert_eq!(c.skipped, 2);
    assert_eq!(c.failed, 2);
    assert_eq!(c.upserted, 18);
    assert_eq!(c.events_sent, 18);
    assert_counters_add_up(&execution);
    let mut failed: Vec<String> = execution
        .failures
        .iter()
        .map(|f| f.record_id.clone())
        .collect();
    failed.sort();
    let mut expected = vec![
        support::source::contact(3, None, old(), old()).id,
        support::source::contact(17, None, old(), old()).id,
    ];
    expected.sort();
    assert_eq!(failed, expected);
    assert!(
        execution
            .failures
            .iter()
            .all(|f| f.reason.contains("invalid email"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_refused_as_a_whole_fails_the_execution_with_the_fix_and_counts_its_users_failed() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 150, old())));
    harness
        .sink
        .fail_permanently("Insider answered 400: Partner is invalid; check insider.partner");
    let integration = Spec {
        page_size: 50,
        ..Spec::default()
    }
    .integration();

    let execution = harness.run(&integration).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    let error = execution.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("Insider refused batch 1 of page"),
        "{error}"
    );
    assert!(error.contains("check insider.partner"), "{error}");
    assert!(execution.counters.failed >= 50, "{:?}", execution.counters);
    assert_eq!(execution.counters.upserted, 0);
    assert_eq!(execution.counters.events_sent, 0);
    assert!(
        execution
            .failures
            .iter()
            .all(|f| f.reason.contains("check insider.partner") || f.reason.starts_with("not sent"))
    );
    assert_counters_add_up(&execution);
}

#[tokio::test(start_paused = true)]
async fn fast_fail_stops_the_execution_at_the_first_failed_batch() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 30, old())));
    let integration = Spec {
        fast_fail: true,
        ..Spec::default()
    }
    .integration();
    // The second page (in id order) holds a user Insider rejects.
    let second_page_email = {
        let mut rows = contacts(0, 30, old());
        rows.sort_by_key(|r| {
            dynsync_fetchxml::sql_server_key(&dynsync_fetchxml::parse_guid("id", &r.id).unwrap())
        });
        rows[12].record["emailaddress1"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    harness.sink.reject_email(&second_page_email);

    let started = harness.start(&integration).await;
    let progress: OnProgress = Arc::new(|_| {});
    let execution = run_until_finished(
        harness.engine.clone(),
        harness.queue.clone(),
        &started.id,
        1,
        progress,
    )
    .await
    .unwrap();

    assert_eq!(execution.status, ExecutionStatus::Failed);
    let error = execution.error.clone().unwrap();
    assert!(
        error.starts_with("fast fail: batch 1 of page 0:")
            && error.contains("had 1 rejected users: "),
        "{error}"
    );
    assert_eq!(
        execution.counters.records_read, 20,
        "the third page is not processed"
    );
    assert_eq!(execution.counters.failed, 1);
    assert_eq!(execution.counters.upserted, 19);
    assert_counters_add_up(&execution);
    assert_eq!(harness.sink.accepted_users(), 19);
    assert_eq!(harness.state.watermark("contacts").await.unwrap(), None);
    assert_eq!(harness.state.lock_holder("contacts").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn a_transient_insider_error_on_the_second_batch_resends_only_that_batch() {
    // One page of 1,500 users: batches of 1,000 and 500.
    let harness = Harness::new(ScriptedSource::new(contacts(0, 1500, old())));
    harness.sink.fail_call(2);
    let integration = Spec {
        page_size: 2000,
        ..Spec::default()
    }
    .integration();

    let execution = harness.run(&integration).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.counters.records_read, 1500);
    assert_eq!(execution.counters.upserted, 1500);
    assert_eq!(execution.counters.events_sent, 1500);
    assert_eq!(execution.counters.pages, 1);
    // Call 1 (batch 1) succeeded, call 2 (batch 2) failed, call 3 resent batch 2 only.
    assert_eq!(harness.sink.calls(), 3);
    assert_eq!(harness.sink.batch_sizes(), vec![1000, 500]);
    assert!(harness.sink.accepted().values().all(|n| *n == 1));
    assert_eq!(harness.sink.max_events_per_user(), 1);
}

#[tokio::test(start_paused = true)]
async fn transient_dataverse_errors_are_retried_and_lose_nothing() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 25, old())));
    harness.source.fail_fetches_transiently(3);

    let execution = harness.run(&Spec::default().integration()).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.counters.records_read, 25);
    assert_eq!(execution.counters.upserted, 25);
    assert_eq!(harness.source.fetches(), 3 + 3);
}

#[tokio::test(start_paused = true)]
async fn a_page_failing_on_every_delivery_fails_the_execution_with_its_last_error() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 5, old())));
    harness.source.fail_fetches_transiently(1000);

    let execution = harness.run(&Spec::default().integration()).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    let error = execution.error.unwrap();
    assert!(
        error.contains("failed 5 times; last error: Dataverse: Dataverse answered 503"),
        "{error}"
    );
    assert_eq!(harness.source.fetches(), 5);
    assert_eq!(harness.state.lock_holder("contacts").await.unwrap(), None);
    assert!(harness.queue.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_permanent_dataverse_error_fails_the_execution_at_once() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 5, old())));
    harness.source.fail_fetches_permanently(
        "Dataverse answered 400: 'gendercod' is not an attribute of contact; check source.fields",
    );

    let execution = harness.run(&Spec::default().integration()).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert!(execution.error.unwrap().contains("check source.fields"));
    assert_eq!(harness.source.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn fast_fail_counts_the_users_it_did_not_send_as_failed_so_the_counters_add_up() {
    // One page of 2,500 users: batches of 1,000, 1,000 and 500; the first one fails.
    let harness = Harness::new(ScriptedSource::new(contacts(0, 2500, old())));
    harness.sink.reject_index(0);
    let integration = Spec {
        page_size: 5000,
        fast_fail: true,
        ..Spec::default()
    }
    .integration();

    let execution = harness.run(&integration).await;

    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert!(
        execution
            .error
            .as_deref()
            .unwrap()
            .starts_with("fast fail: batch 1 of page 0:start had 1 rejected users")
    );
    let c = execution.counters;
    assert_eq!((c.records_read, c.upserted, c.failed), (2500, 999, 1501));
    assert_counters_add_up(&execution);
    assert_eq!(harness.sink.batch_sizes(), vec![1000]);
    assert_eq!(execution.failures.len(), MAX_RECORDED_FAILURES);
    assert!(
        execution.failures[1]
            .reason
            .starts_with("not sent: the execution stopped at an earlier batch")
    );
}

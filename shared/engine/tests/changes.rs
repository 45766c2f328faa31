//! Fetch mode `changes` across runs (issue 11): the first run is a full read that keeps the
//! delta link, later runs read only what changed since the last successful run, changed
//! records the filter no longer selects are skipped, an expired token makes a full read, and
//! the token moves only when an execution does not fail. Removals: `changes_removals.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use chrono::Duration;
use dynsync_domain::execution::ExecutionStatus;
use dynsync_domain::ports::{Executions, PageQueue, SyncState};
use support::changes::{OLD, assert_deletes_add_up, edited, spec, two_runs};
use support::source::contacts;
use support::{Harness, ScriptedSource, assert_counters_add_up, at};

#[tokio::test(start_paused = true)]
async fn the_first_run_reads_everything_and_keeps_the_delta_link() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 25, at(OLD))));
    let execution = harness.run(&spec(None).integration()).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.window, None);
    assert_eq!(execution.counters.records_read, 25);
    assert_eq!(execution.counters.upserted, 25);
    assert_eq!(execution.counters.pages, 3);
    assert_eq!(execution.counters.deleted, 0);
    assert_counters_add_up(&execution);
    let links = harness.source.change_links();
    assert_eq!(links.len(), 3, "{links:?}");
    assert_eq!(links[0], None, "a full read starts tracking");
    let token = harness.state.sync_token("contacts").await.unwrap();
    assert_eq!(token.as_deref(), Some("scripted:delta?since=25&epoch=0"));
    assert_eq!(harness.state.watermark("contacts").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn the_second_run_reads_only_the_changes_and_a_third_reads_nothing() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 25, at(OLD))));
    let spec = spec(None);
    let (_, second, _) = two_runs(&harness, &spec).await;

    assert_eq!(second.status, ExecutionStatus::Succeeded);
    assert_eq!(second.counters.records_read, 3, "{:?}", second.counters);
    assert_eq!(second.counters.upserted, 3);
    assert_eq!(second.counters.deleted, 2);
    assert_eq!(
        second.counters.removals_applied, 0,
        "ignore applies nothing"
    );
    assert_deletes_add_up(&second, true);
    let links = harness.source.change_links();
    assert_eq!(links[3].as_deref(), Some("scripted:delta?since=25&epoch=0"));
    assert_eq!(harness.sink.delete_calls(), 0);
    let accepted = harness.sink.accepted();
    assert_eq!(accepted.get("user3@example.com"), Some(&2));
    assert_eq!(accepted.get("user17@example.com"), Some(&2));
    assert_eq!(accepted.get("new100@example.com"), Some(&1));
    assert_eq!(accepted.get("user4@example.com"), Some(&1));

    harness.advance(Duration::hours(1));
    let third = harness.run(&spec.integration()).await;
    assert_eq!(third.status, ExecutionStatus::Succeeded);
    assert_eq!(third.counters.records_read, 0);
    assert_eq!(third.counters.deleted, 0);
    assert_eq!(third.counters.pages, 1);
}

#[tokio::test(start_paused = true)]
async fn a_changed_record_the_filter_no_longer_selects_is_skipped_not_upserted() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 25, at(OLD))));
    let integration = spec(None).integration();
    harness.run(&integration).await;
    let rows = contacts(0, 25, at(OLD));
    // The filter: no "Left" first names.
    harness.source.filter(Arc::new(|record| {
        record.get("firstname").and_then(|v| v.as_str()) != Some("Left")
    }));
    harness.advance(Duration::hours(1));
    harness
        .source
        .put(vec![edited(&rows[8], "Left"), edited(&rows[9], "Stays")]);

    let second = harness.run(&integration).await;

    assert_eq!(second.status, ExecutionStatus::Succeeded);
    assert_eq!(second.counters.records_read, 2);
    assert_eq!(second.counters.upserted, 1);
    assert_eq!(second.counters.skipped, 1);
    assert_counters_add_up(&second);
    let accepted = harness.sink.accepted();
    assert_eq!(
        accepted.get("user8@example.com"),
        Some(&1),
        "not upserted again"
    );
    assert_eq!(accepted.get("user9@example.com"), Some(&2));
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_makes_a_full_read_that_tracks_again() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 25, at(OLD))));
    let integration = spec(Some("delete_profile")).integration();
    harness.run(&integration).await;
    let rows = contacts(0, 25, at(OLD));
    harness.source.remove(&rows[2].id);
    harness.source.expire_change_tokens();
    harness.advance(Duration::hours(1));

    let started = harness.start(&integration).await;
    let mut outcomes = Vec::new();
    while let Some(delivery) = harness
        .queue
        .receive(1, std::time::Duration::ZERO)
        .await
        .unwrap()
        .into_iter()
        .next()
    {
        outcomes.push(
            harness
                .engine
                .process_page(&delivery.task, delivery.receive_count)
                .await
                .unwrap(),
        );
        harness.queue.ack(&delivery.receipt).await.unwrap();
    }
    let second = harness
        .state
        .get_execution(&started.id)
        .await
        .unwrap()
        .unwrap();

    assert_eq!(second.status, ExecutionStatus::Succeeded, "{second:?}");
    assert!(
        outcomes[0].resynced,
        "the first page says it began a full read"
    );
    assert!(outcomes.iter().skip(1).all(|o| !o.resynced));
    assert_eq!(second.counters.records_read, 24, "every live record again");
    assert_eq!(
        second.counters.deleted, 0,
        "a delete in the expired gap cannot be seen"
    );
    assert_eq!(harness.sink.delete_calls(), 0);
    let links = harness.source.change_links();
    assert_eq!(links[3].as_deref(), Some("scripted:delta?since=25&epoch=0"));
    assert_eq!(links[4], None, "then a full read");
    let token = harness.state.sync_token("contacts").await.unwrap();
    assert_eq!(token.as_deref(), Some("scripted:delta?since=26&epoch=1"));

    // Tracking works again from the new token.
    harness.source.remove(&rows[4].id);
    harness.advance(Duration::hours(1));
    let third = harness.run(&integration).await;
    assert_eq!(third.counters.deleted, 1);
    assert_eq!(third.counters.removals_applied, 1);
    assert_eq!(third.counters.records_read, 0);
}

#[tokio::test(start_paused = true)]
async fn the_token_moves_on_success_and_completed_with_failures_only() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 25, at(OLD))));
    let integration = spec(Some("delete_profile")).integration();
    harness.run(&integration).await;
    let token1 = harness.state.sync_token("contacts").await.unwrap();
    let rows = contacts(0, 25, at(OLD));

    // A failed run (Insider refuses everything) leaves the token.
    harness.source.put(vec![edited(&rows[1], "Changed 1")]);
    harness.source.remove(&rows[6].id);
    harness
        .sink
        .fail_permanently("Insider answered 401: invalid token");
    harness.advance(Duration::hours(1));
    let failed = harness.run(&integration).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert_eq!(harness.state.sync_token("contacts").await.unwrap(), token1);

    // The next run reads the same changes again, and a record failure still moves it.
    harness.sink.heal();
    harness.sink.reject_email("user1@example.com");
    harness.advance(Duration::hours(1));
    let with_failures = harness.run(&integration).await;
    assert_eq!(with_failures.status, ExecutionStatus::CompletedWithFailures);
    assert_eq!(with_failures.counters.records_read, 1);
    assert_eq!(with_failures.counters.failed, 1);
    assert_eq!(with_failures.counters.deleted, 1);
    assert_eq!(with_failures.counters.removals_applied, 1);
    assert_eq!(harness.sink.deleted().get(&rows[6].id), Some(&1));
    let token2 = harness.state.sync_token("contacts").await.unwrap();
    assert_ne!(token2, token1);
    assert!(token2.is_some());

    // A delete Insider refuses is a failure listed with its record, and still moves it.
    harness.source.remove(&rows[7].id);
    harness.sink.refuse_delete(&rows[7].id);
    harness.advance(Duration::hours(1));
    let refused = harness.run(&integration).await;
    assert_eq!(refused.status, ExecutionStatus::CompletedWithFailures);
    assert_eq!(refused.counters.deleted, 1);
    assert_eq!(refused.counters.removals_applied, 0);
    assert_deletes_add_up(&refused, false);
    assert!(
        refused
            .failures
            .iter()
            .any(|f| f.record_id == rows[7].id && f.reason.contains("not deleted")),
        "{:?}",
        refused.failures
    );
    assert_ne!(harness.state.sync_token("contacts").await.unwrap(), token2);
}

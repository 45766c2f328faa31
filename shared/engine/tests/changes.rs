//! Fetch mode `changes` across runs (issue 11): the first run is a full read that keeps the
//! delta link, later runs read only what changed or was deleted since the last successful
//! run, deleted records get the definition's `removals`, changed records the filter no
//! longer selects are skipped, an expired token makes a full read, and the token moves
//! only when an execution does not fail. Redelivered pages apply each removal at most once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use chrono::Duration;
use dynsync_domain::execution::{Execution, ExecutionStatus};
use dynsync_domain::ports::{Executions, PageQueue, SyncState};
use dynsync_engine::memory::MemoryQueue;
use support::source::{Row, contact, contacts};
use support::{DuplicatingQueue, Harness, ScriptedSource, Spec, assert_counters_add_up, at};

const OLD: &str = "2020-01-01T00:00:00Z";

fn spec(removals: Option<&'static str>) -> Spec {
    Spec {
        id: "contacts".into(),
        fetch_mode: Some("changes"),
        removals,
        ..Spec::default()
    }
}

/// `deleted = applied + ignored + failed`: with `ignore` every deleted record is ignored;
/// otherwise the ones not applied are failed, each listed with its record id.
fn assert_deletes_add_up(execution: &Execution, ignored: bool) {
    let c = execution.counters;
    let failed_deletes = execution
        .failures
        .iter()
        .filter(|f| f.reason.contains("not deleted") || f.reason.contains("removal"))
        .count() as u64;
    if ignored {
        assert_eq!(c.removals_applied, 0, "{c:?}");
    } else {
        assert_eq!(
            c.deleted,
            c.removals_applied + failed_deletes,
            "deleted = applied + failed: {c:?} {:?}",
            execution.failures
        );
    }
    assert_counters_add_up(execution);
}

fn edited(row: &Row, name: &str) -> Row {
    let mut row = row.clone();
    row.record.insert("firstname".into(), name.into());
    row
}

/// Run 1 over 25 contacts, then: 2 updated, 1 created, 2 deleted. Returns the rows.
async fn two_runs(harness: &Harness, spec: &Spec) -> (Execution, Execution, Vec<Row>) {
    let integration = spec.integration();
    let first = harness.run(&integration).await;
    let rows = contacts(0, 25, at(OLD));
    harness.advance(Duration::hours(1));
    harness.source.put(vec![
        edited(&rows[3], "Updated 3"),
        edited(&rows[17], "Updated 17"),
        contact(100, Some("new100@example.com"), at(OLD), at(OLD)),
    ]);
    harness.source.remove(&rows[5].id);
    harness.source.remove(&rows[20].id);
    let second = harness.run(&integration).await;
    (first, second, rows)
}

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
async fn delete_profile_deletes_exactly_the_deleted_records_profiles() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 25, at(OLD))));
    let (_, second, rows) = two_runs(&harness, &spec(Some("delete_profile"))).await;

    assert_eq!(second.status, ExecutionStatus::Succeeded);
    assert_eq!(second.counters.deleted, 2);
    assert_eq!(second.counters.removals_applied, 2);
    assert_deletes_add_up(&second, false);
    let deleted = harness.sink.deleted();
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert_eq!(deleted.get(&rows[5].id), Some(&1));
    assert_eq!(deleted.get(&rows[20].id), Some(&1));
    assert_eq!(second.counters.upserted, 3, "removals are not upserts");
}

#[tokio::test(start_paused = true)]
async fn an_attribute_removal_upserts_the_deleted_users_with_it_and_no_events() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 25, at(OLD))));
    let spec = spec(Some("{ attribute: custom.crm_deleted, value: true }"));
    let (_, second, rows) = two_runs(&harness, &spec).await;

    assert_eq!(second.status, ExecutionStatus::Succeeded);
    assert_eq!(second.counters.deleted, 2);
    assert_eq!(second.counters.removals_applied, 2);
    assert_eq!(second.counters.upserted, 3);
    assert_eq!(
        second.counters.events_sent, 3,
        "removal users carry no events"
    );
    assert_deletes_add_up(&second, false);
    assert_eq!(harness.sink.delete_calls(), 0);
    let marked: Vec<_> = harness
        .sink
        .received()
        .into_iter()
        .filter(|u| u.attributes.get("custom") == Some(&serde_json::json!({"crm_deleted": true})))
        .collect();
    let mut ids: Vec<String> = marked
        .iter()
        .map(|u| u.identifiers.uuid.clone().unwrap_or_default())
        .collect();
    ids.sort();
    let mut expected = vec![rows[5].id.clone(), rows[20].id.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        marked
            .iter()
            .all(|u| u.events.is_empty() && u.identifiers.email.is_none())
    );
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

#[tokio::test(start_paused = true)]
async fn redelivered_change_pages_apply_each_removal_at_most_once() {
    let queue = Arc::new(MemoryQueue::new(std::time::Duration::from_secs(30)));
    let harness = Harness::wired(
        ScriptedSource::new(contacts(0, 25, at(OLD))),
        queue.clone(),
        Arc::new(DuplicatingQueue(queue.clone())),
    );
    let integration = spec(Some("delete_profile")).integration();
    let first = harness.run(&integration).await;
    assert_eq!(first.counters.upserted, 25);
    let rows = contacts(0, 25, at(OLD));
    // 13 deletions and 2 updates: two change pages of 10 (changes first, then deletes).
    for row in rows.iter().skip(10).take(13) {
        harness.source.remove(&row.id);
    }
    harness
        .source
        .put(vec![edited(&rows[0], "U0"), edited(&rows[1], "U1")]);
    // A transient Insider failure midway makes a page be delivered again.
    harness.sink.fail_call(harness.sink.calls() + 3);
    harness.advance(Duration::hours(1));

    let second = harness.run(&integration).await;

    assert_eq!(second.status, ExecutionStatus::Succeeded, "{second:?}");
    assert_eq!(second.counters.pages, 2);
    assert_eq!(second.counters.deleted, 13);
    assert_eq!(second.counters.removals_applied, 13);
    assert_eq!(second.counters.records_read, 2);
    assert_deletes_add_up(&second, false);
    let deleted = harness.sink.deleted();
    assert_eq!(deleted.len(), 13);
    assert!(deleted.values().all(|n| *n == 1), "{deleted:?}");
    assert!(harness.sink.accepted().values().all(|n| *n <= 2));
    assert!(harness.sink.max_events_per_user() <= 2);
}

/// A delivery that dies at any step of a change page (after its fetch, after queueing the
/// next page, after each answered batch of upserts or removals, after completing it) is
/// redelivered: every change arrives, each profile is deleted exactly once, no event twice.
#[tokio::test(start_paused = true)]
async fn a_change_page_dying_at_any_step_deletes_each_profile_exactly_once() {
    let _scenario = fail::FailScenario::setup();
    for point in [
        "page.after_fetch",
        "page.after_next",
        "page.after_batch",
        "page.after_complete",
    ] {
        for hit in 1..=3 {
            let at_ = format!("{point} at hit {hit}");
            let harness = Harness::new(ScriptedSource::new(contacts(0, 25, at(OLD))));
            let integration = spec(Some("delete_profile")).integration();
            harness.run(&integration).await;
            let token1 = harness.state.sync_token("contacts").await.unwrap();
            let rows = contacts(0, 25, at(OLD));
            for row in rows.iter().skip(10).take(13) {
                harness.source.remove(&row.id);
            }
            harness
                .source
                .put(vec![edited(&rows[0], "U0"), edited(&rows[1], "U1")]);
            harness.advance(Duration::hours(1));
            fail::cfg(point, &format!("{}*off->1*return", hit - 1)).unwrap();
            let second = harness.run(&integration).await;
            fail::remove(point);

            assert_eq!(second.status, ExecutionStatus::Succeeded, "{at_}");
            assert_eq!(second.counters.deleted, 13, "{at_}: {:?}", second.counters);
            assert_eq!(second.counters.removals_applied, 13, "{at_}");
            assert_eq!(second.counters.records_read, 2, "{at_}");
            assert_deletes_add_up(&second, false);
            let deleted = harness.sink.deleted();
            assert_eq!(deleted.len(), 13, "{at_}");
            assert!(deleted.values().all(|n| *n == 1), "{at_}: {deleted:?}");
            let accepted = harness.sink.accepted();
            assert_eq!(accepted.get("user0@example.com"), Some(&2), "{at_}");
            assert!(accepted.values().all(|n| *n <= 2), "{at_}");
            let token2 = harness.state.sync_token("contacts").await.unwrap();
            assert_ne!(token2, token1, "{at_}");
        }
    }
}

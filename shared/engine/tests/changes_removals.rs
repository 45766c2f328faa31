//! Fetch mode `changes`, removals (issue 11): deleted records get the definition's
//! `removals` (profiles deleted, or upserted with the removal attribute), and redelivered
//! or dying change pages apply each removal at most once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use chrono::Duration;
use dynsync_domain::execution::ExecutionStatus;
use dynsync_domain::ports::SyncState;
use dynsync_engine::memory::MemoryQueue;
use support::changes::{OLD, assert_deletes_add_up, edited, spec, two_runs};
use support::source::contacts;
use support::{DuplicatingQueue, Harness, ScriptedSource, at};

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
        .filter(|u| {
            u.attributes.custom().collect::<Vec<_>>() == [("crm_deleted", &serde_json::json!(true))]
        })
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

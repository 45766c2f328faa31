//! A page is a stable unit: what its first delivery fetched (the id range, the next page's
//! cursor, which records each answered batch held) is fixed before anything is sent, and a
//! redelivery works from that. So a redelivery after the CRM data moved (a record modified
//! past the window's end, deleted, or created inside the page's range) loses no record and
//! re-sends none that an answered batch already held.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use dynsync_domain::execution::{ExecutionStatus, PageTask};
use dynsync_engine::PageDisposition;
use support::source::{contact, contacts};
use support::{Harness, ScriptedSource, Spec, assert_counters_add_up, at};

fn old() -> chrono::DateTime<chrono::Utc> {
    at("2020-01-01T00:00:00Z")
}

/// 2,600 contacts at page size 2,000 (two pages; the first in two batches of 1,000), the
/// second upsert call fails transiently, so the first page is redelivered with batch 0
/// answered and batch 1 not.
struct Redelivered {
    harness: Harness,
    execution_id: String,
    task: PageTask,
    /// Record ids in primary-id order; the first 1,000 were in the answered batch.
    ids: Vec<String>,
}

async fn first_page_half_sent(fetch_mode: &'static str) -> Redelivered {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 2_600, old())));
    let integration = Spec {
        page_size: 2_000,
        fetch_mode: Some(fetch_mode),
        ..Spec::default()
    }
    .integration();
    let started = harness.start(&integration).await;
    let task = harness.queue.pending().remove(0);
    harness.sink.fail_call(2);
    let first = harness.engine.process_page(&task, 1).await;
    assert!(first.is_err_and(|e| e.is_transient()));
    assert_eq!(harness.sink.accepted_users(), 1_000);
    let ids = harness.source.ids_in_order();
    Redelivered {
        harness,
        execution_id: started.id,
        task,
        ids,
    }
}

fn number(id: &str) -> u64 {
    u64::from_str_radix(&id[..8], 16).unwrap()
}

impl Redelivered {
    async fn redeliver_and_finish(&self) -> dynsync_domain::execution::Execution {
        let again = self
            .harness
            .engine
            .process_page(&self.task, 2)
            .await
            .unwrap();
        assert_eq!(again.disposition, PageDisposition::Processed);
        self.harness.finish(&self.execution_id).await
    }

    fn assert_each_user_once(&self, expected: usize) {
        let accepted = self.harness.sink.accepted();
        assert_eq!(accepted.len(), expected, "distinct users upserted");
        let twice: Vec<_> = accepted.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{} users sent twice", twice.len());
        assert_eq!(self.harness.sink.max_events_per_user(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_record_of_an_answered_batch_modified_before_the_redelivery_loses_nothing_and_resends_nothing()
 {
    let run = first_page_half_sent("new_and_updated").await;
    // A record of the answered batch moves past the window's end.
    let touched = number(&run.ids[3]);
    let later = at("2026-11-27T11:00:00Z");
    let email = format!("user{touched}@example.com");
    run.harness
        .source
        .put(vec![contact(touched, Some(&email), old(), later)]);

    let execution = run.redeliver_and_finish().await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    run.assert_each_user_once(2_600);
    assert_eq!(execution.counters.upserted, 2_600);
    assert_eq!(execution.counters.records_read, 2_600);
    assert_eq!(execution.counters.pages, 2);
    assert_counters_add_up(&execution);
}

#[tokio::test(start_paused = true)]
async fn a_record_deleted_before_the_redelivery_shifts_nothing() {
    let run = first_page_half_sent("all").await;
    // One record of the answered batch and one of the unsent batch are deleted.
    run.harness.source.remove(&run.ids[10]);
    run.harness.source.remove(&run.ids[1_500]);

    let execution = run.redeliver_and_finish().await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    // The one deleted before it was sent is not sent; every other record once.
    run.assert_each_user_once(2_599);
    assert_eq!(execution.counters.records_read, 2_599);
    assert_eq!(execution.counters.pages, 2);
    assert_counters_add_up(&execution);
}

#[tokio::test(start_paused = true)]
async fn a_redelivery_queues_the_next_page_the_first_delivery_fixed() {
    let run = first_page_half_sent("all").await;
    let queued = run.harness.queue.pending();
    let next: Vec<_> = queued.iter().filter(|t| t.cursor.is_some()).collect();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].cursor.as_deref(), Some(run.ids[1_999].as_str()));
    // Records before the page's end vanish: a fresh fetch would end the page later.
    for id in &run.ids[1_200..1_300] {
        run.harness.source.remove(id);
    }

    let execution = run.redeliver_and_finish().await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.counters.pages, 2);
    run.assert_each_user_once(2_500);
    assert_counters_add_up(&execution);
}

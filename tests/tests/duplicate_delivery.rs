//! At-least-once delivery taken to the extreme: every page task the engine sends is
//! delivered twice (a wrapper over the SQLite queue that sends each task twice), to one
//! worker (duplicates arrive after the original) and to racing workers (a duplicate may be
//! processed while the original still is). The page ledger must make the duplicates
//! harmless: the same final counts as a clean run, every user upserted, no event sent twice.
//! Racing duplicates are kept apart by the page claim: the second delivery is released
//! until the first one's claim lapses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use dynsync_domain::execution::{ExecutionStatus, PageTask};
use dynsync_domain::ports::{Delivery, PageQueue, PortError};
use dynsync_emulators::dataverse::Seed;
use dynsync_engine::PageDisposition;
use dynsync_local::SqliteQueue;
use dynsync_tests::{
    LocalRun, Stack, add_contacts, email, events_by_email, run_local, upserts_by_email,
};

/// Sends every task twice.
struct TwiceQueue {
    inner: Arc<SqliteQueue>,
    sent: AtomicU64,
}

#[async_trait::async_trait]
impl PageQueue for TwiceQueue {
    async fn send(&self, tasks: &[PageTask]) -> Result<(), PortError> {
        self.sent.fetch_add(tasks.len() as u64, Ordering::SeqCst);
        self.inner.send(tasks).await?;
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

const CONTACTS: usize = 23;
const PAGE_SIZE: u32 = 4;

/// What a run with every task sent twice left behind.
struct Twice {
    stack: Stack,
    /// Deliveries released because the other copy of their task was being processed.
    held_elsewhere: u64,
}

/// Syncs `CONTACTS` contacts with every task sent twice, `concurrency` workers, each
/// Insider upsert taking `upsert_latency`, and checks everything that must hold whatever
/// the timing.
async fn sync_with_every_task_twice(concurrency: usize, upsert_latency: Duration) -> Twice {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    stack.insider.faults().set_latency(upsert_latency);
    add_contacts(
        &stack.dataverse.store(),
        0..CONTACTS,
        Utc::now() - chrono::Duration::hours(1),
    )
    .unwrap();
    let definition = stack.definition(
        PAGE_SIZE,
        "method: entity
source:
  entity: contact
  fields: [contactid, emailaddress1, firstname]
identifiers:
  - { type: email, field: emailaddress1 }
attributes:
  - { key: name, field: firstname }
events:
  name: { fixed: contact_synced }
  timestamp: processing_time",
        "",
    );
    let queue = Arc::new(std::sync::Mutex::new(None::<Arc<TwiceQueue>>));
    let processed = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let held = Arc::new(AtomicU64::new(0));
    let (processed_in, dropped_in, held_in) = (processed.clone(), dropped.clone(), held.clone());
    let kept = queue.clone();
    let execution = run_local(
        LocalRun {
            state_dir: &stack.state_dir(),
            definition: &definition,
            concurrency,
            safety_lag: Duration::ZERO,
            on_progress: Arc::new(move |outcome| match outcome.disposition {
                PageDisposition::Processed => {
                    processed_in.fetch_add(1, Ordering::SeqCst);
                }
                PageDisposition::AlreadyDone | PageDisposition::ExecutionNotRunning => {
                    dropped_in.fetch_add(1, Ordering::SeqCst);
                }
                // Released until the other delivery's claim lapses: still queued when
                // the run ends, or dropped on a later delivery.
                PageDisposition::HeldElsewhere => {
                    held_in.fetch_add(1, Ordering::SeqCst);
                }
                PageDisposition::ExecutionFailed => {}
            }),
        },
        move |sqlite| {
            let twice = Arc::new(TwiceQueue {
                inner: sqlite,
                sent: AtomicU64::new(0),
            });
            *kept.lock().unwrap() = Some(twice.clone());
            twice
        },
    )
    .await
    .unwrap();

    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        execution.error
    );
    let c = &execution.counters;
    let contacts = CONTACTS as u64;
    let pages = contacts.div_ceil(u64::from(PAGE_SIZE));
    assert_eq!(
        (
            c.records_read,
            c.upserted,
            c.failed,
            c.skipped,
            c.events_sent,
            c.pages
        ),
        (contacts, contacts, 0, 0, contacts, pages)
    );
    assert_eq!(c.records_read, c.upserted + c.skipped + c.failed);
    let twice = queue.lock().unwrap().clone().unwrap();
    assert_eq!(
        twice.sent.load(Ordering::SeqCst),
        pages,
        "one task per page was sent (twice each)"
    );
    // Each page was counted once; each duplicate was dropped by the ledger (or the
    // finished execution), or is still queued when the run ended.
    assert_eq!(processed.load(Ordering::SeqCst), pages);
    let left = twice.inner.len().await.unwrap();
    assert_eq!(
        dropped.load(Ordering::SeqCst) + left,
        pages,
        "{left} duplicates still queued"
    );
    Twice {
        stack,
        held_elsewhere: held.load(Ordering::SeqCst),
    }
}

fn assert_each_contact_upserted_once_with_one_event(stack: &Stack) {
    let upserts = upserts_by_email(&stack.insider);
    let events = events_by_email(&stack.insider);
    for i in 0..CONTACTS {
        assert_eq!(
            upserts.get(&email(i)),
            Some(&1),
            "upserts of contact {i}: {upserts:?}"
        );
        assert_eq!(
            events.get(&email(i)),
            Some(&1),
            "events of contact {i}: {events:?}"
        );
    }
    assert_eq!(
        stack.insider.requests(),
        (CONTACTS as u64).div_ceil(u64::from(PAGE_SIZE)),
        "one upsert request per page"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_task_delivered_twice_to_one_worker_gives_the_same_counts_and_no_duplicate_event()
 {
    let run = sync_with_every_task_twice(1, Duration::ZERO).await;
    assert_each_contact_upserted_once_with_one_event(&run.stack);
    assert_eq!(run.held_elsewhere, 0, "one worker never races itself");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_task_delivered_twice_to_racing_workers_gives_the_same_counts() {
    sync_with_every_task_twice(3, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_task_delivered_twice_to_racing_workers_sends_no_event_twice() {
    // Slow upserts keep the first copy of a task in flight while the second is received.
    let run = sync_with_every_task_twice(3, Duration::from_millis(150)).await;
    assert_each_contact_upserted_once_with_one_event(&run.stack);
    assert!(
        run.held_elsewhere > 0,
        "the copies of a task never overlapped, so the race was not exercised"
    );
}

//! Hand-backs on the local path (SQLite queue + the engine's runner), as `dynsync run` runs:
//! a page another delivery holds is handed back again and again, more often than the
//! runner's `MAX_RECEIVES` (SQS's `maxReceiveCount`), without a hand-back ever counting as
//! a receive, so the run does not fail "received 6 times without completing" and succeeds
//! once the page is free.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use dynsync_domain::execution::{ExecutionStatus, PageTask};
use dynsync_domain::ports::{Delivery, PageClaim, PageLedger, PageQueue, PortError};
use dynsync_emulators::dataverse::Seed;
use dynsync_engine::{MAX_RECEIVES, PageDisposition};
use dynsync_local::{SqliteQueue, SqliteStateStore};
use dynsync_tests::{LocalRun, Stack, add_contacts, run_local};

const CONTACTS: usize = 5;
const FIRST_PAGE: &str = "0:start";
const ELSEWHERE: &str = "delivery-elsewhere";

/// The folder's SQLite queue; while `holds` is above zero, each delivery of the first page
/// finds it claimed by another delivery for one more second.
struct HoldingQueue {
    inner: Arc<SqliteQueue>,
    state_dir: PathBuf,
    holds: AtomicUsize,
    first_page_receive_counts: Mutex<Vec<u32>>,
}

impl HoldingQueue {
    async fn hold(&self, task: &PageTask) -> Result<(), PortError> {
        let state = SqliteStateStore::open(&self.state_dir).map_err(PortError::from)?;
        let claim = PageClaim {
            claimant: ELSEWHERE.into(),
            until: Utc::now() + chrono::Duration::seconds(1),
        };
        state
            .claim_page(&task.execution_id, FIRST_PAGE, &claim)
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl PageQueue for HoldingQueue {
    async fn send(&self, tasks: &[PageTask]) -> Result<(), PortError> {
        self.inner.send(tasks).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, PortError> {
        let deliveries = self.inner.receive(max, wait).await?;
        for delivery in &deliveries {
            if delivery.task.page_key() != FIRST_PAGE {
                continue;
            }
            self.first_page_receive_counts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(delivery.receive_count);
            let held = self
                .holds
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if held {
                self.hold(&delivery.task).await?;
            }
        }
        Ok(deliveries)
    }

    async fn ack(&self, receipt: &str) -> Result<(), PortError> {
        self.inner.ack(receipt).await
    }

    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), PortError> {
        self.inner.release(receipt, delay).await
    }

    async fn hand_back(
        &self,
        task: &PageTask,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), PortError> {
        self.inner.hand_back(task, receipt, delay).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_held_elsewhere_more_often_than_the_receive_limit_is_handed_back_uncounted_and_the_run_succeeds()
 {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    add_contacts(
        &stack.dataverse.store(),
        0..CONTACTS,
        Utc::now() - chrono::Duration::hours(1),
    )
    .unwrap();
    let definition = stack.definition(
        10,
        "method: entity
source:
  entity: contact
  fields: [contactid, emailaddress1, firstname]
identifiers:
  - { type: email, field: emailaddress1 }
attributes:
  - { key: name, field: firstname }",
        "",
    );
    let holds = MAX_RECEIVES as usize + 2;
    let state_dir = stack.state_dir();
    let kept = Arc::new(Mutex::new(None::<Arc<HoldingQueue>>));
    let held = Arc::new(AtomicUsize::new(0));
    let (kept_in, held_in) = (kept.clone(), held.clone());
    let execution = run_local(
        LocalRun {
            state_dir: &state_dir,
            definition: &definition,
            concurrency: 1,
            safety_lag: Duration::ZERO,
            on_progress: Arc::new(move |outcome| {
                if outcome.disposition == PageDisposition::HeldElsewhere {
                    held_in.fetch_add(1, Ordering::SeqCst);
                }
            }),
        },
        |sqlite| {
            let queue = Arc::new(HoldingQueue {
                inner: sqlite,
                state_dir: state_dir.clone(),
                holds: AtomicUsize::new(holds),
                first_page_receive_counts: Mutex::new(Vec::new()),
            });
            *kept_in.lock().unwrap_or_else(|p| p.into_inner()) = Some(queue.clone());
            queue
        },
    )
    .await
    .unwrap_or_else(|e| panic!("the run failed: {e:#}"));

    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        execution.error
    );
    let c = execution.counters;
    assert_eq!(
        (c.records_read, c.upserted),
        (CONTACTS as u64, CONTACTS as u64),
        "{c:?}"
    );
    assert!(
        held.load(Ordering::SeqCst) >= holds,
        "the page was held {} times, fewer than {holds}",
        held.load(Ordering::SeqCst)
    );
    let queue = kept
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_else(|| panic!("the queue was built"));
    let counts = queue
        .first_page_receive_counts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert!(
        counts.iter().all(|c| *c == 1),
        "a hand-back counted as a receive: {counts:?}"
    );
    assert!(queue.inner.is_empty().await.unwrap_or(false));
}

//! The page-ledger port: the pages an execution registered, what each page's first
//! delivery fixed, the batches Insider answered, the claims of the deliveries working on a
//! page, and the completion that counts it done. Every method two deliveries could race on
//! is atomic (a conditional write in DynamoDB, a transaction in SQLite).

use chrono::{DateTime, Utc};

use crate::execution::{Counters, Execution, RecordFailure};
use crate::ports::{Executions, PortError};

/// One upsert batch of a page that Insider answered, kept so that a redelivered page does
/// not send it (and its events) again. A redelivery knows the batch by the records it held,
/// never by their positions: the source's data may have moved in between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRecord {
    /// Unique within the page (batches are numbered in the order they were sent).
    pub index: u32,
    pub upserted: u64,
    pub failed: u64,
    pub events_sent: u64,
    pub failures: Vec<RecordFailure>,
    /// The primary ids of the records whose users the batch held.
    pub record_ids: Vec<String>,
    /// A batch of removals (records that left the synced set: profiles deleted, or the
    /// `removals` attribute set): `upserted` counts the removals applied.
    pub removal: bool,
    /// Set when this batch stopped its execution (Insider refused it as a whole, or fast
    /// fail met a rejection): the execution's error. A later delivery of the page that
    /// reads it back stops the execution the same way instead of finishing it.
    pub stop: Option<String>,
}

/// What a page's first delivery fetched, fixed in the ledger before anything of the page is
/// sent, so that every later delivery works on the same page: the same id range and the
/// same next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedPage {
    /// The next page's cursor (this page's last primary id), which also ends this page's id
    /// range; `None` when the page was its partition's last.
    pub next_cursor: Option<String>,
    /// A change-tracking read's last page: the delta link the read ended with, which the
    /// execution stages for the integration (see `crate::ports::SyncState::stage_sync_token`).
    pub sync_token: Option<String>,
}

/// A page's row in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRecord {
    pub done: bool,
    /// Set once the page's first delivery fetched it.
    pub fixed: Option<FixedPage>,
    /// Batches already sent, by index.
    pub batches: Vec<BatchRecord>,
    /// The execution's pages registered and not yet completed, read in the same step (0 with
    /// `done`: the execution's last page is done, and a delivery that finds it so finishes
    /// the execution if nobody did).
    pub outstanding: u64,
}

/// A delivery's hold on a page while it fetches and upserts it, so that two deliveries of
/// the same page (a duplicate from the queue, or a redelivery after a visibility timeout
/// while the first still runs) never upsert it at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageClaim {
    /// Unique per delivery.
    pub claimant: String,
    /// The claim lapses at this time unless its claimant takes it again (renews it).
    pub until: DateTime<Utc>,
}

/// The result of [`PageLedger::claim_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The claimant holds the page; this is what the ledger fixed of it and its batches
    /// already answered, read in the same atomic step (a batch recorded before the claim is
    /// never sent again).
    Acquired {
        fixed: Option<FixedPage>,
        batches: Vec<BatchRecord>,
    },
    /// Another delivery holds the page until `until`.
    HeldBy {
        claimant: String,
        until: DateTime<Utc>,
    },
}

/// The port's methods stand in the order a page's delivery calls them: register
/// (by whoever queues the page), read, claim, fix, record each batch, release or complete.
#[async_trait::async_trait]
pub trait PageLedger: Executions + Send + Sync {
    /// Registers a page the execution will process and counts it outstanding, atomically,
    /// once: `true` when this call registered it.
    async fn register_page(&self, execution_id: &str, page_key: &str) -> Result<bool, PortError>;
    async fn page_ledger(
        &self,
        execution_id: &str,
        page_key: &str,
    ) -> Result<Option<PageRecord>, PortError>;
    /// The execution and the page's row, as [`Executions::get_execution`] and
    /// [`PageLedger::page_ledger`] read them: what every delivery of a page reads first. A
    /// store that holds both in one place reads them in one request (DynamoDB: one
    /// `BatchGetItem` instead of a `GetItem` and a `BatchGetItem`).
    async fn execution_and_page(
        &self,
        execution_id: &str,
        page_key: &str,
    ) -> Result<(Option<Execution>, Option<PageRecord>), PortError> {
        let execution = self.get_execution(execution_id).await?;
        let page = self.page_ledger(execution_id, page_key).await?;
        Ok((execution, page))
    }
    /// Claims a registered page for one delivery: acquired when it is unclaimed, when its
    /// claim has lapsed (judged by the store's clock), or when `claim.claimant` already
    /// holds it (then `until` is extended). An unregistered page is a permanent error.
    async fn claim_page(
        &self,
        execution_id: &str,
        page_key: &str,
        claim: &PageClaim,
    ) -> Result<ClaimOutcome, PortError>;
    /// Fixes what the page's first delivery fetched, once: the first call stores `page`,
    /// later ones change nothing. Returns what the ledger holds. An unregistered page is a
    /// permanent error.
    async fn fix_page(
        &self,
        execution_id: &str,
        page_key: &str,
        page: &FixedPage,
    ) -> Result<FixedPage, PortError>;
    /// Remembers that a batch of the page was answered by Insider.
    async fn record_batch(
        &self,
        execution_id: &str,
        page_key: &str,
        batch: &BatchRecord,
    ) -> Result<(), PortError>;
    /// Gives up `claimant`'s claim on the page (so a retry need not wait for it to lapse);
    /// does nothing when someone else holds it or nobody does.
    async fn release_page_claim(
        &self,
        execution_id: &str,
        page_key: &str,
        claimant: &str,
    ) -> Result<(), PortError>;
    /// Marks the page done, adds its counters and failures (failures kept up to
    /// `MAX_RECORDED_FAILURES` per execution) and decrements the outstanding pages, all at
    /// once. `None` when the page was already done (a redelivery); otherwise the number of
    /// pages still outstanding.
    async fn complete_page(
        &self,
        execution_id: &str,
        page_key: &str,
        counters: &Counters,
        failures: &[RecordFailure],
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, PortError>;
}

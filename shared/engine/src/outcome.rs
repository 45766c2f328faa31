//! What became of one page task: its disposition, counters, and what the caller (the local
//! runner, the worker Lambda) does with the delivery.

use std::time::Duration;

use dynsync_domain::execution::{Counters, Execution, PageTask};

/// What became of one page task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOutcome {
    pub execution_id: String,
    pub page_key: String,
    pub disposition: PageDisposition,
    /// This page's counters (all zero unless `Processed`).
    pub counters: Counters,
    /// The next page's task was queued by this call.
    pub next_page_queued: bool,
    /// The execution as it ended, when this call ended it (last page, fast fail, or a
    /// permanent error).
    pub finished: Option<Execution>,
    /// `HeldElsewhere`: release the task for this long instead of acknowledging it.
    pub retry_after: Option<Duration>,
    /// Throttled replies Dataverse gave while this page was fetched (each waited out).
    pub dataverse_throttles: u32,
    /// Change tracking: the delta token had expired, so this page began a full read
    /// (deletes since the last successful run cannot be seen).
    pub resynced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageDisposition {
    /// Fetched, mapped, upserted and counted.
    Processed,
    /// The ledger says the page is done: a redelivery, nothing sent.
    AlreadyDone,
    /// The execution is finished or failed; the task is dropped.
    ExecutionNotRunning,
    /// A permanent error failed the execution (see `finished`).
    ExecutionFailed,
    /// Another delivery of the same page is processing it right now: nothing was sent.
    /// Release the task for `retry_after` (do not acknowledge it): it comes back when that
    /// delivery's claim has lapsed and finds the page done, or takes over a page whose
    /// worker died.
    HeldElsewhere,
}

impl PageOutcome {
    pub(crate) fn skipped(task: &PageTask, disposition: PageDisposition) -> Self {
        Self {
            execution_id: task.execution_id.clone(),
            page_key: task.page_key(),
            disposition,
            counters: Counters::default(),
            next_page_queued: false,
            finished: None,
            retry_after: None,
            dataverse_throttles: 0,
            resynced: false,
        }
    }

    pub(crate) fn held_elsewhere(task: &PageTask, retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::skipped(task, PageDisposition::HeldElsewhere)
        }
    }
}

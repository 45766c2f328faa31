//! What became of one page task: its disposition, counters, and what the caller (the local
//! runner, the worker Lambda) does with the delivery.

use std::time::Duration;

use dynsync_domain::execution::{Counters, Execution, PageTask, Partition};

use crate::engine::Prepared;
use crate::fetch::FetchStop;
use crate::{Engine, EngineError};

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

    /// A page this delivery completed, with what it counted.
    pub(crate) fn processed(
        task: &PageTask,
        counters: Counters,
        next_page_queued: bool,
        dataverse_throttles: u32,
        resynced: bool,
    ) -> Self {
        Self {
            counters,
            next_page_queued,
            dataverse_throttles,
            resynced,
            ..Self::skipped(task, PageDisposition::Processed)
        }
    }

    /// Logs the page at debug: the Lambdas' telemetry events log it at info with its
    /// metrics, and the CLI shows it in its progress line and summary.
    pub(crate) fn log_processed(&self, task: &PageTask, started: std::time::Instant) {
        let counters = &self.counters;
        tracing::debug!(
            integration_id = %task.integration_id,
            execution_id = %task.execution_id,
            page = %self.page_key,
            records = counters.records_read,
            upserted = counters.upserted,
            failed = counters.failed,
            skipped = counters.skipped,
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "page processed"
        );
    }

    pub(crate) fn held_elsewhere(task: &PageTask, retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::skipped(task, PageDisposition::HeldElsewhere)
        }
    }
}

/// Why a step ends the delivery before the page is complete.
pub(crate) enum Halt {
    /// With this outcome (a skipped page, a failed execution, a page held elsewhere).
    Done(Box<PageOutcome>),
    /// With this error: transient ones release the task for a later retry.
    Error(EngineError),
}

impl Halt {
    pub(crate) fn done(outcome: PageOutcome) -> Self {
        Self::Done(Box::new(outcome))
    }

    pub(crate) fn skipped(task: &PageTask, disposition: PageDisposition) -> Self {
        Self::done(PageOutcome::skipped(task, disposition))
    }
}

impl From<EngineError> for Halt {
    fn from(error: EngineError) -> Self {
        Self::Error(error)
    }
}

/// A step's result: what the next step needs, or why the delivery ends here.
pub(crate) type Step<T> = Result<T, Halt>;

/// The page path's ways to end a delivery early.
impl Engine {
    /// The plan's partition the task names; a task naming none fails the execution.
    pub(crate) async fn partition<'p>(
        &self,
        task: &PageTask,
        prepared: &'p Prepared,
    ) -> Step<&'p Partition> {
        match prepared
            .plan
            .partitions
            .iter()
            .find(|p| p.index == task.partition)
        {
            Some(partition) => Ok(partition),
            None => {
                let error = format!(
                    "page task names partition {} which the plan does not have",
                    task.partition
                );
                Err(self.fail_page(task, &error).await)
            }
        }
    }

    /// Why the page's records could not be had: an error to return, or a page that can
    /// never be read, which fails the execution.
    pub(crate) async fn stopped(&self, task: &PageTask, stop: FetchStop) -> Halt {
        match stop {
            FetchStop::Error(error) => Halt::Error(error),
            FetchStop::Fail(message) => self.fail_page(task, &message).await,
        }
    }

    /// Fails the execution from this page; the outcome carries the execution as it ended.
    pub(crate) async fn fail_page(&self, task: &PageTask, error: &str) -> Halt {
        tracing::warn!(execution_id = %task.execution_id, page = %task.page_key(), error = %error, "page failed the execution");
        match self.fail(&task.execution_id, error).await {
            Ok(finished) => {
                let mut outcome = PageOutcome::skipped(task, PageDisposition::ExecutionFailed);
                outcome.finished = finished;
                Halt::done(outcome)
            }
            Err(error) => Halt::Error(error),
        }
    }
}

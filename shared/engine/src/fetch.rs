//! A page's records, the same for every delivery. The first delivery fetches the page and
//! fixes in the ledger where it ends (the next page's cursor) before anything is sent; a
//! later delivery re-reads exactly that id range, `(cursor, next cursor]`, never "the next
//! `page_size` records", so records modified out of the window, deleted or created in
//! between cannot shift the page's end, lose a record at a boundary, or start a second
//! chain of pages. Which of the range's records were already sent is the ledger's answered
//! batches' business (`page.rs`).

use dynsync_domain::Record;
use dynsync_domain::definition::FetchMode;
use dynsync_domain::execution::{PageTask, Partition};
use dynsync_domain::ports::{DataSource, FixedPage, PageRequest, PortError};

use crate::engine::Prepared;
use crate::{Engine, EngineError};

/// Fetches a re-read of one page may take before it is called broken: the range held at
/// most `page_size` records when it was fixed, so more than a few means the source pages
/// wrongly.
const MAX_REREAD_FETCHES: usize = 100;

/// The page's records and what the ledger fixed of it.
pub(crate) struct PageRecords {
    pub records: Vec<Record>,
    pub fixed: FixedPage,
    /// Throttled replies the source waited out for these fetches.
    pub throttles: u32,
    /// Change tracking: ids of changed records the definition's filter no longer selects.
    pub filtered_out: Vec<String>,
    /// Change tracking: ids of records deleted in Dynamics.
    pub deleted: Vec<String>,
    /// Change tracking: the delta token had expired, so this page began a full read.
    pub resynced: bool,
}

impl PageRecords {
    fn keyset(records: Vec<Record>, fixed: FixedPage, throttles: u32) -> Self {
        Self {
            records,
            fixed,
            throttles,
            filtered_out: Vec::new(),
            deleted: Vec::new(),
            resynced: false,
        }
    }
}

/// Why a page's records could not be had.
pub(crate) enum FetchStop {
    /// Return this error (transient ones are retried by the queue).
    Error(EngineError),
    /// The page can never be read: fail the execution with this message.
    Fail(String),
}

impl FetchStop {
    pub(crate) fn source(error: PortError) -> Self {
        if error.kind().is_transient() {
            Self::Error(EngineError::Source(error))
        } else {
            Self::Fail(format!("Dataverse: {error}"))
        }
    }
}

impl Engine {
    /// The records of `task`'s page: fetched and fixed by a first delivery (`fixed` is
    /// `None`), re-read within the fixed range by a later one.
    pub(crate) async fn page_records(
        &self,
        task: &PageTask,
        prepared: &Prepared,
        partition: &Partition,
        source: &dyn DataSource,
        fixed: Option<FixedPage>,
    ) -> Result<PageRecords, FetchStop> {
        if prepared.plan.definition.source.fetch_mode() == FetchMode::Changes {
            return self.change_records(task, prepared, source, fixed).await;
        }
        let key = task.page_key();
        let fixed = match fixed {
            Some(fixed) => fixed,
            None => {
                let request = PageRequest {
                    integration: &prepared.integration,
                    plan: &prepared.plan.source,
                    window: prepared.plan.window.as_ref(),
                    partition,
                    cursor: task.cursor.as_deref(),
                };
                let page = source
                    .fetch_page(request)
                    .await
                    .map_err(FetchStop::source)?;
                if let Some(next) = page.next_cursor.as_deref()
                    && (task.cursor.as_deref() == Some(next) || page.records.is_empty())
                {
                    return Err(FetchStop::Fail(format!(
                        "Dataverse returned a page that does not move forward (page {key}); the source's paging is broken"
                    )));
                }
                let ours = FixedPage {
                    next_cursor: page.next_cursor,
                    sync_token: None,
                };
                let stored = self
                    .state
                    .fix_page(&task.execution_id, &key, &ours)
                    .await
                    .map_err(|e| FetchStop::Error(EngineError::State(e)))?;
                if stored == ours {
                    return Ok(PageRecords::keyset(page.records, stored, page.throttles));
                }
                // Another delivery fixed the page first (ours had lost its claim): its
                // range is the page.
                stored
            }
        };
        self.reread(task, prepared, partition, source, fixed).await
    }

    /// Reads the fixed range `(task cursor, fixed next cursor]` of the partition, paging
    /// within it if records were created there since it was fixed.
    async fn reread(
        &self,
        task: &PageTask,
        prepared: &Prepared,
        partition: &Partition,
        source: &dyn DataSource,
        fixed: FixedPage,
    ) -> Result<PageRecords, FetchStop> {
        let range = Partition {
            index: partition.index,
            after: partition.after.clone(),
            until: fixed
                .next_cursor
                .clone()
                .or_else(|| partition.until.clone()),
        };
        let mut records = Vec::new();
        let mut throttles = 0;
        let mut cursor = task.cursor.clone();
        for _ in 0..MAX_REREAD_FETCHES {
            let request = PageRequest {
                integration: &prepared.integration,
                plan: &prepared.plan.source,
                window: prepared.plan.window.as_ref(),
                partition: &range,
                cursor: cursor.as_deref(),
            };
            let page = source
                .fetch_page(request)
                .await
                .map_err(FetchStop::source)?;
            throttles += page.throttles;
            let moved = !page.records.is_empty() && page.next_cursor != cursor;
            records.extend(page.records);
            match page.next_cursor {
                Some(next) if moved => cursor = Some(next),
                _ => return Ok(PageRecords::keyset(records, fixed, throttles)),
            }
        }
        Err(FetchStop::Fail(format!(
            "re-reading page {} did not end after {MAX_REREAD_FETCHES} fetches; the source's paging is broken",
            task.page_key()
        )))
    }
}

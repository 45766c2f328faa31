//! A change-tracking page (fetch mode `changes`, API-FACTS.md 2.6). The page task's cursor
//! is Dataverse's link: `None` for a full read that starts tracking, the previous
//! successful run's delta link for an incremental run's first page, the page before's
//! `@odata.nextLink` after that. As with keyset pages, the first delivery fixes where the
//! page ends (the next link, or the delta link the read ended with) before anything is
//! sent, and a redelivery re-reads the same link and sends only what no answered batch
//! holds. The delta link is staged on the execution and becomes the integration's only
//! when the execution does not fail.
//!
//! A token older than the organization keeps changes makes the page a full read instead
//! (deletes in the gap cannot be seen: the warning says so).

use dynsync_domain::execution::PageTask;
use dynsync_domain::ports::{ChangesReply, ChangesRequest, DataSource, FixedPage};

use crate::engine::Prepared;
use crate::fetch::{FetchStop, PageRecords};
use crate::{Engine, EngineError};

impl Engine {
    pub(crate) async fn change_records(
        &self,
        task: &PageTask,
        prepared: &Prepared,
        source: &dyn DataSource,
        fixed: Option<FixedPage>,
    ) -> Result<PageRecords, FetchStop> {
        let request = |link| ChangesRequest {
            integration: &prepared.integration,
            plan: &prepared.plan.source,
            link,
        };
        let link = task.cursor.as_deref();
        let reply = source.fetch_changes(request(link)).await;
        let (page, resynced) = match reply.map_err(FetchStop::source)? {
            ChangesReply::Page(page) => (page, false),
            ChangesReply::TokenExpired(message) => {
                tracing::warn!(
                    integration_id = %task.integration_id,
                    execution_id = %task.execution_id,
                    page = %task.page_key(),
                    error = %message,
                    "the change-tracking token has expired (older than the organization keeps changes): reading every record again; records deleted since the last successful run cannot be seen"
                );
                let full = source.fetch_changes(request(None)).await;
                match full.map_err(FetchStop::source)? {
                    ChangesReply::Page(page) => (page, true),
                    ChangesReply::TokenExpired(message) => {
                        return Err(FetchStop::Fail(format!(
                            "Dataverse refused a full change-tracking read as an expired token: {message}"
                        )));
                    }
                }
            }
        };
        if page.next_link.is_some() && page.next_link.as_deref() == link {
            return Err(FetchStop::Fail(format!(
                "Dataverse returned a change-tracking page that links to itself (page {}); the source's paging is broken",
                task.page_key()
            )));
        }
        let fixed = match fixed {
            Some(fixed) => fixed,
            None => {
                let ours = FixedPage {
                    next_cursor: page.next_link.clone(),
                    sync_token: page.delta_link.clone(),
                };
                self.state
                    .fix_page(&task.execution_id, &task.page_key(), &ours)
                    .await
                    .map_err(|e| FetchStop::Error(EngineError::State(e)))?
            }
        };
        // Staged again by a redelivery, in case the first delivery died in between.
        if let Some(token) = &fixed.sync_token {
            self.state
                .stage_sync_token(&task.execution_id, token)
                .await
                .map_err(|e| FetchStop::Error(EngineError::State(e)))?;
        }
        Ok(PageRecords {
            records: page.records,
            fixed,
            throttles: page.throttles,
            filtered_out: page.filtered_out,
            deleted: page.deleted,
            resynced,
        })
    }
}

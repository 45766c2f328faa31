//! A page's row in SQLite, as the page ledger reads it: its done flag, its fixed end and
//! its batches (JSON).

use dynsync_domain::execution::RecordFailure;
use dynsync_domain::ports::{BatchRecord, FixedPage};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::executions::decode;
use crate::error::LocalError;

/// A sent batch as stored in a page's `batches` JSON.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredBatch {
    pub(super) index: u32,
    pub(super) upserted: u64,
    pub(super) failed: u64,
    pub(super) events_sent: u64,
    pub(super) failures: Vec<RecordFailure>,
    /// Absent in batches recorded before schema 3.
    #[serde(default)]
    pub(super) record_ids: Vec<String>,
    #[serde(default)]
    pub(super) removal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) stop: Option<String>,
}

impl StoredBatch {
    pub(super) fn into_record(self) -> BatchRecord {
        BatchRecord {
            index: self.index,
            upserted: self.upserted,
            failed: self.failed,
            events_sent: self.events_sent,
            failures: self.failures,
            record_ids: self.record_ids,
            removal: self.removal,
            stop: self.stop,
        }
    }
}

/// A page's row.
pub(super) struct PageRow {
    pub(super) done: bool,
    pub(super) fixed: Option<FixedPage>,
    pub(super) batches: Vec<StoredBatch>,
}

pub(super) fn read_page(
    conn: &Connection,
    id: &str,
    key: &str,
) -> Result<Option<PageRow>, LocalError> {
    let row = conn
        .query_row(
            "SELECT done, fixed, next_cursor, fixed_token, batches FROM pages
             WHERE execution_id = ?1 AND page_key = ?2",
            params![id, key],
            |row| {
                let fixed: bool = row.get(1)?;
                let page = FixedPage {
                    next_cursor: row.get(2)?,
                    sync_token: row.get(3)?,
                };
                Ok((
                    row.get::<_, bool>(0)?,
                    fixed.then_some(page),
                    row.get::<_, String>(4)?,
                ))
            },
        )
        .optional()
        .map_err(LocalError::sqlite("reading the page ledger"))?;
    row.map(|(done, fixed, batches)| {
        Ok(PageRow {
            done,
            fixed,
            batches: decode(&batches, "page ledger batches")?,
        })
    })
    .transpose()
}

pub(super) fn known_page(conn: &Connection, id: &str, key: &str) -> Result<PageRow, LocalError> {
    read_page(conn, id, key)?.ok_or_else(|| never_registered(id, key))
}

pub(super) fn never_registered(id: &str, key: &str) -> LocalError {
    LocalError::Rejected(format!("page {key} of execution {id} was never registered"))
}

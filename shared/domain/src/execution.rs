//! Executions (ARCHITECTURE.md section 4), their plans, and page tasks.
//!
//! `Execution` serialises with exactly the contract's JSON keys (`dynsync run --json`,
//! `dynsync executions --json`). The plan is what the start of an execution fixed for all of
//! its pages, stored beside it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::definition::Definition;
use crate::record::OptionLabels;

/// At most this many failed records are kept with their reasons; `failed` counts all.
pub const MAX_RECORDED_FAILURES: usize = 100;

/// Appends `more` to an execution's (or a page's) failure details while they number fewer
/// than [`MAX_RECORDED_FAILURES`]; the rest are only counted.
pub fn record_failures(
    list: &mut Vec<RecordFailure>,
    more: impl IntoIterator<Item = RecordFailure>,
) {
    let room = MAX_RECORDED_FAILURES.saturating_sub(list.len());
    list.extend(more.into_iter().take(room));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    CompletedWithFailures,
    Failed,
}

impl ExecutionStatus {
    pub fn is_final(self) -> bool {
        self != ExecutionStatus::Running
    }

    /// The status's name in records and logs (as serialised: `completed_with_failures`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "running",
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::CompletedWithFailures => "completed_with_failures",
            ExecutionStatus::Failed => "failed",
        }
    }
}

/// A half-open `[from, to)` window on `modifiedon`; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFailure {
    pub record_id: String,
    pub reason: String,
}

/// Counters of an execution or of one page; an execution's are the sum of its pages'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub records_read: u64,
    pub upserted: u64,
    pub failed: u64,
    pub skipped: u64,
    pub events_sent: u64,
    pub pages: u64,
    /// Records that left the synced set, seen by fetch mode `changes` (deleted in
    /// Dynamics) — not part of `records_read`.
    #[serde(default)]
    pub deleted: u64,
    /// List members that joined since the last successful run (`list_mode: changes`).
    #[serde(default)]
    pub joined: u64,
    /// List members that left (or no longer match) since the last successful run.
    #[serde(default)]
    pub left: u64,
    /// Deleted records and leavers that `removals` was applied to (profile deleted or
    /// attribute set); `deleted + left - removals_applied` were ignored by the setting
    /// or failed, each failure listed in `failures`.
    #[serde(default)]
    pub removals_applied: u64,
    /// Change-tracking reads that began again as full reads because the delta token had
    /// expired (older than the organization keeps changes): 1 when this execution did,
    /// and then records deleted since the last successful run could not be seen.
    #[serde(default)]
    pub resynced: u64,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.records_read += other.records_read;
        self.upserted += other.upserted;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.events_sent += other.events_sent;
        self.pages += other.pages;
        self.deleted += other.deleted;
        self.joined += other.joined;
        self.left += other.left;
        self.removals_applied += other.removals_applied;
        self.resynced += other.resynced;
    }
}

/// One run of one integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    pub id: String,
    pub integration_id: String,
    pub trigger: Trigger,
    pub status: ExecutionStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub window: Option<Window>,
    #[serde(flatten)]
    pub counters: Counters,
    pub failures: Vec<RecordFailure>,
    pub error: Option<String>,
}

/// What Dataverse told the start of an execution, fixed for all of its pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourcePlan {
    /// Logical name of the entity read (for a marketing list: its member type).
    pub entity: String,
    /// Entity set name used in URLs (`contacts`).
    pub entity_set: String,
    /// Primary id attribute (`contactid`): keyset paging and record ids.
    pub primary_id: String,
    /// Labels of the fields mapped with `code_to_label`.
    pub labels: OptionLabels,
    /// The marketing list, for `method: marketing_list`.
    pub list: Option<ListTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListTarget {
    pub id: String,
    pub name: String,
    /// Dynamic lists run their stored `query`; static ones join `listmember`.
    pub dynamic: bool,
    pub query: Option<String>,
}

/// A range of the primary-id space in SQL Server uniqueidentifier order:
/// ids `> after` (open when `None`) and `<= until` (open when `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub index: u32,
    pub after: Option<String>,
    pub until: Option<String>,
}

/// Everything a page task needs besides its cursor, fixed when the execution starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionPlan {
    /// The definition as it was when the execution started.
    pub definition: Definition,
    pub source: SourcePlan,
    pub window: Option<Window>,
    pub partitions: Vec<Partition>,
    /// Event timestamp for `timestamp: processing_time`.
    pub processing_time: DateTime<Utc>,
}

/// One page to fetch: records of `partition` after `cursor` (from the partition's start when
/// `None`). A cursor is a primary id, valid forever, so a redelivered task re-fetches exactly
/// its page.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PageTask {
    pub execution_id: String,
    pub integration_id: String,
    pub partition: u32,
    pub cursor: Option<String>,
}

/// Cursors up to this length appear in page keys as they are.
const MAX_PLAIN_CURSOR: usize = 64;

fn fnv1a(bytes: &[u8], basis: u64) -> u64 {
    bytes.iter().fold(basis, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl PageTask {
    /// The page's key in the execution's page ledger. A keyset cursor (a GUID) is kept as
    /// it is; a longer one (a change-tracking link, which can run to kilobytes) is keyed by
    /// two 64-bit FNV-1a hashes of it and its length, so keys stay far below DynamoDB's
    /// 1,024-byte sort key.
    pub fn page_key(&self) -> String {
        match &self.cursor {
            Some(cursor) if cursor.len() > MAX_PLAIN_CURSOR => format!(
                "{}:h{:016x}{:016x}-{}",
                self.partition,
                fnv1a(cursor.as_bytes(), 0xcbf2_9ce4_8422_2325),
                fnv1a(cursor.as_bytes(), 0x6c62_272e_07bb_0142),
                cursor.len()
            ),
            Some(cursor) => format!("{}:{cursor}", self.partition),
            None => format!("{}:start", self.partition),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_cursor_is_keyed_by_its_hashes_and_a_guid_as_it_is() {
        let task = |cursor: &str| PageTask {
            execution_id: "e".into(),
            integration_id: "i".into(),
            partition: 0,
            cursor: Some(cursor.to_owned()),
        };
        let guid = "00000000-0000-0000-0000-000000000001";
        assert_eq!(task(guid).page_key(), format!("0:{guid}"));
        let link = format!(
            "https://org/api/data/v9.2/contacts?$skiptoken={}",
            "x".repeat(3_000)
        );
        let key = task(&link).page_key();
        assert!(key.len() < 64, "{key}");
        assert_eq!(key, task(&link).page_key());
        assert_ne!(key, task(&format!("{link}y")).page_key());
    }

    #[test]
    fn a_status_name_is_its_serialised_form() {
        for status in [
            ExecutionStatus::Running,
            ExecutionStatus::Succeeded,
            ExecutionStatus::CompletedWithFailures,
            ExecutionStatus::Failed,
        ] {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(serde_json::Value::from(status.as_str()))
            );
        }
    }
}

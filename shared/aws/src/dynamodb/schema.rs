//! The single table's names: key and attribute names, key builders, index names, and the
//! one timestamp format stored (fixed width, so string order is time order and conditions
//! can compare timestamps as strings). `infra::create_table` and template.yaml declare
//! exactly these.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};

pub type Item = HashMap<String, AttributeValue>;

// --- keys ----------------------------------------------------------------------------------
pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// The table's TTL attribute (epoch seconds).
pub const TTL: &str = "expires_at_epoch";

// --- index keys (every index projects KEYS_ONLY) ----------------------------------------------
pub const INDEX_BY_INTEGRATION: &str = "by_integration";
pub const INDEX_BY_START: &str = "by_start";
pub const INDEX_RUNNING: &str = "running";
/// Partition key of `by_integration`: the integration id.
pub const INTEGRATION_PK: &str = "integration_pk";
/// Partition key of `by_start`: always [`ALL_EXECUTIONS`].
pub const ALL_PK: &str = "all_pk";
/// Partition key of the sparse `running` index: [`RUNNING`] while running, absent after.
pub const RUNNING_PK: &str = "running_pk";
/// Sort key of all three indexes: `<started_at>#<sequence>#<execution id>`.
pub const STARTED_SK: &str = "started_sk";
pub const ALL_EXECUTIONS: &str = "EXECUTION";
pub const RUNNING: &str = "RUNNING";

// --- sort keys -------------------------------------------------------------------------------
pub const SK_SLOT: &str = "SLOT";
pub const SK_LOCK: &str = "LOCK";
pub const SK_WATERMARK: &str = "WATERMARK";
/// The delta link of an integration's last successful change-tracking read.
pub const SK_SYNC_TOKEN: &str = "SYNC_TOKEN";
pub const SK_EXECUTION: &str = "EXECUTION";
pub const SK_PLAN: &str = "PLAN";
pub const PK_DEFINITIONS: &str = "DEFINITION";

// --- attributes ----------------------------------------------------------------------------
pub const DEFINITION: &str = "definition";
pub const ENABLED: &str = "enabled";
pub const SLOT: &str = "slot";
pub const EXECUTION_ID: &str = "execution_id";
pub const OWNER: &str = "owner";
pub const EXPIRES_AT: &str = "expires_at";
pub const WATERMARK: &str = "watermark";
pub const SYNC_TOKEN: &str = "sync_token";
/// On an execution item: the delta link its read ended with, until it finishes.
pub const STAGED_TOKEN: &str = "staged_token";
pub const PLAN: &str = "plan";
pub const BATCHES: &str = "batches";
/// On a page ledger item: where the page's first delivery found it ends (a map, see
/// `page_codec::fixed_value`).
pub const FIXED: &str = "fixed";
pub const NEXT_CURSOR: &str = "next_cursor";
/// On a batch: the primary ids of its records (binary, see `page_codec::pack_ids`).
pub const RECORD_IDS: &str = "record_ids";
/// On a batch: it held removals, not upserts of read records.
pub const REMOVAL: &str = "removal";
/// A batch that stopped its execution: the error (S), absent otherwise.
pub const STOP: &str = "stop";
/// On a page ledger item: the delivery processing the page, and until when (a timestamp in
/// the fixed-width form of [`timestamp`], so it compares as text).
pub const CLAIMANT: &str = "claimant";
pub const CLAIMED_UNTIL: &str = "claimed_until";
pub const ID: &str = "id";
pub const INTEGRATION_ID: &str = "integration_id";
pub const TRIGGER: &str = "trigger";
pub const STATUS: &str = "status";
pub const STARTED_AT: &str = "started_at";
pub const FINISHED_AT: &str = "finished_at";
pub const WINDOW: &str = "window";
pub const FAILURES: &str = "failures";
pub const ERROR: &str = "error";
/// String set on the execution item: the pages registered and not yet completed. Its size
/// is the number of outstanding pages; it stays small (pages in flight, not pages done).
pub const OPEN_PAGES: &str = "open_pages";
pub const LAST_PROGRESS: &str = "last_progress";
pub const RECORDS_READ: &str = "records_read";
pub const UPSERTED: &str = "upserted";
pub const FAILED: &str = "failed";
pub const SKIPPED: &str = "skipped";
pub const EVENTS_SENT: &str = "events_sent";
pub const PAGES: &str = "pages";
pub const DELETED: &str = "deleted";
pub const JOINED: &str = "joined";
pub const LEFT: &str = "left";
pub const REMOVALS_APPLIED: &str = "removals_applied";
pub const RESYNCED: &str = "resynced";
pub const RECORD_ID: &str = "record_id";
pub const REASON: &str = "reason";
pub const INDEX: &str = "index";

/// How long page ledger and plan items live after they are written (DynamoDB TTL).
pub const LEDGER_TTL_DAYS: i64 = 14;

pub fn integration_pk(integration_id: &str) -> String {
    format!("INTEGRATION#{integration_id}")
}

pub fn execution_pk(execution_id: &str) -> String {
    format!("EXECUTION#{execution_id}")
}

pub fn page_sk(page_key: &str) -> String {
    format!("PAGE#{page_key}")
}

/// The map key of batch `index` inside a page item's `batches` map.
pub fn batch_key(index: u32) -> String {
    format!("b{index}")
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// `2026-11-27T10:00:00.000000000Z`: fixed width for years 1000..=9999, so strings sort as
/// instants do.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The index sort key of an execution: start time, then a process-wide increasing sequence
/// (orders executions that started at the same instant by creation), then the id.
pub fn started_sk(started_at: DateTime<Utc>, execution_id: &str) -> String {
    format!(
        "{}#{:020}#{execution_id}",
        timestamp(started_at),
        next_sequence()
    )
}

/// Wall-clock nanoseconds, forced to increase within the process.
fn next_sequence() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(Utc::now().timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0);
    let mut previous = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(previous + 1);
        match LAST.compare_exchange_weak(previous, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(actual) => previous = actual,
        }
    }
}

/// The TTL value for an item written at `now`.
pub fn ledger_expiry(now: DateTime<Utc>) -> AttributeValue {
    n((now + chrono::Duration::days(LEDGER_TTL_DAYS)).timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_sort_as_strings_in_time_order() {
        let a = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .unwrap_or_default();
        let b = a + chrono::Duration::nanoseconds(1);
        let c = a + chrono::Duration::days(400);
        assert!(timestamp(a) < timestamp(b));
        assert!(timestamp(b) < timestamp(c));
        assert_eq!(parse_timestamp(&timestamp(b)), Some(b));
    }

    #[test]
    fn started_sort_keys_of_the_same_instant_follow_creation_order() {
        let at = Utc::now();
        let first = started_sk(at, "zzz");
        let second = started_sk(at, "aaa");
        assert!(first < second);
    }
}

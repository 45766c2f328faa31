//! Step 5 of the page path (`page.rs`): the page's records turned into the users still to
//! send. A record an answered batch holds is not mapped again (a redelivery sends only the
//! rest); the others become a user, or are counted skipped or failed. `list_mode: changes`
//! sends only joiners and changed members (`lists.rs`), the unchanged ones are skipped and
//! the leavers join the deleted records as the page's removals (`removals.rs`).
//!
//! [`PageCount`] is what the page adds to its execution: its counters and the failures it
//! records. Every failure enters the list through `record_failures`, so the list never
//! holds more than `MAX_RECORDED_FAILURES`, whatever path (mapping, batches, removals)
//! produced it.

use std::collections::HashSet;

use dynsync_domain::Record;
use dynsync_domain::execution::{Counters, PageTask, RecordFailure, record_failures};
use dynsync_mapping::Outcome;

use crate::batches::{BatchTally, Unsent};
use crate::engine::Prepared;
use crate::lists::{ListDelta, UNCHANGED};

/// What one page adds to its execution's counters and failure list.
#[derive(Debug, Default)]
pub(crate) struct PageCount {
    pub counters: Counters,
    /// Only [`PageCount::record`] adds to it (at most `MAX_RECORDED_FAILURES`).
    failures: Vec<RecordFailure>,
}

impl PageCount {
    fn new() -> Self {
        Self {
            counters: Counters {
                pages: 1,
                ..Counters::default()
            },
            failures: Vec::new(),
        }
    }

    /// Records failures, up to the cap.
    pub(crate) fn record(&mut self, failures: impl IntoIterator<Item = RecordFailure>) {
        record_failures(&mut self.failures, failures);
    }

    pub(crate) fn failures(&self) -> &[RecordFailure] {
        &self.failures
    }

    /// Adds the page's batches (upserts and removals) and settles `records_read`: every
    /// record of the page is upserted, skipped or failed, once, also those an earlier
    /// delivery sent and the source no longer returns.
    pub(crate) fn add_batches(&mut self, tally: &mut BatchTally) {
        let c = &mut self.counters;
        c.removals_applied = tally.removals_applied;
        c.upserted += tally.upserted;
        c.failed += tally.failed;
        c.events_sent += tally.events_sent;
        c.records_read = c.upserted + c.skipped + c.failed;
        self.record(std::mem::take(&mut tally.failures));
    }
}

/// The page, mapped: what it counts so far, the users to send, the removals to apply.
pub(crate) struct Mapped {
    pub count: PageCount,
    pub unsent: Unsent,
    /// Ids of records that left the synced set: deleted in Dynamics, or list leavers.
    pub removed: Vec<String>,
    /// Ids of the records the page's answered batches hold (sent by an earlier delivery).
    pub answered: HashSet<String>,
    /// Throttled replies Dataverse gave while the page was fetched.
    pub throttles: u32,
    /// Change tracking: the page began a full read (the token had expired).
    pub resynced: bool,
}

/// What the page fetched, in the shape the mapping takes it.
pub(crate) struct Fetched {
    pub records: Vec<Record>,
    /// `list_mode: changes`: the page compared with the committed member set.
    pub list: Option<ListDelta>,
    pub filtered_out: Vec<String>,
    pub deleted: Vec<String>,
    pub throttles: u32,
    pub resynced: bool,
}

/// Maps the records no answered batch holds and counts the rest of the page: unchanged
/// list members and changed records the filter no longer selects are skipped, deleted
/// records and leavers are the page's removals.
pub(crate) fn map_page(
    task: &PageTask,
    prepared: &Prepared,
    fetched: Fetched,
    answered: HashSet<String>,
) -> Mapped {
    let Fetched {
        records,
        list,
        filtered_out,
        deleted,
        throttles,
        resynced,
    } = fetched;
    let mut count = PageCount::new();
    count.counters.deleted = deleted.len() as u64;
    count.counters.resynced = u64::from(resynced);
    let mut removed = deleted;
    // What a page of this execution holds, for the runner's memory bound (`budget.rs`).
    prepared.page_bytes.store(
        crate::budget::records_bytes(&records),
        std::sync::atomic::Ordering::Relaxed,
    );
    // The raw records are consumed by the mapping (each freed once mapped): only the
    // users and the ids are kept while the batches are sent (issue 13, memory).
    let unsent = map_unsent(task, prepared, records, &answered, &mut count);
    if let Some(delta) = list {
        for id in delta.unchanged.iter().filter(|id| !answered.contains(*id)) {
            count.counters.skipped += 1;
            tracing::debug!(execution_id = %task.execution_id, record_id = %id, reason = UNCHANGED, "record skipped");
        }
        count.counters.joined = delta.joined;
        count.counters.left = delta.leavers.len() as u64;
        removed.extend(delta.leavers);
    }
    for id in filtered_out.iter().filter(|id| !answered.contains(*id)) {
        count.counters.skipped += 1;
        tracing::debug!(execution_id = %task.execution_id, record_id = %id, reason = "changed, but source.filter no longer selects it", "record skipped");
    }
    Mapped {
        count,
        unsent,
        removed,
        answered,
        throttles,
        resynced,
    }
}

/// Maps the records that no answered batch holds: the skipped and failed ones are counted
/// in `count`, the users are returned to be sent.
fn map_unsent(
    task: &PageTask,
    prepared: &Prepared,
    records: Vec<Record>,
    answered: &HashSet<String>,
    count: &mut PageCount,
) -> Unsent {
    let mut events_not_sent: u64 = 0;
    let mut unsent = Unsent::default();
    for record in records {
        let mapped = prepared.mapper.map(&record, prepared.plan.processing_time);
        drop(record);
        if answered.contains(&mapped.record_id) {
            continue;
        }
        events_not_sent += u64::from(mapped.events_not_sent);
        match mapped.outcome {
            Outcome::User(user) => {
                unsent.users.push(user);
                unsent.record_ids.push(mapped.record_id);
            }
            Outcome::Skipped { reason } => {
                count.counters.skipped += 1;
                tracing::debug!(execution_id = %task.execution_id, record_id = %mapped.record_id, reason = %reason, "record skipped");
            }
            Outcome::Failed { reason } => {
                count.counters.failed += 1;
                count.record([RecordFailure {
                    record_id: mapped.record_id,
                    reason,
                }]);
            }
        }
    }
    if events_not_sent > 0 {
        tracing::info!(execution_id = %task.execution_id, page = %task.page_key(), events_not_sent, "events not sent (unmapped name or empty timestamp)");
    }
    unsent
}

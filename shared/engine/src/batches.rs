//! The upsert of one page's users in batches (≤ 1,000 users, < 5,000,000 bytes), with the
//! page ledger: a batch Insider answered is recorded with the ids of the records it held,
//! and a redelivered page sends only the records no answered batch holds, so it never
//! sends a batch of events twice, whatever moved in the source in between.
//! Per-user rejections are attributed to records. A batch Insider refuses as a whole with a
//! permanent error (a wrong token or partner, an account that may not send) counts all of
//! its users failed and stops the execution: every later batch would be refused the same
//! way, and the error says what to fix.
//!
//! The delivery holds a claim on its page (`claim.rs`), renewed before a batch is sent
//! when it is half gone; if another delivery took the page over meanwhile, nothing more is
//! sent and the page is left to that delivery.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use dynsync_domain::InsiderUser;
use dynsync_domain::execution::{PageTask, RecordFailure, record_failures};
use dynsync_domain::ports::{BatchRecord, StateStore, UserSink};

use crate::EngineError;
use crate::attribute::{attribute, whole_batch_failed};
use crate::claim::{HeldClaim, Renewal};
use crate::failpoints::failpoint;

/// The sum of a page's batches.
#[derive(Debug, Default)]
pub(crate) struct BatchTally {
    pub upserted: u64,
    /// Removals applied by removal batches (not users upserted).
    pub removals_applied: u64,
    pub failed: u64,
    pub events_sent: u64,
    pub failures: Vec<RecordFailure>,
    /// Set when the page stops its execution (fast fail at a failed batch, or a batch
    /// refused as a whole): the execution's error.
    pub stop: Option<String>,
    /// Set when another delivery took the page over (until then): the tally is partial and
    /// the page must not be completed by this delivery.
    pub lost_claim: Option<DateTime<Utc>>,
    /// The indexes of the batches counted, and the index of the next batch sent.
    counted: HashSet<u32>,
    pub(crate) next_index: u32,
}

impl BatchTally {
    /// Adds the batches not counted yet; `true` when there were any.
    pub(crate) fn count(&mut self, batches: &[BatchRecord]) -> bool {
        let mut any = false;
        for batch in batches {
            if !self.counted.insert(batch.index) {
                continue;
            }
            any = true;
            if batch.removal {
                self.removals_applied += batch.upserted;
            } else {
                self.upserted += batch.upserted;
                self.failed += batch.failed;
                self.events_sent += batch.events_sent;
            }
            record_failures(&mut self.failures, batch.failures.iter().cloned());
            if self.stop.is_none() {
                self.stop.clone_from(&batch.stop);
            }
            self.next_index = self.next_index.max(batch.index.saturating_add(1));
        }
        any
    }
}

/// The users of a page still to send, in record order; `record_ids[i]` is the record
/// `users[i]` came from. None of them is in a batch the ledger has.
#[derive(Debug, Default)]
pub(crate) struct Unsent {
    pub users: Vec<InsiderUser>,
    pub record_ids: Vec<String>,
}

impl Unsent {
    /// Drops the users whose records these batches hold.
    fn without(&mut self, batches: &[BatchRecord]) {
        let sent: HashSet<&str> = batches
            .iter()
            .flat_map(|b| b.record_ids.iter().map(String::as_str))
            .collect();
        let users = std::mem::take(&mut self.users);
        let ids = std::mem::take(&mut self.record_ids);
        for (user, id) in users.into_iter().zip(ids) {
            if !sent.contains(id.as_str()) {
                self.users.push(user);
                self.record_ids.push(id);
            }
        }
    }
}

/// Counts the batches the ledger already has (`answered`) and sends `unsent` in new
/// batches, each recorded as soon as Insider answered it. A transient sink error returns
/// `Err`: batches answered so far are in the ledger, the rest are sent by the redelivery.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send_batches(
    state: &dyn StateStore,
    sink: &dyn UserSink,
    claim: &mut HeldClaim<'_>,
    task: &PageTask,
    answered: Vec<BatchRecord>,
    mut unsent: Unsent,
    skip_hook: bool,
    fast_fail: bool,
) -> Result<BatchTally, EngineError> {
    let key = task.page_key();
    let mut tally = BatchTally::default();
    tally.count(&answered);
    if tally.stop.is_some() {
        // An earlier delivery's batch stopped the execution: send nothing more.
        not_sent(&mut tally, &unsent.record_ids);
        return Ok(tally);
    }
    let mut ranges = dynsync_domain::batch::split(&unsent.users, skip_hook);
    let mut done = 0;
    while let Some(range) = ranges.get(done).cloned() {
        match claim.renew_if_due().await? {
            Renewal::Held => {}
            Renewal::Renewed(fresh) => {
                if tally.count(&fresh) {
                    // Another delivery sent batches while our claim had lapsed: what they
                    // held is sent; split what is left again.
                    unsent.users.drain(..range.start);
                    unsent.record_ids.drain(..range.start);
                    unsent.without(&fresh);
                    ranges = dynsync_domain::batch::split(&unsent.users, skip_hook);
                    done = 0;
                    continue;
                }
            }
            Renewal::Lost(until) => {
                tally.lost_claim = Some(until);
                return Ok(tally);
            }
        }
        done += 1;
        let index = tally.next_index;
        let batch = unsent.users.get(range.clone()).unwrap_or_default();
        let ids = unsent.record_ids.get(range.clone()).unwrap_or_default();
        let mut refused = None;
        let mut record = match sink.upsert(batch, skip_hook).await {
            Ok(outcome) => attribute(index, batch, ids, &outcome),
            Err(error) if error.kind().is_transient() => return Err(EngineError::Sink(error)),
            Err(error) => {
                refused = Some(error.to_string());
                whole_batch_failed(index, ids, &error.to_string())
            }
        };
        let stop = match refused {
            Some(error) => Some(format!(
                "Insider refused batch {} of page {key}: {error}",
                u64::from(index) + 1
            )),
            None if fast_fail && record.failed > 0 => {
                let reason = record
                    .failures
                    .first()
                    .map_or("no reason given", |f| f.reason.as_str());
                Some(format!(
                    "fast fail: batch {} of page {key} had {} rejected users: {reason}",
                    u64::from(index) + 1,
                    record.failed
                ))
            }
            None => None,
        };
        // Recorded with the batch, so a later delivery that reads it back stops too.
        record.stop.clone_from(&stop);
        state
            .record_batch(&task.execution_id, &key, &record)
            .await
            .map_err(EngineError::State)?;
        failpoint!("page.after_batch");
        tally.count(std::slice::from_ref(&record));
        if let Some(message) = stop {
            tally.stop = Some(message);
            not_sent(
                &mut tally,
                unsent.record_ids.get(range.end..).unwrap_or_default(),
            );
            break;
        }
    }
    Ok(tally)
}

/// Counts `ids` failed: the execution stopped before their batch was sent.
fn not_sent(tally: &mut BatchTally, ids: &[String]) {
    tally.failed += ids.len() as u64;
    record_failures(
        &mut tally.failures,
        ids.iter().map(|id| RecordFailure {
            record_id: id.clone(),
            reason: "not sent: the execution stopped at an earlier batch".to_owned(),
        }),
    );
}

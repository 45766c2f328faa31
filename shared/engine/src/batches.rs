//! The upsert of one page's users in batches (≤ 1,000 users, < 5,000,000 bytes), with the
//! page ledger: a batch Insider already answered is read back from the ledger instead of
//! being sent again, so a redelivered page never sends a batch of events twice.
//! Per-user rejections are attributed to records. A batch Insider refuses as a whole with a
//! permanent error (a wrong token or partner, an account that may not send) counts all of
//! its users failed and stops the execution: every later batch would be refused the same
//! way, and the error says what to fix.
//!
//! The delivery holds a claim on its page (`claim.rs`), renewed before a batch is sent
//! when it is half gone; if another delivery took the page over meanwhile, nothing more is
//! sent and the page is left to that delivery.

use chrono::{DateTime, Utc};
use dynsync_domain::InsiderUser;
use dynsync_domain::execution::{PageTask, RecordFailure, record_failures};
use dynsync_domain::ports::{BatchRecord, StateStore, UserSink};

use crate::EngineError;
use crate::attribute::{attribute, whole_batch_failed};
use crate::claim::{HeldClaim, Renewal};

/// The sum of a page's batches.
#[derive(Debug, Default)]
pub(crate) struct BatchTally {
    pub upserted: u64,
    pub failed: u64,
    pub events_sent: u64,
    pub failures: Vec<RecordFailure>,
    /// Set when the page stops its execution (fast fail at a failed batch, or a batch
    /// refused as a whole): the execution's error.
    pub stop: Option<String>,
    /// Set when another delivery took the page over (until then): the tally is partial and
    /// the page must not be completed by this delivery.
    pub lost_claim: Option<DateTime<Utc>>,
}

impl BatchTally {
    fn add(&mut self, batch: &BatchRecord) {
        self.upserted += batch.upserted;
        self.failed += batch.failed;
        self.events_sent += batch.events_sent;
        record_failures(&mut self.failures, batch.failures.iter().cloned());
    }
}

/// Sends (or reads back from the ledger) every batch of `users`; `record_ids[i]` is the
/// record `users[i]` came from, `answered` the batches the ledger already has. A transient sink error returns `Err`: batches answered so
/// far are in the ledger, the rest are sent by the redelivery.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send_batches(
    state: &dyn StateStore,
    sink: &dyn UserSink,
    claim: &mut HeldClaim<'_>,
    task: &PageTask,
    answered: Vec<BatchRecord>,
    users: &[InsiderUser],
    record_ids: &[String],
    skip_hook: bool,
    fast_fail: bool,
) -> Result<BatchTally, EngineError> {
    let key = task.page_key();
    let mut tally = BatchTally::default();
    let mut answered_batches = answered;
    for (index, range) in dynsync_mapping::batch::split(users, skip_hook)
        .into_iter()
        .enumerate()
    {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let batch = users.get(range.clone()).unwrap_or_default();
        let ids = record_ids.get(range.clone()).unwrap_or_default();
        let mut refused = None;
        let mut answered = answered_batches.iter().find(|b| b.index == index).cloned();
        if answered.is_none() {
            match claim.renew_if_due().await? {
                Renewal::Held => {}
                Renewal::Renewed(fresh) => {
                    answered_batches = fresh;
                    answered = answered_batches.iter().find(|b| b.index == index).cloned();
                }
                Renewal::Lost(until) => {
                    tally.lost_claim = Some(until);
                    return Ok(tally);
                }
            }
        }
        let record = match answered {
            Some(answered) => answered,
            None => {
                let record = match sink.upsert(batch, skip_hook).await {
                    Ok(outcome) => attribute(index, batch, ids, &outcome),
                    Err(error) if error.kind().is_transient() => {
                        return Err(EngineError::Sink(error));
                    }
                    Err(error) => {
                        refused = Some(error.to_string());
                        whole_batch_failed(index, ids, &error.to_string())
                    }
                };
                state
                    .record_batch(&task.execution_id, &key, &record)
                    .await
                    .map_err(EngineError::State)?;
                record
            }
        };
        tally.add(&record);
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
        if let Some(message) = stop {
            tally.stop = Some(message);
            let unsent = record_ids.get(range.end..).unwrap_or_default();
            tally.failed += unsent.len() as u64;
            record_failures(
                &mut tally.failures,
                unsent.iter().map(|id| RecordFailure {
                    record_id: id.clone(),
                    reason: "not sent: the execution stopped at an earlier batch".to_owned(),
                }),
            );
            break;
        }
    }
    Ok(tally)
}

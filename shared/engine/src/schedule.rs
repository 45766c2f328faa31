//! The scheduler's tick (ARCHITECTURE.md section 2, step 1): for each enabled stored
//! definition, the latest cron slot at or before now; if it is later than the last fired
//! slot, start one execution and record the slot with a compare-and-set. Missed slots run
//! once; a duplicate tick starts nothing; a definition never ticked before only records its
//! latest slot ("First sync: runs at the next scheduled time"). Then stalled executions are
//! failed.
//!
//! A slot is recorded only once its start has happened (or failed for good): a start that
//! fails transiently, or an integration whose state cannot be read, leaves the slot due, so
//! the next tick tries it again. The run lock keeps two ticks from running one slot twice:
//! a tick racing the start finds the execution running and records the slot as skipped,
//! and a later tick finds the slot recorded. One integration's failure never stops the
//! tick: every other integration is scheduled and the stall check runs, and the report
//! says what was left for the next tick ([`TickReport::left_undone`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use dynsync_domain::execution::{Execution, Trigger};
use dynsync_domain::{Definition, Integration, Schedule};

use crate::start::StartOutcome;
use crate::{Engine, EngineError};

/// Attempts at recording the slot of an execution already started.
const CLAIM_ATTEMPTS: u32 = 3;

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TickReport {
    /// One entry per integration whose slot was scheduled, or that could not be.
    pub starts: Vec<TickStart>,
    /// Executions failed because their pages stopped moving, as they ended.
    pub stalled: Vec<Execution>,
    /// Why the stall check could not run (the next tick runs it again).
    pub stall_check_error: Option<String>,
}

impl TickReport {
    /// What this tick left for the next one: `<integration id>: <error>` for each
    /// [`TickOutcome::Retry`], and the stall check's error. Empty when the tick did all.
    pub fn left_undone(&self) -> Vec<String> {
        let retries = self.starts.iter().filter_map(|start| match &start.outcome {
            TickOutcome::Retry(error) => Some(format!("{}: {error}", start.integration_id)),
            _ => None,
        });
        retries
            .chain(
                self.stall_check_error
                    .iter()
                    .map(|error| format!("stall check: {error}")),
            )
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickStart {
    pub integration_id: String,
    /// The due slot (`None` when the schedule could not be read).
    pub slot: Option<DateTime<Utc>>,
    pub outcome: TickOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
// Made once per start and moved, never stored in bulk: boxing the execution buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum TickOutcome {
    /// First tick of this definition: its latest slot was recorded, nothing ran.
    Initialised,
    /// The start of the execution (running, or failed at planning).
    Started(StartOutcome),
    /// The definition or its start failed for good; the slot was used up and the error
    /// says why.
    Error(String),
    /// The slot stays due: the integration's state could not be read or written, or its
    /// start failed transiently. The next tick tries it again.
    Retry(String),
}

impl Engine {
    /// Runs the schedule at `now`; `owner` tags the run locks taken (e.g. the request id).
    /// `Err` only when the definitions cannot be listed; any other failure is reported
    /// per integration in the report, after every integration was tried.
    pub async fn tick(&self, now: DateTime<Utc>, owner: &str) -> Result<TickReport, EngineError> {
        let mut report = TickReport::default();
        for definition in self
            .state
            .list_definitions()
            .await
            .map_err(EngineError::State)?
        {
            if !definition.enabled {
                continue;
            }
            if let Some(start) = self.tick_one(&definition, now, owner).await {
                report.starts.push(start);
            }
        }
        match self.fail_stalled().await {
            Ok(stalled) => report.stalled = stalled,
            Err(error) => {
                tracing::warn!(error = %error, "cannot look for stalled executions; the next tick looks again");
                report.stall_check_error = Some(error.to_string());
            }
        }
        Ok(report)
    }

    async fn tick_one(
        &self,
        definition: &Definition,
        now: DateTime<Utc>,
        owner: &str,
    ) -> Option<TickStart> {
        let id = definition.id.clone();
        let slot = match latest_slot(&definition.schedule, now) {
            Ok(Some(slot)) => slot,
            Ok(None) => return None,
            Err(error) => {
                tracing::warn!(integration_id = %id, error = %error, "schedule cannot be read");
                return Some(TickStart {
                    integration_id: id,
                    slot: None,
                    outcome: TickOutcome::Error(error),
                });
            }
        };
        let outcome = match self.schedule_slot(definition, slot, owner).await {
            Ok(None) => return None,
            Ok(Some(outcome)) => outcome,
            Err(error) => {
                tracing::warn!(integration_id = %id, slot = %slot, error = %error, "the slot could not be scheduled; it stays due for the next tick");
                TickOutcome::Retry(error.to_string())
            }
        };
        Some(TickStart {
            integration_id: id,
            slot: Some(slot),
            outcome,
        })
    }

    /// Schedules a due `slot`: `Ok(None)` when there is nothing to do (it is not later than
    /// the last fired slot, or another tick recorded it first); `Err` when the slot stays
    /// due (a state error, or a start that failed transiently).
    async fn schedule_slot(
        &self,
        definition: &Definition,
        slot: DateTime<Utc>,
        owner: &str,
    ) -> Result<Option<TickOutcome>, EngineError> {
        let id = definition.id.as_str();
        let last = self.state.last_slot(id).await.map_err(EngineError::State)?;
        if last.is_some_and(|last| slot <= last) {
            return Ok(None);
        }
        if last.is_none() {
            let claimed = self.claim(id, last, slot).await?;
            if claimed {
                tracing::info!(integration_id = %id, slot = %slot, "schedule initialised; first run at the next slot");
            }
            return Ok(claimed.then_some(TickOutcome::Initialised));
        }
        let integration = match Integration::new(definition.clone()) {
            Ok(integration) => integration,
            Err(problems) => {
                // It stays invalid until pushed again: the slot is used up.
                let error = format!("definition '{id}' is invalid: {}", problems.joined("; "));
                return Ok(self
                    .claim(id, last, slot)
                    .await?
                    .then_some(TickOutcome::Error(error)));
            }
        };
        match self
            .start_execution(&integration, Trigger::Schedule, owner)
            .await
        {
            Ok(StartOutcome::Started(execution)) => {
                self.claim_started(id, last, slot, &execution.id).await;
                Ok(Some(TickOutcome::Started(StartOutcome::Started(execution))))
            }
            // An execution holds the run lock: an earlier slot's (this slot is skipped, as
            // overlapping runs always are), or one started since the slot, such as a racing
            // tick's start of this very slot (nothing to report: that tick reports it).
            Ok(StartOutcome::AlreadyRunning { execution_id }) => {
                let claimed = self.claim(id, last, slot).await?;
                let this_slot = self
                    .state
                    .get_execution(&execution_id)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|running| running.started_at >= slot);
                Ok((claimed && !this_slot).then_some(TickOutcome::Started(
                    StartOutcome::AlreadyRunning { execution_id },
                )))
            }
            Err(error) if error.is_transient() || matches!(error, EngineError::State(_)) => {
                Err(error)
            }
            Err(error) => {
                tracing::warn!(integration_id = %id, error = %error, "scheduled start failed");
                self.claim(id, last, slot).await?;
                Ok(Some(TickOutcome::Error(error.to_string())))
            }
        }
    }

    /// Records `slot` as fired (compare-and-set from `last`); `false` when another tick
    /// recorded it first.
    async fn claim(
        &self,
        id: &str,
        last: Option<DateTime<Utc>>,
        slot: DateTime<Utc>,
    ) -> Result<bool, EngineError> {
        self.state
            .claim_slot(id, last, slot)
            .await
            .map_err(EngineError::State)
    }

    /// Records the slot of an execution this tick started, retrying a transient failure a
    /// little: until it is recorded, a later tick would take the slot for due again (while
    /// the execution runs, that tick finds it running and records the slot itself).
    async fn claim_started(
        &self,
        id: &str,
        last: Option<DateTime<Utc>>,
        slot: DateTime<Utc>,
        execution_id: &str,
    ) {
        for attempt in 1..=CLAIM_ATTEMPTS {
            match self.state.claim_slot(id, last, slot).await {
                Ok(true) => return,
                Ok(false) => {
                    // A racing tick found this execution running and recorded the slot.
                    tracing::debug!(integration_id = %id, slot = %slot, "slot recorded by another tick");
                    return;
                }
                Err(error) if error.kind().is_transient() && attempt < CLAIM_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                Err(error) => {
                    tracing::error!(integration_id = %id, slot = %slot, execution_id, error = %error, "execution started but its slot was not recorded; the next tick records it while the execution runs");
                    return;
                }
            }
        }
    }
}

/// The latest slot of a 5-field UTC cron expression at or before `now`; `Ok(None)` when it
/// never fired before `now`.
pub fn latest_slot(expression: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    let schedule = Schedule::parse(expression).map_err(|e| format!("schedule {e}"))?;
    Ok(schedule.latest_due(DateTime::<Utc>::MIN_UTC, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn the_latest_slot_is_at_or_before_now() {
        let slot = latest_slot("0 * * * *", at("2026-11-27T10:59:59Z"));
        assert_eq!(slot, Ok(Some(at("2026-11-27T10:00:00Z"))));
        let slot = latest_slot("0 * * * *", at("2026-11-27T11:00:00Z"));
        assert_eq!(slot, Ok(Some(at("2026-11-27T11:00:00Z"))));
        let slot = latest_slot("*/20 * * * *", at("2026-11-27T11:39:00Z"));
        assert_eq!(slot, Ok(Some(at("2026-11-27T11:20:00Z"))));
    }

    #[test]
    fn a_schedule_that_is_not_five_fields_of_cron_is_an_error_that_says_so() {
        assert!(
            latest_slot("0 0 * * * *", at("2026-11-27T10:00:00Z")).is_err_and(|e| e.contains("5"))
        );
        assert!(latest_slot("banana * * * *", at("2026-11-27T10:00:00Z")).is_err());
    }
}

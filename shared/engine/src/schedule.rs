//! The scheduler's tick (ARCHITECTURE.md section 2, step 1): for each enabled stored
//! definition, the latest cron slot at or before now; if it is later than the last fired
//! slot, claim it with a compare-and-set and start one execution. Missed slots run once; a
//! duplicate tick starts nothing; a definition never ticked before only records its latest
//! slot ("First sync: runs at the next scheduled time"). Then stalled executions are failed.

use chrono::{DateTime, Utc};
use dynsync_domain::execution::Trigger;
use dynsync_domain::{Definition, Integration, Schedule};

use crate::start::StartOutcome;
use crate::{Engine, EngineError};

/// What one tick did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TickReport {
    /// One entry per integration whose slot was claimed (or that could not be scheduled).
    pub starts: Vec<TickStart>,
    /// Executions failed because their pages stopped moving.
    pub stalled: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickStart {
    pub integration_id: String,
    /// The slot claimed (`None` when the schedule could not be read).
    pub slot: Option<DateTime<Utc>>,
    pub outcome: TickOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickOutcome {
    /// First tick of this definition: its latest slot was recorded, nothing ran.
    Initialised,
    /// The start of the execution (running, or failed at planning).
    Started(StartOutcome),
    /// The slot was claimed but the definition or its start failed; the error says why.
    Error(String),
}

impl Engine {
    /// Runs the schedule at `now`; `owner` tags the run locks taken (e.g. the request id).
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
            if let Some(start) = self.tick_one(&definition, now, owner).await? {
                report.starts.push(start);
            }
        }
        report.stalled = self.fail_stalled().await?;
        Ok(report)
    }

    async fn tick_one(
        &self,
        definition: &Definition,
        now: DateTime<Utc>,
        owner: &str,
    ) -> Result<Option<TickStart>, EngineError> {
        let id = definition.id.clone();
        let slot = match latest_slot(&definition.schedule, now) {
            Ok(Some(slot)) => slot,
            Ok(None) => return Ok(None),
            Err(error) => {
                tracing::warn!(integration_id = %id, error = %error, "schedule cannot be read");
                return Ok(Some(TickStart {
                    integration_id: id,
                    slot: None,
                    outcome: TickOutcome::Error(error),
                }));
            }
        };
        let last = self
            .state
            .last_slot(&id)
            .await
            .map_err(EngineError::State)?;
        if last.is_some_and(|last| slot <= last) {
            return Ok(None);
        }
        if !self
            .state
            .claim_slot(&id, last, slot)
            .await
            .map_err(EngineError::State)?
        {
            // Another tick claimed it first.
            return Ok(None);
        }
        let outcome = if last.is_none() {
            tracing::info!(integration_id = %id, slot = %slot, "schedule initialised; first run at the next slot");
            TickOutcome::Initialised
        } else {
            match Integration::new(definition.clone()) {
                Err(problems) => TickOutcome::Error(format!(
                    "definition '{id}' is invalid: {}",
                    problems.joined("; ")
                )),
                Ok(integration) => match self
                    .start_execution(&integration, Trigger::Schedule, owner)
                    .await
                {
                    Ok(started) => TickOutcome::Started(started),
                    Err(error) => {
                        tracing::warn!(integration_id = %id, error = %error, "scheduled start failed");
                        TickOutcome::Error(error.to_string())
                    }
                },
            }
        };
        Ok(Some(TickStart {
            integration_id: id,
            slot: Some(slot),
            outcome,
        }))
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

//! The dispatcher Lambda's handler (ARCHITECTURE.md section 2, steps 1, 2 and 4): an
//! EventBridge scheduled event runs the schedule ([`Engine::tick`]: due cron slots are
//! started and claimed once, stalled executions are failed; one integration's failure is
//! reported and the others still run, and a tick that left something for the next one
//! fails its invocation afterwards, naming it); a manual event
//! `{"integration_id": "<id>"}` starts one execution at once and answers with its id and
//! status.
//!
//! Modules: `event` (telling the two events apart), `error` (the handler's error, with a
//! message that says what to fix). The binary's `main.rs` only builds the AWS ports
//! (`dynsync_wiring::AwsPorts`) and runs the runtime; the handler names no AWS type, only
//! the engine, so tests call it with in-memory ports as well.

mod error;
mod event;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use dynsync_domain::Integration;
use dynsync_domain::execution::{Execution, ExecutionStatus, Trigger};
use dynsync_engine::{Engine, StartOutcome, TickOutcome, TickReport};
use dynsync_telemetry::{Event, ExecutionFinished, ExecutionStarted, Metrics};
use serde::Serialize;

pub use error::DispatcherError;
pub use event::DispatcherEvent;

/// The answer to a manual event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManualRun {
    pub integration_id: String,
    /// The execution started, or the one already running (then `started` is false).
    pub execution_id: String,
    pub status: ExecutionStatus,
    pub started: bool,
    /// Why an execution failed at its start (bad credentials, unknown entity...).
    pub error: Option<String>,
}

/// The answer to a schedule tick (logged; EventBridge ignores it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TickSummary {
    pub started: Vec<String>,
    pub already_running: Vec<String>,
    pub initialised: Vec<String>,
    /// `integration_id: error` of slots that could not start: used up (an invalid
    /// definition) or left due for the next tick (a state error, a transient start
    /// failure); the stall check's error as `stall check: error`.
    pub errors: Vec<String>,
    pub stalled: Vec<String>,
}

/// The handler's ports, built once per cold start.
pub struct Dispatcher {
    engine: Arc<Engine>,
}

impl Dispatcher {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    /// Handles one invocation. `owner` tags run locks (the Lambda request id); `now` is the
    /// tick's time. Metrics go into `metrics` (the caller flushes them).
    pub async fn handle(
        &self,
        event: &serde_json::Value,
        owner: &str,
        now: DateTime<Utc>,
        metrics: &Metrics,
    ) -> Result<serde_json::Value, DispatcherError> {
        match DispatcherEvent::parse(event)? {
            DispatcherEvent::Tick { scheduled_at } => {
                tracing::info!(scheduled_at = ?scheduled_at, now = %now, "schedule tick");
                let summary = self.tick(now, owner, metrics).await?;
                to_json(&summary)
            }
            DispatcherEvent::Manual { integration_id } => {
                let run = self.manual(&integration_id, owner, metrics).await?;
                to_json(&run)
            }
        }
    }

    /// Runs the schedule at `now`. After every integration was tried, a tick that left
    /// something for the next one (see [`TickReport::left_undone`]) is
    /// [`DispatcherError::TickIncomplete`], with its summary.
    pub async fn tick(
        &self,
        now: DateTime<Utc>,
        owner: &str,
        metrics: &Metrics,
    ) -> Result<TickSummary, DispatcherError> {
        let report: TickReport = self.engine.tick(now, owner).await?;
        let undone = report.left_undone();
        let mut summary = TickSummary::default();
        for start in report.starts {
            let id = start.integration_id;
            match start.outcome {
                TickOutcome::Initialised => summary.initialised.push(id),
                TickOutcome::Started(StartOutcome::Started(execution)) => {
                    report_started(&execution, Trigger::Schedule, metrics);
                    summary.started.push(execution.id);
                }
                TickOutcome::Started(StartOutcome::AlreadyRunning { execution_id }) => {
                    summary.already_running.push(execution_id);
                }
                TickOutcome::Error(error) => {
                    tracing::warn!(integration_id = %id, error = %error, "scheduled slot could not start");
                    summary.errors.push(format!("{id}: {error}"));
                }
                TickOutcome::Retry(error) => {
                    tracing::warn!(integration_id = %id, error = %error, "integration could not be scheduled; the next tick retries it");
                    summary.errors.push(format!("{id}: {error}"));
                }
            }
        }
        for execution in report.stalled {
            ExecutionFinished::of(&execution).emit(metrics);
            summary.stalled.push(execution.id);
        }
        if let Some(error) = report.stall_check_error {
            summary.errors.push(format!("stall check: {error}"));
        }
        tracing::info!(
            started = summary.started.len(),
            already_running = summary.already_running.len(),
            initialised = summary.initialised.len(),
            errors = summary.errors.len(),
            stalled = summary.stalled.len(),
            "tick done"
        );
        if !undone.is_empty() {
            return Err(DispatcherError::TickIncomplete {
                undone,
                summary: Box::new(summary),
            });
        }
        Ok(summary)
    }

    /// Starts one execution of a stored integration now, whatever its schedule (a paused
    /// integration too: pausing stops the schedule only).
    pub async fn manual(
        &self,
        integration_id: &str,
        owner: &str,
        metrics: &Metrics,
    ) -> Result<ManualRun, DispatcherError> {
        let definition = self
            .engine
            .state()
            .get_definition(integration_id)
            .await
            .map_err(DispatcherError::State)?
            .ok_or_else(|| DispatcherError::UnknownIntegration(integration_id.to_owned()))?;
        let integration = Integration::new(definition).map_err(|problems| {
            DispatcherError::InvalidDefinition {
                id: integration_id.to_owned(),
                problems: problems.joined("; "),
            }
        })?;
        let run = match self
            .engine
            .start_execution(&integration, Trigger::Manual, owner)
            .await?
        {
            StartOutcome::Started(execution) => {
                report_started(&execution, Trigger::Manual, metrics);
                ManualRun {
                    integration_id: integration_id.to_owned(),
                    execution_id: execution.id,
                    status: execution.status,
                    started: true,
                    error: execution.error,
                }
            }
            StartOutcome::AlreadyRunning { execution_id } => ManualRun {
                integration_id: integration_id.to_owned(),
                execution_id,
                status: ExecutionStatus::Running,
                started: false,
                error: None,
            },
        };
        Ok(run)
    }
}

/// Logs and counts a start; an execution that failed while planning also finished.
fn report_started(execution: &Execution, trigger: Trigger, metrics: &Metrics) {
    ExecutionStarted {
        integration_id: &execution.integration_id,
        execution_id: &execution.id,
        trigger,
    }
    .emit(metrics);
    if execution.status.is_final() {
        ExecutionFinished::of(execution).emit(metrics);
    }
}

fn to_json(value: &impl Serialize) -> Result<serde_json::Value, DispatcherError> {
    serde_json::to_value(value).map_err(|e| DispatcherError::Response(e.to_string()))
}

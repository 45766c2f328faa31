//! Telemetry events: one struct per thing worth knowing, whose `emit` writes the log line
//! and records the metrics together (vector's internal-events habit), so dashboards and logs
//! tell the same story. Fields are counts, ids, statuses and error messages, never record
//! contents. Log fields use the fixed vocabulary of STYLE.md (`integration_id`,
//! `execution_id`, `records`, `upserted`, `failed`, `duration_ms`, `error`).

use dynsync_domain::ErrorKind;
use dynsync_domain::execution::{Counters, Execution, ExecutionStatus, Trigger};

use crate::{Metrics, Unit};

/// Something that happened, logged and measured in one call.
pub trait Event {
    fn emit(self, metrics: &Metrics);
}

/// An execution started (schedule slot claimed or manual run).
#[derive(Debug, Clone, Copy)]
pub struct ExecutionStarted<'a> {
    pub integration_id: &'a str,
    pub execution_id: &'a str,
    pub trigger: Trigger,
}

impl Event for ExecutionStarted<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(
            integration_id = self.integration_id,
            execution_id = self.execution_id,
            trigger = trigger_name(self.trigger),
            "execution started"
        );
        metrics.count_one(self.integration_id, self.execution_id, "ExecutionsStarted");
    }
}

/// One page task done: fetched, mapped, upserted (or found already done).
#[derive(Debug, Clone, Copy)]
pub struct PageProcessed<'a> {
    pub integration_id: &'a str,
    pub execution_id: &'a str,
    pub records_read: u64,
    pub upserted: u64,
    pub failed: u64,
    pub skipped: u64,
    pub events_sent: u64,
    /// 429 replies from Dataverse while reading this page (each was waited out), when the
    /// source reports them; `None` records no throttle metric rather than a false zero.
    pub dataverse_throttles: Option<u64>,
    /// Change tracking: the delta token had expired and this page began a full read.
    pub resynced: bool,
    pub duration_ms: u64,
}

impl Event for PageProcessed<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(
            integration_id = self.integration_id,
            execution_id = self.execution_id,
            records = self.records_read,
            upserted = self.upserted,
            failed = self.failed,
            skipped = self.skipped,
            events_sent = self.events_sent,
            dataverse_throttles = self.dataverse_throttles,
            duration_ms = self.duration_ms,
            "page processed"
        );
        let mut values = vec![
            one("PagesProcessed"),
            ("RecordsRead", Unit::Count, count(self.records_read)),
            ("UsersUpserted", Unit::Count, count(self.upserted)),
            ("RecordsFailed", Unit::Count, count(self.failed)),
            ("RecordsSkipped", Unit::Count, count(self.skipped)),
            ("EventsSent", Unit::Count, count(self.events_sent)),
            ("PageDuration", Unit::Milliseconds, count(self.duration_ms)),
        ];
        if let Some(throttles) = self.dataverse_throttles {
            values.push(("DataverseThrottles", Unit::Count, count(throttles)));
        }
        if self.resynced {
            values.push(one("ResyncAfterExpiredToken"));
        }
        metrics.record(self.integration_id, self.execution_id, &values);
    }
}

/// A page task failed. Transient: it goes back to the queue and is retried. Permanent: the
/// engine has failed its execution, and the task is acknowledged.
#[derive(Debug, Clone, Copy)]
pub struct PageFailed<'a> {
    pub integration_id: &'a str,
    pub execution_id: &'a str,
    pub kind: ErrorKind,
    /// 1 on the first delivery.
    pub receive_count: u32,
    pub error: &'a str,
}

impl Event for PageFailed<'_> {
    fn emit(self, metrics: &Metrics) {
        let (kind, metric) = match self.kind {
            ErrorKind::Transient => ("transient", "PageErrorsTransient"),
            ErrorKind::Permanent => ("permanent", "PageErrorsPermanent"),
        };
        tracing::warn!(
            integration_id = self.integration_id,
            execution_id = self.execution_id,
            kind,
            receive_count = self.receive_count,
            error = self.error,
            "page failed"
        );
        metrics.count_one(self.integration_id, self.execution_id, metric);
    }
}

/// A page task was handed back unstarted because the invocation was about to time out.
#[derive(Debug, Clone, Copy)]
pub struct PageDeferred<'a> {
    pub integration_id: &'a str,
    pub execution_id: &'a str,
    pub remaining_ms: u64,
}

impl Event for PageDeferred<'_> {
    fn emit(self, metrics: &Metrics) {
        tracing::info!(
            integration_id = self.integration_id,
            execution_id = self.execution_id,
            remaining_ms = self.remaining_ms,
            "page deferred: too little time left in this invocation"
        );
        metrics.count_one(self.integration_id, self.execution_id, "PagesDeferred");
    }
}

/// An execution reached its final status (finished by the worker of its last page, or
/// failed: at start, by a permanent page error, or as stalled by the dispatcher).
#[derive(Debug, Clone, Copy)]
pub struct ExecutionFinished<'a> {
    pub integration_id: &'a str,
    pub execution_id: &'a str,
    pub status: ExecutionStatus,
    pub counters: Counters,
    /// From start to finish; `None` when the finish time is unknown.
    pub duration_ms: Option<u64>,
    pub error: Option<&'a str>,
}

impl<'a> ExecutionFinished<'a> {
    /// The event for a finished execution record.
    pub fn of(execution: &'a Execution) -> Self {
        let duration_ms = execution
            .finished_at
            .map(|end| end.signed_duration_since(execution.started_at))
            .and_then(|d| u64::try_from(d.num_milliseconds()).ok());
        Self {
            integration_id: &execution.integration_id,
            execution_id: &execution.id,
            status: execution.status,
            counters: execution.counters,
            duration_ms,
            error: execution.error.as_deref(),
        }
    }
}

/// The "execution finished" line of `$event` at `$level`. A macro rather than a function
/// only because `tracing` takes an event's level as a constant (tokio-rs/tracing#372), and
/// a failed execution's line is an error, the others info: its fields are written once.
macro_rules! finished_line {
    ($level:expr, $event:expr, $error:expr) => {{
        let c = $event.counters;
        tracing::event!(
            $level,
            integration_id = $event.integration_id,
            execution_id = $event.execution_id,
            status = $event.status.as_str(),
            records = c.records_read,
            upserted = c.upserted,
            failed = c.failed,
            skipped = c.skipped,
            events_sent = c.events_sent,
            pages = c.pages,
            deleted = c.deleted,
            joined = c.joined,
            left = c.left,
            removals_applied = c.removals_applied,
            duration_ms = $event.duration_ms,
            error = $error,
            "execution finished"
        )
    }};
}

impl Event for ExecutionFinished<'_> {
    fn emit(self, metrics: &Metrics) {
        let c = self.counters;
        let metric = match self.status {
            ExecutionStatus::Succeeded => Some("ExecutionsSucceeded"),
            ExecutionStatus::CompletedWithFailures => Some("ExecutionsCompletedWithFailures"),
            ExecutionStatus::Failed => Some("ExecutionsFailed"),
            ExecutionStatus::Running => None,
        };
        // A failed execution's line is an error and carries the error; the others are info.
        if self.status == ExecutionStatus::Failed {
            finished_line!(tracing::Level::ERROR, self, self.error);
        } else {
            finished_line!(tracing::Level::INFO, self, None::<&str>);
        }
        let mut values = Vec::with_capacity(2);
        if let Some(metric) = metric {
            values.push(one(metric));
        }
        if let Some(ms) = self.duration_ms {
            values.push(("ExecutionDuration", Unit::Milliseconds, count(ms)));
        }
        // Records leaving the synced set: only where they can be seen (fetch mode
        // changes, list_mode changes), so other integrations get no false zeros.
        if c.deleted + c.joined + c.left + c.removals_applied > 0 {
            values.extend([
                ("RecordsDeleted", Unit::Count, count(c.deleted)),
                ("MembersJoined", Unit::Count, count(c.joined)),
                ("MembersLeft", Unit::Count, count(c.left)),
                ("RemovalsApplied", Unit::Count, count(c.removals_applied)),
            ]);
        }
        metrics.record(self.integration_id, self.execution_id, &values);
    }
}

impl Metrics {
    /// Records one occurrence of `metric`.
    fn count_one(&self, integration_id: &str, execution_id: &str, metric: &'static str) {
        self.record(integration_id, execution_id, &[one(metric)]);
    }
}

/// One occurrence of `metric`, as a value to record.
fn one(metric: &'static str) -> (&'static str, Unit, f64) {
    (metric, Unit::Count, 1.0)
}

fn trigger_name(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Schedule => "schedule",
        Trigger::Manual => "manual",
    }
}

/// Counts become EMF numbers; f64 holds every count below 2^53 exactly.
#[allow(clippy::cast_precision_loss)]
fn count(value: u64) -> f64 {
    value as f64
}

#[cfg(test)]
mod tests;

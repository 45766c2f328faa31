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
        metrics.record(
            self.integration_id,
            self.execution_id,
            &[("ExecutionsStarted", Unit::Count, 1.0)],
        );
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
            ("PagesProcessed", Unit::Count, 1.0),
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
            values.push(("ResyncAfterExpiredToken", Unit::Count, 1.0));
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
        metrics.record(
            self.integration_id,
            self.execution_id,
            &[(metric, Unit::Count, 1.0)],
        );
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
        metrics.record(
            self.integration_id,
            self.execution_id,
            &[("PagesDeferred", Unit::Count, 1.0)],
        );
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

impl Event for ExecutionFinished<'_> {
    fn emit(self, metrics: &Metrics) {
        let c = self.counters;
        let status = self.status.as_str();
        let metric = match self.status {
            ExecutionStatus::Succeeded => Some("ExecutionsSucceeded"),
            ExecutionStatus::CompletedWithFailures => Some("ExecutionsCompletedWithFailures"),
            ExecutionStatus::Failed => Some("ExecutionsFailed"),
            ExecutionStatus::Running => None,
        };
        if self.status == ExecutionStatus::Failed {
            tracing::error!(
                integration_id = self.integration_id,
                execution_id = self.execution_id,
                status,
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
                duration_ms = self.duration_ms,
                error = self.error,
                "execution finished"
            );
        } else {
            tracing::info!(
                integration_id = self.integration_id,
                execution_id = self.execution_id,
                status,
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
                duration_ms = self.duration_ms,
                "execution finished"
            );
        }
        let mut values = Vec::with_capacity(2);
        if let Some(metric) = metric {
            values.push((metric, Unit::Count, 1.0));
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
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;

    fn emitted(event: impl Event) -> serde_json::Value {
        let metrics = Metrics::new("worker");
        event.emit(&metrics);
        let mut documents = metrics.take_documents(0);
        assert_eq!(documents.len(), 1);
        documents.pop().unwrap_or_default()
    }

    fn metric_names(document: &serde_json::Value) -> Vec<String> {
        document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| Some(format!("{}:{}", m["Name"].as_str()?, m["Unit"].as_str()?)))
            .collect()
    }

    #[test]
    fn page_processed_records_every_counter_and_its_duration() {
        let document = emitted(PageProcessed {
            integration_id: "contacts",
            execution_id: "e1",
            records_read: 500,
            upserted: 480,
            failed: 5,
            skipped: 15,
            events_sent: 480,
            dataverse_throttles: Some(2),
            resynced: false,
            duration_ms: 1234,
        });
        assert_eq!(
            metric_names(&document),
            [
                "DataverseThrottles:Count",
                "EventsSent:Count",
                "PageDuration:Milliseconds",
                "PagesProcessed:Count",
                "RecordsFailed:Count",
                "RecordsRead:Count",
                "RecordsSkipped:Count",
                "UsersUpserted:Count",
            ]
        );
        assert_eq!(document["RecordsRead"], json!(500.0));
        assert_eq!(document["UsersUpserted"], json!(480.0));
        assert_eq!(document["PageDuration"], json!(1234.0));
        assert_eq!(document["IntegrationId"], "contacts");
        assert_eq!(document["ExecutionIds"], json!(["e1"]));
    }

    #[test]
    fn an_unknown_throttle_count_records_no_throttle_metric() {
        let document = emitted(PageProcessed {
            integration_id: "contacts",
            execution_id: "e1",
            records_read: 1,
            upserted: 1,
            failed: 0,
            skipped: 0,
            events_sent: 0,
            dataverse_throttles: None,
            resynced: true,
            duration_ms: 5,
        });
        assert_eq!(document["ResyncAfterExpiredToken"], json!(1.0));
        assert!(document.get("DataverseThrottles").is_none());
        assert!(!metric_names(&document).contains(&"DataverseThrottles:Count".to_owned()));
        assert_eq!(document["PagesProcessed"], json!(1.0));
    }

    #[test]
    fn a_failed_execution_counts_as_failed_with_its_duration() {
        let execution = Execution {
            id: "e9".into(),
            integration_id: "contacts".into(),
            trigger: Trigger::Schedule,
            status: ExecutionStatus::Failed,
            started_at: Utc.timestamp_opt(1_000, 0).unwrap(),
            finished_at: Some(Utc.timestamp_opt(1_090, 0).unwrap()),
            window: None,
            counters: Counters::default(),
            failures: Vec::new(),
            error: Some("Dataverse rejected the client secret".into()),
        };
        let document = emitted(ExecutionFinished::of(&execution));
        assert_eq!(
            metric_names(&document),
            ["ExecutionDuration:Milliseconds", "ExecutionsFailed:Count"]
        );
        assert_eq!(document["ExecutionsFailed"], json!(1.0));
        assert_eq!(document["ExecutionDuration"], json!(90_000.0));
    }

    #[test]
    fn each_final_status_has_its_own_metric() {
        for (status, name) in [
            (ExecutionStatus::Succeeded, "ExecutionsSucceeded:Count"),
            (
                ExecutionStatus::CompletedWithFailures,
                "ExecutionsCompletedWithFailures:Count",
            ),
            (ExecutionStatus::Failed, "ExecutionsFailed:Count"),
        ] {
            let document = emitted(ExecutionFinished {
                integration_id: "i",
                execution_id: "e",
                status,
                counters: Counters::default(),
                duration_ms: None,
                error: None,
            });
            assert_eq!(metric_names(&document), [name]);
        }
    }

    #[test]
    fn page_errors_are_counted_by_kind() {
        let transient = emitted(PageFailed {
            integration_id: "i",
            execution_id: "e",
            kind: ErrorKind::Transient,
            receive_count: 2,
            error: "Dataverse timed out",
        });
        assert_eq!(metric_names(&transient), ["PageErrorsTransient:Count"]);
        let permanent = emitted(PageFailed {
            integration_id: "i",
            execution_id: "e",
            kind: ErrorKind::Permanent,
            receive_count: 1,
            error: "invalid FetchXML",
        });
        assert_eq!(metric_names(&permanent), ["PageErrorsPermanent:Count"]);
    }

    #[test]
    fn started_and_deferred_pages_are_counted() {
        let started = emitted(ExecutionStarted {
            integration_id: "i",
            execution_id: "e",
            trigger: Trigger::Manual,
        });
        assert_eq!(metric_names(&started), ["ExecutionsStarted:Count"]);
        let deferred = emitted(PageDeferred {
            integration_id: "i",
            execution_id: "e",
            remaining_ms: 900,
        });
        assert_eq!(metric_names(&deferred), ["PagesDeferred:Count"]);
    }
}

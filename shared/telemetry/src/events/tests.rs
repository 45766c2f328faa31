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

/// The JSON log lines `event` writes.
fn logged(event: impl Event) -> Vec<serde_json::Value> {
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || event.emit(&Metrics::new("worker")));
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_failed_execution_logs_an_error_with_its_error_and_others_log_info_without() {
    let counters = Counters {
        records_read: 7,
        removals_applied: 2,
        ..Counters::default()
    };
    for (status, level, error) in [
        (
            ExecutionStatus::Failed,
            "ERROR",
            Some("Insider refused the batch"),
        ),
        (ExecutionStatus::CompletedWithFailures, "INFO", None),
        (ExecutionStatus::Succeeded, "INFO", None),
    ] {
        let lines = logged(ExecutionFinished {
            integration_id: "contacts",
            execution_id: "e1",
            status,
            counters,
            duration_ms: Some(40),
            error: Some("Insider refused the batch"),
        });
        let [line] = lines.as_slice() else {
            panic!("one line expected: {lines:?}");
        };
        let fields = &line["fields"];
        assert_eq!(line["level"], level, "{line}");
        assert_eq!(fields["message"], "execution finished");
        assert_eq!(fields["integration_id"], "contacts");
        assert_eq!(fields["execution_id"], "e1");
        assert_eq!(fields["status"], status.as_str());
        assert_eq!(fields["records"], 7);
        assert_eq!(fields["removals_applied"], 2);
        assert_eq!(fields["upserted"], 0);
        assert_eq!(fields["duration_ms"], 40);
        assert_eq!(
            fields.get("error").and_then(|e| e.as_str()),
            error,
            "{line}"
        );
    }
}

//! Every log line the worker writes for a message is in that message's span, whose fields
//! (`message_id`, `execution_id`, `integration_id`) Lambda's JSON log format puts under
//! `span`: one Logs Insights filter finds a page's whole story (README, "Operate").
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use dynsync_domain::execution::ExecutionStatus;
use dynsync_telemetry::Metrics;
use serde_json::Value;
use support::{Harness, PagedSource, far_deadline};

/// Log lines written into memory.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_log_line_of_a_message_carries_its_message_execution_and_integration() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let h = Harness::new(PagedSource::contacts(5, 2));
    let execution = h.start().await;
    let metrics = Metrics::new("worker");
    let mut message_ids = Vec::new();
    for _ in 0..10 {
        let event = h.receive().await;
        if event.records.is_empty() {
            break;
        }
        message_ids.extend(event.records.iter().filter_map(|m| m.message_id.clone()));
        h.worker.handle(event, far_deadline(), &metrics).await;
    }
    assert_eq!(
        h.execution(&execution.id).await.status,
        ExecutionStatus::Succeeded
    );

    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let logged: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    // The start is the dispatcher's (outside any message); from the first message on,
    // every line is in a message's span.
    let first = logged
        .iter()
        .position(|l| l["span"]["name"] == "sqs_message")
        .expect("no line in a message span");
    let in_messages = &logged[first..];
    assert!(in_messages.len() >= message_ids.len(), "{text}");
    for line in in_messages {
        let span = &line["span"];
        assert_eq!(span["name"], "sqs_message", "{line}");
        assert!(
            message_ids
                .iter()
                .any(|id| span["message_id"] == id.as_str()),
            "{line}"
        );
        assert_eq!(span["execution_id"], execution.id.as_str(), "{line}");
        assert_eq!(span["integration_id"], "contacts", "{line}");
    }
    assert!(
        in_messages
            .iter()
            .any(|l| l["fields"]["message"] == "execution finished"),
        "{text}"
    );
}

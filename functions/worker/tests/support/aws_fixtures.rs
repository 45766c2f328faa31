//! Fixtures of the AWS acceptance tests that need no running stack: the skip-unless-CI
//! SDK configuration for moto (`dynsync_aws::infra::moto_sdk_config`, shared by every
//! moto-backed test crate), Lambda's SQS event built from the messages SQS delivered,
//! EventBridge's scheduled event, a queue with a real redrive policy to a dead-letter
//! queue, the [`Spec`] of an integration definition, and readers of the handlers' answers
//! (failed message ids, EMF metrics, id lists).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsBatchResponse;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, DurationRound, Utc};
use dynsync_aws::infra;
use serde_json::{Value, json};

/// Lambda's SQS event from SQS's messages (shared with the AWS benchmark).
#[path = "../../../../tests/src/sqs_event.rs"]
mod sqs_event;
#[allow(unused_imports)] // the dispatcher's tests include this file and build no SQS event
pub use sqs_event::lambda_event;

/// The SDK configuration for moto; `None` (skipped, loudly) without `AWS_ENDPOINT_URL`,
/// and a failure in CI, where the test script always starts moto.
pub use dynsync_aws::infra::moto_sdk_config as aws;

/// One integration definition over the emulators; the defaults sync contacts by email.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: &'static str,
    pub schedule: String,
    pub enabled: bool,
    /// `all`, `new_and_updated` or `only_updated`.
    pub fetch_mode: &'static str,
    pub page_size: u32,
    pub partitions: u32,
    pub retries: u32,
    /// Map one `crm_contact_synced` event per record.
    pub events: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            name: "contacts",
            schedule: "0 0 1 1 *".to_owned(),
            enabled: true,
            fetch_mode: "all",
            page_size: 10,
            partitions: 1,
            retries: 2,
            events: false,
        }
    }
}

impl Spec {
    /// The defaults under another name (the integration id is the name and a suffix).
    pub fn named(name: &'static str) -> Self {
        Self {
            name,
            ..Self::default()
        }
    }

    pub fn schedule(mut self, cron: impl Into<String>) -> Self {
        self.schedule = cron.into();
        self
    }

    pub fn paused(mut self) -> Self {
        self.enabled = false;
        self
    }

    pub fn fetch_mode(mut self, mode: &'static str) -> Self {
        self.fetch_mode = mode;
        self
    }

    pub fn pages(mut self, page_size: u32, partitions: u32) -> Self {
        self.page_size = page_size;
        self.partitions = partitions;
        self
    }

    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    pub fn with_events(mut self) -> Self {
        self.events = true;
        self
    }
}

/// An EventBridge scheduled event of the stack's tick rule, fired at `time`.
pub fn scheduled_event(time: DateTime<Utc>) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/dynsync-tick"],
        "detail": {}
    })
}

/// A time on a 10-minute boundary near the wall clock (the ledger's TTLs stay sensible).
pub fn ten_minute_boundary() -> DateTime<Utc> {
    Utc::now()
        .duration_trunc(chrono::Duration::minutes(10))
        .unwrap()
}

/// Ids of the messages a worker reported as batch item failures.
pub fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// The named metric summed over every EMF document.
pub fn metric(documents: &[Value], name: &str) -> f64 {
    documents
        .iter()
        .filter_map(|d| d.get(name))
        .map(|v| match v {
            Value::Array(a) => a.iter().filter_map(Value::as_f64).sum(),
            v => v.as_f64().unwrap_or(0.0),
        })
        .sum()
}

pub fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

/// A list of ids in a dispatcher answer (`started`, `stalled`...), sorted.
pub fn ids(answer: &Value, key: &str) -> Vec<String> {
    let mut ids: Vec<String> = serde_json::from_value(answer[key].clone())
        .unwrap_or_else(|e| panic!("{key} is not a list of ids ({e}): {answer}"));
    ids.sort();
    ids
}

/// A dead-letter queue, then `name` redriving to it after `max_receives` deliveries; both
/// URLs (main queue first).
pub async fn queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    max_receives: u32,
    visibility: Duration,
) -> (String, String) {
    let dlq_url = infra::create_queue(sqs, &format!("{name}-dlq"), Duration::from_secs(30))
        .await
        .unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap();
    let policy =
        json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives.to_string() });
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility.as_secs().to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (url, dlq_url)
}

//! The deployed stack rebuilt on this machine for the acceptance tests: a fresh DynamoDB
//! table, SQS queue (optionally with a real redrive policy to a dead-letter queue) and
//! secrets on moto, the Dataverse and Insider emulators, and the real dispatcher and worker
//! handlers over the AWS adapters and the live connectors. The engine's clock is a
//! [`ManualClock`] that each tick sets to the tick's `now`, so slots and stall detection
//! are tested at chosen times without waiting; everything else runs in real time.
//! SQS messages are received with the SDK and handed over as Lambda's event source does
//! (message id, receipt handle, `ApproximateReceiveCount`). Definitions and their secrets
//! come from the child module `definition` (`aws_definition.rs`). Needs `aws_fixtures` as a
//! sibling module `fixtures` of the test crate.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use chrono::{DateTime, Utc};
use dynsync_aws::infra;
use dynsync_dispatcher::Dispatcher;
use dynsync_domain::execution::{Execution, ExecutionStatus};
use dynsync_domain::ports::{Clock, PageQueue, StateStore};
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator};
use dynsync_engine::Engine;
use dynsync_engine::memory::ManualClock;
use dynsync_telemetry::Metrics;
use dynsync_wiring::{AwsConfig, AwsPorts};
use dynsync_worker::Worker;
use serde_json::{Value, json};

#[path = "aws_definition.rs"]
pub mod definition;

use definition::Endpoints;

use crate::fixtures::{
    Spec, failed_ids, lambda_event, queue_with_dlq, scheduled_event, ten_minute_boundary,
};

pub struct Stack {
    pub sdk: SdkConfig,
    pub sqs: aws_sdk_sqs::Client,
    pub table: String,
    pub queue_url: String,
    /// The dead-letter queue, when the stack was built with a redrive policy.
    pub dlq_url: Option<String>,
    pub dataverse: DataverseEmulator,
    pub insider: InsiderEmulator,
    pub clock: Arc<ManualClock>,
    pub engine: Arc<Engine>,
    pub dispatcher: Dispatcher,
    pub worker: Worker,
    pub metrics: Metrics,
    /// Where the engine's clock started: a 10-minute boundary.
    pub base: DateTime<Utc>,
    suffix: String,
}

impl Stack {
    /// A stack over 25 seeded contacts and a queue with a 60 s visibility timeout.
    pub async fn new(sdk: &SdkConfig) -> Self {
        Self::build(sdk, None).await
    }

    /// A stack whose queue redrives to a dead-letter queue after `max_receives` deliveries,
    /// with a `visibility` timeout.
    pub async fn with_dead_letter_queue(
        sdk: &SdkConfig,
        max_receives: u32,
        visibility: Duration,
    ) -> Self {
        Self::build(sdk, Some((max_receives, visibility))).await
    }

    async fn build(sdk: &SdkConfig, redrive: Option<(u32, Duration)>) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let table = format!("dynsync-acc-{suffix}");
        infra::create_table(&aws_sdk_dynamodb::Client::new(sdk), &table)
            .await
            .unwrap();
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let queue_name = format!("dynsync-acc-{suffix}");
        let (queue_url, dlq_url) = match redrive {
            None => {
                let url = infra::create_queue(&sqs, &queue_name, Duration::from_secs(60))
                    .await
                    .unwrap();
                (url, None)
            }
            Some((max_receives, visibility)) => {
                let (url, dlq) = queue_with_dlq(&sqs, &queue_name, max_receives, visibility).await;
                (url, Some(dlq))
            }
        };
        let dataverse = DataverseEmulator::start(Seed::contacts(25, 7))
            .await
            .unwrap();
        let insider = InsiderEmulator::start(InsiderConfig::default())
            .await
            .unwrap();
        let base = ten_minute_boundary();
        let clock = Arc::new(ManualClock::new(base));
        let engine = engine(sdk, &table, &queue_url, &clock);
        let queue: Arc<dyn PageQueue> = engine.queue().clone();
        Self {
            sdk: sdk.clone(),
            sqs,
            table,
            queue_url,
            dlq_url,
            dataverse,
            insider,
            clock,
            dispatcher: Dispatcher::new(engine.clone()),
            worker: Worker::new(engine.clone(), queue, Duration::from_secs(5)),
            engine,
            metrics: Metrics::new("acceptance"),
            base,
            suffix,
        }
    }

    /// Another function container: its own engine (caches, connectors) over the same
    /// table, queue and clock.
    pub fn another_engine(&self) -> Arc<Engine> {
        engine(&self.sdk, &self.table, &self.queue_url, &self.clock)
    }

    /// Another worker container over the same table and queue.
    pub fn another_worker(&self) -> Worker {
        let engine = self.another_engine();
        let queue = engine.queue().clone();
        Worker::new(engine, queue, Duration::from_secs(5))
    }

    pub fn state(&self) -> &Arc<dyn StateStore> {
        self.engine.state()
    }

    /// Stores the definition of `spec` and its two secrets; its integration id.
    pub async fn define(&self, spec: &Spec) -> String {
        let id = format!("{}-{}", spec.name, self.suffix);
        self.put_secrets(&id).await;
        self.store(&definition::spec_yaml(&id, spec, &self.endpoints()))
            .await;
        id
    }

    /// Stores integration `id`'s two secrets as its definition names them
    /// (`dynsync/<id>/dynamics`, `dynsync/<id>/insider`), with the emulators' values.
    pub async fn put_secrets(&self, id: &str) {
        definition::put_secrets(&self.sdk, id).await;
    }

    /// The stack's emulators, for a definition's YAML.
    pub fn endpoints(&self) -> Endpoints {
        Endpoints::of(&self.dataverse, &self.insider)
    }

    /// Parses and stores a definition (its problems and the YAML when it is invalid).
    pub async fn store(&self, yaml: &str) {
        definition::store(self.state().as_ref(), yaml).await;
    }

    /// One scheduled invocation of the dispatcher at `now` (the engine's clock set to it).
    pub async fn tick(&self, now: DateTime<Utc>) -> Value {
        self.clock.set(now);
        self.dispatcher
            .handle(&scheduled_event(now), "lambda:tick", now, &self.metrics)
            .await
            .unwrap()
    }

    /// A manual invocation of the dispatcher for `integration_id`; its answer.
    pub async fn manual(&self, integration_id: &str) -> Value {
        self.dispatcher
            .handle(
                &json!({ "integration_id": integration_id }),
                "lambda:manual",
                self.clock.now(),
                &self.metrics,
            )
            .await
            .unwrap()
    }

    /// A manual run that must start; its execution id.
    pub async fn trigger(&self, integration_id: &str) -> String {
        let answer = self.manual(integration_id).await;
        assert_eq!(answer["status"], "running", "{answer}");
        assert_eq!(answer["started"], true, "{answer}");
        answer["execution_id"].as_str().unwrap().to_owned()
    }

    pub async fn status(&self, execution_id: &str) -> ExecutionStatus {
        self.execution(execution_id).await.status
    }

    pub async fn execution(&self, id: &str) -> Execution {
        self.state().get_execution(id).await.unwrap().unwrap()
    }

    /// What SQS delivers from `queue_url` within `wait` seconds (up to 10 messages).
    pub async fn receive_from(&self, queue_url: &str, wait: i32) -> Vec<Message> {
        receive(&self.sqs, queue_url, wait).await
    }

    pub async fn receive(&self, wait: i32) -> Vec<Message> {
        self.receive_from(&self.queue_url, wait).await
    }

    /// Deletes the messages `worker` did not report as failed, as the event source does.
    pub async fn acknowledge(&self, messages: &[Message], failed: &[String]) {
        acknowledge(&self.sqs, &self.queue_url, messages, failed).await;
    }

    /// Execution `id`, which must have succeeded (else the assertion shows its error).
    pub async fn succeeded(&self, id: &str) -> Execution {
        let execution = self.execution(id).await;
        assert_eq!(
            execution.status,
            ExecutionStatus::Succeeded,
            "{:?}",
            execution.error
        );
        execution
    }

    /// Receives until SQS delivers `message` again; that delivery and the other messages
    /// received meanwhile (still invisible).
    pub async fn receive_again(&self, message: &Message) -> (Message, Vec<Message>) {
        let mut others = Vec::new();
        let again = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let mut received = self.receive(1).await;
                let at = received
                    .iter()
                    .position(|m| m.message_id == message.message_id);
                if let Some(at) = at {
                    let again = received.remove(at);
                    others.extend(received);
                    return again;
                }
                others.extend(received);
            }
        })
        .await
        .expect("SQS delivered the message again");
        (again, others)
    }

    /// Makes received messages visible again at once (as a crashed invocation's would be
    /// after the visibility timeout).
    pub async fn make_visible(&self, messages: &[Message]) {
        for m in messages {
            self.sqs
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .set_receipt_handle(m.receipt_handle.clone())
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
    }

    /// `worker` handles `messages` as one Lambda invocation; the ids it reported as failed.
    /// The messages are not deleted.
    pub async fn handle_with(
        &self,
        worker: &Worker,
        messages: &[Message],
        metrics: &Metrics,
    ) -> Vec<String> {
        let deadline = SystemTime::now() + Duration::from_secs(300);
        let response = worker
            .handle(lambda_event(messages), deadline, metrics)
            .await;
        failed_ids(&response)
    }

    /// One worker invocation on what SQS delivers within `wait` seconds, acknowledged as the
    /// event source does; the ids reported as failed (`None` when nothing was delivered).
    pub async fn invoke_worker(&self, wait: i32) -> Option<Vec<String>> {
        let messages = self.receive(wait).await;
        if messages.is_empty() {
            return None;
        }
        let failed = self
            .handle_with(&self.worker, &messages, &self.metrics)
            .await;
        self.acknowledge(&messages, &failed).await;
        Some(failed)
    }

    /// Worker invocations until the queue stays empty for a second; none may fail a message.
    /// The number of invocations that had messages.
    pub async fn drain(&self) -> usize {
        for invocations in 0..30 {
            match self.invoke_worker(1).await {
                None => return invocations,
                Some(failed) => assert!(failed.is_empty(), "{failed:?}"),
            }
        }
        panic!("the queue never emptied");
    }

    /// Executions of one integration, newest first.
    pub async fn executions_of(&self, integration_id: &str) -> Vec<Execution> {
        self.state()
            .list_executions(Some(integration_id), 100)
            .await
            .unwrap()
    }
}

/// What SQS delivers from `queue_url` within `wait` seconds (up to 10 messages, with
/// their `ApproximateReceiveCount`).
pub async fn receive(sqs: &aws_sdk_sqs::Client, queue_url: &str, wait: i32) -> Vec<Message> {
    sqs.receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
}

/// Deletes from `queue_url` the messages whose ids are not in `failed`, as the event
/// source does after an invocation's partial batch response.
pub async fn acknowledge(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[Message],
    failed: &[String],
) {
    for m in messages {
        if failed.iter().any(|id| Some(id) == m.message_id.as_ref()) {
            continue;
        }
        sqs.delete_message()
            .queue_url(queue_url)
            .set_receipt_handle(m.receipt_handle.clone())
            .send()
            .await
            .unwrap();
    }
}

/// The engine of one function container over the stack's table and queue, wired as the
/// functions wire it, on the stack's clock.
fn engine(sdk: &SdkConfig, table: &str, queue_url: &str, clock: &Arc<ManualClock>) -> Arc<Engine> {
    let config = AwsConfig::new(table.to_owned(), queue_url.to_owned(), "acceptance");
    AwsPorts::on(sdk, &config, clock.clone()).engine
}

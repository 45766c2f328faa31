//! The deployed path end to end, on this machine: the dispatcher and worker handlers over
//! the real AWS ports built by `dynsync_wiring::AwsPorts` (DynamoDB, SQS and Secrets Manager
//! on moto) and the live connectors talking to the Dataverse and Insider emulators. SQS
//! messages are received with the SDK and handed to the worker as Lambda's event source
//! would (message id, receipt handle, `ApproximateReceiveCount`), and the messages it does
//! not report as failed are deleted, as the event source does (with the receive and delete
//! of `support/aws_stack.rs`, whose stack this test does not use: its ports are built from
//! the environment, as the functions build them).
//! Skips without `AWS_ENDPOINT_URL` (fails in CI), like the other moto tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/aws_fixtures.rs"]
mod fixtures;
#[path = "support/aws_stack.rs"]
mod stack;

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use dynsync_aws::infra;
use dynsync_dispatcher::Dispatcher;
use dynsync_domain::execution::{Execution, ExecutionStatus};
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator};
use dynsync_telemetry::Metrics;
use dynsync_wiring::{AwsConfig, AwsPorts};
use dynsync_worker::Worker;
use fixtures::{aws, failed_ids, lambda_event, metric};
use serde_json::json;
use stack::definition::{self, Endpoints};

/// Integration `id`'s definition over the emulators, with `retries` client retries.
fn definition(id: &str, retries: u32, at: &Endpoints) -> String {
    let settings = format!("  page_size: 10\n  request_timeout_ms: 5000\n  retries: {retries}\n");
    let body = "source:
  entity: contact
  fields: [contactid, firstname]
identifiers:
  - { type: uuid, field: contactid }
attributes:
  - { key: name, field: firstname }
";
    at.aws_definition(id, "method: entity\n", &settings, body)
}

/// One stack: a fresh table, queue and secrets on moto, both emulators, the AWS ports.
struct Stack {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    dataverse: DataverseEmulator,
    insider: InsiderEmulator,
    ports: AwsPorts,
    dispatcher: Dispatcher,
    worker: Worker,
    metrics: Metrics,
    id: String,
}

impl Stack {
    async fn new(sdk: &SdkConfig, retries: u32) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let id = format!("e2e-{}", &suffix[..12]);
        let table = format!("dynsync-e2e-{suffix}");
        infra::create_table(&aws_sdk_dynamodb::Client::new(sdk), &table)
            .await
            .unwrap();
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let queue_url = infra::create_queue(
            &sqs,
            &format!("dynsync-e2e-{suffix}"),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        let dataverse = DataverseEmulator::start(Seed::contacts(25, 7))
            .await
            .unwrap();
        let insider = InsiderEmulator::start(InsiderConfig::default())
            .await
            .unwrap();
        definition::put_secrets(sdk, &id).await;
        let config = AwsConfig::from_lookup("worker", |name| match name {
            "DYNSYNC_TABLE" => Some(table.clone()),
            "DYNSYNC_QUEUE_URL" => Some(queue_url.clone()),
            _ => None,
        })
        .unwrap();
        let ports = AwsPorts::build(&config).await;
        let yaml = definition(&id, retries, &Endpoints::of(&dataverse, &insider));
        definition::store(ports.engine.state().as_ref(), &yaml).await;
        let dispatcher = Dispatcher::new(ports.engine.clone());
        let worker = Worker::new(
            ports.engine.clone(),
            ports.queue.clone(),
            Duration::from_secs(5),
        );
        Self {
            sqs,
            queue_url,
            dataverse,
            insider,
            ports,
            dispatcher,
            worker,
            metrics: Metrics::new("e2e"),
            id,
        }
    }

    /// A manual run through the dispatcher; its execution id.
    async fn trigger(&self) -> String {
        let answer = self
            .dispatcher
            .handle(
                &json!({ "integration_id": self.id }),
                "lambda:e2e",
                chrono::Utc::now(),
                &self.metrics,
            )
            .await
            .unwrap();
        assert_eq!(answer["status"], "running", "{answer}");
        answer["execution_id"].as_str().unwrap().to_owned()
    }

    /// One worker invocation on what SQS delivers within `wait`, deleting the messages not
    /// reported as failed; the ids reported as failed (`None` when nothing was delivered).
    async fn invoke_worker(&self, wait: i32) -> Option<Vec<String>> {
        let messages = stack::receive(&self.sqs, &self.queue_url, wait).await;
        if messages.is_empty() {
            return None;
        }
        let deadline = SystemTime::now() + Duration::from_secs(300);
        let response = self
            .worker
            .handle(lambda_event(&messages), deadline, &self.metrics)
            .await;
        let failed = failed_ids(&response);
        stack::acknowledge(&self.sqs, &self.queue_url, &messages, &failed).await;
        Some(failed)
    }

    /// Execution `id`, which must have succeeded (else the assertion shows its error).
    async fn succeeded(&self, id: &str) -> Execution {
        let state = self.ports.engine.state();
        let execution = state.get_execution(id).await.unwrap().unwrap();
        assert_eq!(
            execution.status,
            ExecutionStatus::Succeeded,
            "{:?}",
            execution.error
        );
        execution
    }

    /// Worker invocations until the queue stays empty.
    async fn drain(&self) {
        for _ in 0..20 {
            match self.invoke_worker(2).await {
                None => return,
                Some(failed) => assert!(failed.is_empty(), "{failed:?}"),
            }
        }
        panic!("the queue never emptied");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_run_flows_through_the_aws_ports_from_dataverse_to_insider() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk, 2).await;
    let execution_id = stack.trigger().await;
    stack.drain().await;

    let execution = stack.succeeded(&execution_id).await;
    let c = execution.counters;
    assert_eq!(c.records_read, 25);
    assert_eq!(c.pages, 3);
    assert_eq!(c.records_read, c.upserted + c.skipped + c.failed);
    assert_eq!(c.upserted, 25);
    assert_eq!(stack.insider.profiles().len(), 25);

    let documents = stack.metrics.take_documents(0);
    assert_eq!(metric(&documents, "ExecutionsStarted"), 1.0);
    assert_eq!(metric(&documents, "PagesProcessed"), 3.0);
    assert_eq!(metric(&documents, "UsersUpserted"), 25.0);
    assert_eq!(metric(&documents, "ExecutionsSucceeded"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_fails_transiently_comes_back_through_sqs_soon_and_the_run_succeeds() {
    let Some(sdk) = aws().await else { return };
    // No client retries: the 503 reaches the worker.
    let stack = Stack::new(&sdk, 0).await;
    let execution_id = stack.trigger().await;

    stack.dataverse.faults().fail_every(1, 503);
    let failed = stack.invoke_worker(2).await.unwrap();
    assert_eq!(
        failed.len(),
        1,
        "the page is reported as a batch item failure"
    );
    stack.dataverse.faults().clear();

    // Released with a backoff under a second, not the queue's 60 s visibility timeout.
    let retried = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(failed) = stack.invoke_worker(1).await {
                return failed;
            }
        }
    })
    .await
    .expect("the released page came back");
    assert!(retried.is_empty(), "{retried:?}");
    stack.drain().await;

    let execution = stack.succeeded(&execution_id).await;
    assert_eq!(execution.counters.upserted, 25);
    let documents = stack.metrics.take_documents(0);
    assert_eq!(metric(&documents, "PageErrorsTransient"), 1.0);
}

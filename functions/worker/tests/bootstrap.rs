//! The worker Lambda as deployed: the real `worker` binary run as a process against the
//! Lambda Runtime API emulator, configured from the environment template.yaml gives it,
//! over DynamoDB, SQS and Secrets Manager on moto and the Dataverse and Insider emulators.
//! The test plays Lambda's SQS event source: it receives real messages from moto's queue,
//! invokes the function with Lambda's SQS event JSON (`{"Records":[...]}`), reads the
//! partial batch response JSON and deletes the messages not named in it. Covers `main.rs`,
//! the runtime's deadline header and the partial batch response end to end (issue 10's
//! fault matrix, last item). Skips without `AWS_ENDPOINT_URL` (fails in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/aws_fixtures.rs"]
mod fixtures;
#[path = "support/bootstrap.rs"]
mod process;
#[path = "support/aws_stack.rs"]
mod stack;

use std::time::{Duration, SystemTime};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use dynsync_domain::execution::{ExecutionStatus, PageTask};
use dynsync_emulators::lambda_runtime::InvocationResult;
use fixtures::{Spec, aws, lambda_event};
use process::{Bootstrap, template_environment};
use serde_json::{Value, json};
use stack::Stack;

const FUNCTION: &str = "dynsync-WorkerFunction-test";

async fn worker(stack: &Stack) -> Bootstrap {
    let variables = template_environment("WorkerFunction", &stack.table, &stack.queue_url);
    Bootstrap::spawn(env!("CARGO_BIN_EXE_worker"), FUNCTION, &variables).await
}

/// Lambda's SQS event for `messages`, as the event source builds it.
fn sqs_event(messages: &[Message]) -> Value {
    let mut event = serde_json::to_value(lambda_event(messages)).unwrap();
    for record in event["Records"].as_array_mut().unwrap() {
        record["eventSource"] = json!("aws:sqs");
        record["eventSourceARN"] = json!("arn:aws:sqs:us-east-1:123456789012:dynsync-PageQueue");
        record["awsRegion"] = json!("us-east-1");
    }
    event
}

/// The message ids of a partial batch response's `batchItemFailures`.
fn batch_item_failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a partial batch response: {response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

fn message_ids(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m.message_id.clone().unwrap())
        .collect()
}

/// The event source's loop: receive, invoke, delete what was not reported failed, until
/// the execution ends. The invocations that had messages, and the failures reported.
async fn drive(stack: &Stack, worker: &mut Bootstrap, execution_id: &str) -> (usize, Vec<String>) {
    let (mut invocations, mut failures) = (0, Vec::new());
    for _ in 0..60 {
        let messages = stack.receive(1).await;
        if messages.is_empty() {
            if stack.status(execution_id).await.is_final() {
                return (invocations, failures);
            }
            continue;
        }
        invocations += 1;
        let response = worker.respond(sqs_event(&messages)).await;
        let failed = batch_item_failures(&response);
        stack.acknowledge(&messages, &failed).await;
        failures.extend(failed);
    }
    panic!("the execution did not end:\n{}", worker.output());
}

/// Every seeded contact upserted exactly once, each with at most one event.
fn assert_each_contact_once(stack: &Stack, contacts: usize) {
    let profiles = stack.insider.profiles();
    assert_eq!(profiles.len(), contacts, "profiles in Insider");
    assert!(profiles.iter().all(|p| p.upserts == 1), "{profiles:?}");
    let mut holders: Vec<String> = stack
        .insider
        .events()
        .into_iter()
        .map(|e| e.profile_id)
        .collect();
    let events = holders.len();
    holders.sort();
    holders.dedup();
    assert_eq!(holders.len(), events, "no event twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_bootstrap_drains_real_sqs_deliveries_until_the_execution_succeeds() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    let id = stack.define(&Spec::default().with_events()).await;
    let execution_id = stack.trigger(&id).await;
    let mut worker = worker(&stack).await;

    let (invocations, failures) = drive(&stack, &mut worker, &execution_id).await;

    assert!(failures.is_empty(), "{failures:?}\n{}", worker.output());
    assert_eq!(invocations, 3, "one page per invocation");
    let execution = stack.execution(&execution_id).await;
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded,
        "{:?}\n{}",
        execution.error,
        worker.output()
    );
    let c = execution.counters;
    assert_eq!(
        (c.records_read, c.upserted, c.failed, c.events_sent, c.pages),
        (25, 25, 0, 25, 3)
    );
    assert_each_contact_once(&stack, 25);
    assert_eq!(stack.insider.events().len(), 25);
    // The binary wrote its metrics as EMF lines, with the function's name from Lambda.
    let output = worker.output();
    assert!(output.contains("\"PagesProcessed\""), "{output}");
    assert!(output.contains(FUNCTION), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_one_failing_page_reports_exactly_that_message_in_batch_item_failures() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    // Two partitions of one page each, so two page tasks are queued at the start; no
    // retries, so one Insider 500 fails the page it hits.
    let id = stack.define(&Spec::default().pages(50, 2).retries(0)).await;
    let execution_id = stack.trigger(&id).await;
    let mut messages = Vec::new();
    while messages.len() < 2 {
        let received = stack.receive(2).await;
        assert!(!received.is_empty(), "both partitions' pages are queued");
        messages.extend(received);
    }
    assert_eq!(messages.len(), 2);
    let mut worker = worker(&stack).await;

    // Messages are handled in order: the first one's upsert is the first request.
    stack.insider.faults().fail_next(1, 500);
    let response = worker.respond(sqs_event(&messages)).await;

    let first = messages[0].message_id.clone().unwrap();
    assert_eq!(
        batch_item_failures(&response),
        vec![first.clone()],
        "{response}\n{}",
        worker.output()
    );
    assert_eq!(stack.insider.requests(), 2);
    let halfway = stack.execution(&execution_id).await;
    assert_eq!(halfway.status, ExecutionStatus::Running);
    assert_eq!(halfway.counters.pages, 1, "only the second message's page");
    let stored = stack.insider.profiles().len() as u64;
    assert_eq!(halfway.counters.upserted, stored);
    assert!(stored > 0 && stored < 25, "{stored}");

    // The event source deletes the settled message; the failed one comes back.
    stack
        .acknowledge(&messages, std::slice::from_ref(&first))
        .await;
    let (_, failures) = drive(&stack, &mut worker, &execution_id).await;
    assert!(failures.is_empty(), "{failures:?}");
    let execution = stack.succeeded(&execution_id).await;
    assert_eq!(
        (execution.counters.records_read, execution.counters.upserted),
        (25, 25)
    );
    assert_each_contact_once(&stack, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_near_its_deadline_hands_the_page_back_and_the_redelivery_loses_nothing() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    let id = stack.define(&Spec::default().with_events()).await;
    let execution_id = stack.trigger(&id).await;
    let first = stack.receive(2).await;
    assert_eq!(first.len(), 1, "the first page is queued");
    let task: PageTask = serde_json::from_str(first[0].body.as_deref().unwrap()).unwrap();
    let mut worker = worker(&stack).await;

    // 10 s left: less than template.yaml's DYNSYNC_TIME_RESERVE_SECONDS (90).
    let deadline = SystemTime::now() + Duration::from_secs(10);
    let result = worker.invoke(sqs_event(&first), deadline).await;
    let InvocationResult::Response(response) = result else {
        panic!("{result:?}\n{}", worker.output());
    };

    // Handed back: re-sent as a new message and settled, so not a batch item failure and
    // no receive used up; nothing was fetched or sent.
    assert_eq!(batch_item_failures(&response), Vec::<String>::new());
    stack.acknowledge(&first, &[]).await;
    assert_eq!(stack.insider.requests(), 0);
    let untouched = stack.execution(&execution_id).await;
    assert_eq!(
        (untouched.status, untouched.counters.pages),
        (ExecutionStatus::Running, 0)
    );
    let again = stack.receive(2).await;
    assert_eq!(
        again.len(),
        1,
        "the handed-back task is queued:\n{}",
        worker.output()
    );
    assert_ne!(message_ids(&again), message_ids(&first), "a new message");
    let count = MessageSystemAttributeName::ApproximateReceiveCount;
    assert_eq!(again[0].attributes.as_ref().unwrap()[&count], "1");
    let handed_back: PageTask = serde_json::from_str(again[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(handed_back, task);
    stack.make_visible(&again).await;

    let (_, failures) = drive(&stack, &mut worker, &execution_id).await;
    assert!(failures.is_empty(), "{failures:?}");
    let execution = stack.succeeded(&execution_id).await;
    let c = execution.counters;
    assert_eq!(
        (c.records_read, c.upserted, c.events_sent, c.pages),
        (25, 25, 25, 3)
    );
    assert_each_contact_once(&stack, 25);
}

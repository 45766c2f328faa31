//! Issue 6's end-to-end acceptance on this machine, the pages side: the real dispatcher and
//! worker handlers over DynamoDB, SQS and Secrets Manager on moto and the Dataverse and
//! Insider emulators. The queue drained with the payloads SQS really delivers, redeliveries
//! that change nothing, one page handled by two containers at the same moment (upserted
//! once: the page claim), a page dead-lettered by a real redrive policy and failed by the
//! stall check, and two workers racing to finish. The schedule and manual side is
//! `aws_acceptance.rs`. Skips without `AWS_ENDPOINT_URL` (fails in CI).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/aws_fixtures.rs"]
mod fixtures;
#[path = "support/aws_stack.rs"]
mod stack;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use dynsync_domain::execution::{ExecutionStatus, PageTask};
use dynsync_emulators::dataverse::{FieldValue, Record};
use dynsync_telemetry::Metrics;
use fixtures::{Spec, aws, ids, metric, minutes};
use serde_json::{Value, json};
use stack::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_drains_the_real_sqs_deliveries_to_exact_counts_and_exactly_the_expected_users()
{
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    let id = stack.define(&Spec::default()).await;
    // Three contacts get an email Insider cannot take: skipped (invalid_identifier: skip_user).
    let contacts = stack.dataverse.store().ids("contact");
    for contact in &contacts[..3] {
        let bad = Record::new().with("emailaddress1", "not-an-email");
        stack
            .dataverse
            .store()
            .update("contact", *contact, bad)
            .unwrap();
    }
    let mut expected = BTreeMap::new();
    for contact in &contacts[3..] {
        let row = stack.dataverse.store().get("contact", *contact).unwrap();
        let text = |name| match row.get(name) {
            Some(FieldValue::Text(text)) => text.clone(),
            other => panic!("{name}: {other:?}"),
        };
        expected.insert(text("emailaddress1"), json!(text("firstname")));
    }

    let execution_id = stack.trigger(&id).await;
    assert_eq!(stack.drain().await, 3, "one page per invocation");

    let execution = stack.succeeded(&execution_id).await;
    let c = execution.counters;
    assert_eq!(
        (c.records_read, c.upserted, c.skipped, c.failed, c.pages),
        (25, 22, 3, 0, 3)
    );
    assert_eq!(c.records_read, c.upserted + c.skipped + c.failed);
    let held: BTreeMap<String, Value> = stack
        .insider
        .profiles()
        .into_iter()
        .map(|p| {
            assert_eq!(p.upserts, 1, "{p:?}");
            (p.email().unwrap().to_owned(), p.attributes["name"].clone())
        })
        .collect();
    assert_eq!(held, expected);
    let documents = stack.metrics.take_documents(0);
    assert_eq!(metric(&documents, "PagesProcessed"), 3.0);
    assert_eq!(metric(&documents, "ExecutionsSucceeded"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_delivered_to_two_containers_at_the_same_moment_is_upserted_once() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    let id = stack.define(&Spec::default().with_events()).await;
    let execution_id = stack.trigger(&id).await;
    let first: Vec<Message> = stack.receive(2).await;
    assert_eq!(first.len(), 1);
    // Slow upserts keep the first container busy while the second gets the same message.
    stack
        .insider
        .faults()
        .set_latency(Duration::from_millis(300));

    let other = stack.another_worker();
    let (a, b) = tokio::join!(
        stack.handle_with(&stack.worker, &first, &stack.metrics),
        stack.handle_with(&other, &first, &stack.metrics)
    );

    // One processed the page; the other found it claimed (in DynamoDB) and handed it back:
    // a copy re-sent with a delay (until the claim lapses), the delivery settled rather
    // than reported failed, so waiting uses up none of the queue's receives.
    let failed = [a, b].concat();
    assert!(failed.is_empty(), "{failed:?}");
    let delayed = stack
        .sqs
        .get_queue_attributes()
        .queue_url(&stack.queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap()
        .attributes
        .and_then(|a| {
            a.get(&QueueAttributeName::ApproximateNumberOfMessagesDelayed)
                .cloned()
        });
    assert_eq!(
        delayed.as_deref(),
        Some("1"),
        "exactly one container handed the page back"
    );
    let once = stack.execution(&execution_id).await.counters;
    assert_eq!(
        (once.records_read, once.pages, once.events_sent),
        (10, 1, 10)
    );
    assert_eq!(stack.insider.events().len(), 10);
    assert!(stack.insider.profiles().iter().all(|p| p.upserts == 1));

    stack.insider.faults().set_latency(Duration::ZERO);
    stack.acknowledge(&first, &[]).await;
    stack.drain().await;
    let execution = stack.execution(&execution_id).await;
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.counters.events_sent, 25);
    assert_eq!(stack.insider.events().len(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_page_changes_no_count_and_sends_no_event_twice() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    let id = stack.define(&Spec::default().with_events()).await;
    let execution_id = stack.trigger(&id).await;

    let first: Vec<Message> = stack.receive(2).await;
    assert_eq!(first.len(), 1, "only the first page is queued at the start");
    assert!(
        stack
            .handle_with(&stack.worker, &first, &stack.metrics)
            .await
            .is_empty()
    );
    let once = stack.execution(&execution_id).await.counters;
    assert_eq!(
        (once.records_read, once.pages, once.events_sent),
        (10, 1, 10)
    );
    assert_eq!(stack.insider.events().len(), 10);

    // The same delivery handled again (at-least-once invocation), then SQS's own
    // redelivery of it (made visible at once, as after a crash; ApproximateReceiveCount 2).
    assert!(
        stack
            .handle_with(&stack.worker, &first, &stack.metrics)
            .await
            .is_empty()
    );
    assert_eq!(stack.execution(&execution_id).await.counters, once);
    assert_eq!(stack.insider.events().len(), 10);
    assert_eq!(stack.insider.profiles().len(), 10);
    stack.make_visible(&first).await;
    let (redelivered, others) = stack.receive_again(&first[0]).await;
    let count = MessageSystemAttributeName::ApproximateReceiveCount;
    assert_eq!(redelivered.attributes.as_ref().unwrap()[&count], "2");
    let redelivered = [redelivered];
    // Another container: no cache of this execution, only the ledger in DynamoDB.
    let failed = stack
        .handle_with(&stack.another_worker(), &redelivered, &stack.metrics)
        .await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(stack.execution(&execution_id).await.counters, once);
    assert_eq!(stack.insider.events().len(), 10);
    stack.acknowledge(&redelivered, &[]).await;
    stack.make_visible(&others).await;
    stack.drain().await;

    let execution = stack.succeeded(&execution_id).await;
    let c = execution.counters;
    assert_eq!(
        (c.records_read, c.upserted, c.events_sent, c.pages),
        (25, 25, 25, 3)
    );
    let profiles = stack.insider.profiles();
    assert_eq!(profiles.len(), 25);
    assert!(profiles.iter().all(|p| p.upserts == 1), "{profiles:?}");
    let events = stack.insider.events();
    assert_eq!(events.len(), 25);
    let mut holders: Vec<&str> = events.iter().map(|e| e.profile_id.as_str()).collect();
    holders.sort_unstable();
    holders.dedup();
    assert_eq!(holders.len(), 25, "one event per profile");
    assert_eq!(
        metric(&stack.metrics.take_documents(0), "PagesProcessed"),
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_always_fails_is_dead_lettered_and_the_stall_check_fails_its_run_keeping_the_watermark()
 {
    let Some(sdk) = aws().await else { return };
    // Two deliveries, then the dead-letter queue: before the engine's own 5-delivery limit.
    let stack = Stack::with_dead_letter_queue(&sdk, 2, Duration::from_secs(2)).await;
    let spec = Spec::default().fetch_mode("new_and_updated").retries(0);
    let id = stack.define(&spec).await;
    let base = stack.base;
    let first = stack.trigger(&id).await;
    stack.drain().await;
    assert_eq!(stack.status(&first).await, ExecutionStatus::Succeeded);
    let watermark = stack.state().watermark(&id).await.unwrap();
    let stall_after = chrono::Duration::from_std(stack.engine.config().stall_after).unwrap();
    assert_eq!(
        watermark,
        Some(base - minutes(5)),
        "the first window's end (safety lag)"
    );

    let started_at = base + minutes(10);
    stack.clock.set(started_at);
    let second = stack.trigger(&id).await;
    stack.dataverse.faults().fail_every(1, 503);
    let dlq = stack.dlq_url.clone().unwrap();
    let mut reported = 0;
    let dead = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(failed) = stack.invoke_worker(1).await {
                assert_eq!(failed.len(), 1, "the page is a batch item failure");
                reported += 1;
            }
            let dead = stack.receive_from(&dlq, 0).await;
            if !dead.is_empty() {
                return dead;
            }
        }
    })
    .await
    .expect("the page reached the dead-letter queue");
    assert_eq!(reported, 2, "delivered maxReceiveCount times");
    assert_eq!(dead.len(), 1);
    let task: PageTask = serde_json::from_str(dead[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(
        (task.execution_id.as_str(), task.partition),
        (second.as_str(), 0)
    );
    assert_eq!(stack.status(&second).await, ExecutionStatus::Running);
    let holder = stack.state().lock_holder(&id).await.unwrap();
    assert_eq!(
        holder.map(|(execution, _, _)| execution),
        Some(second.clone())
    );

    let early = stack.tick(started_at + stall_after - minutes(1)).await;
    assert!(ids(&early, "stalled").is_empty(), "{early}");
    assert_eq!(stack.status(&second).await, ExecutionStatus::Running);
    let late = stack.tick(started_at + stall_after + minutes(1)).await;
    assert_eq!(ids(&late, "stalled"), vec![second.clone()], "{late}");

    let failed = stack.execution(&second).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("stalled")),
        "{:?}",
        failed.error
    );
    assert_eq!(stack.state().watermark(&id).await.unwrap(), watermark);
    assert_eq!(stack.state().lock_holder(&id).await.unwrap(), None);
    assert_eq!(
        metric(&stack.metrics.take_documents(0), "ExecutionsFailed"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_racing_on_the_last_pages_finish_the_execution_once() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    // Two partitions of one page each: both first pages are also the last two pages.
    let id = stack.define(&Spec::default().pages(50, 2)).await;
    let execution_id = stack.trigger(&id).await;
    let mut messages = Vec::new();
    while messages.len() < 2 {
        let received = stack.receive(2).await;
        assert!(!received.is_empty(), "both partitions' pages are queued");
        messages.extend(received);
    }
    assert_eq!(messages.len(), 2);

    // Both workers sit in their Insider upsert at the same time, so they complete their
    // pages and reach the finish together.
    stack
        .insider
        .faults()
        .set_latency(Duration::from_millis(300));
    let other = stack.another_worker();
    let (metrics_a, metrics_b) = (Metrics::new("a"), Metrics::new("b"));
    let (failed_a, failed_b) = tokio::join!(
        stack.handle_with(&stack.worker, &messages[..1], &metrics_a),
        stack.handle_with(&other, &messages[1..], &metrics_b),
    );
    assert!(
        failed_a.is_empty() && failed_b.is_empty(),
        "{failed_a:?} {failed_b:?}"
    );
    stack.acknowledge(&messages, &[]).await;
    assert_eq!(stack.drain().await, 0, "nothing more was queued");

    let (a, b) = (metrics_a.take_documents(0), metrics_b.take_documents(0));
    assert_eq!(
        metric(&a, "PagesProcessed") + metric(&b, "PagesProcessed"),
        2.0
    );
    assert_eq!(
        metric(&a, "ExecutionsSucceeded") + metric(&b, "ExecutionsSucceeded"),
        1.0
    );
    let execution = stack.succeeded(&execution_id).await;
    assert!(execution.finished_at.is_some());
    let c = execution.counters;
    assert_eq!((c.records_read, c.upserted, c.pages), (25, 25, 2));
    assert_eq!(stack.insider.profiles().len(), 25);
    assert_eq!(stack.state().lock_holder(&id).await.unwrap(), None);
}

//! The worker handler against the engine over in-memory ports, with SQS events built from
//! the queue's own deliveries: partial batch responses, retries, give-ups, deferrals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::SqsEvent;
use dynsync_domain::execution::{ExecutionStatus, PageTask};
use dynsync_domain::ports::{PageClaim, PageLedger};
use dynsync_telemetry::Metrics;
use support::{Harness, PagedSource, at, failed_ids, far_deadline, message, metric_sum};

#[tokio::test]
async fn every_page_is_processed_and_the_last_one_finishes_the_execution() {
    let h = Harness::new(PagedSource::contacts(5, 2));
    h.source.throttles_per_page.store(2, Ordering::SeqCst);
    let execution = h.start().await;
    let metrics = Metrics::new("worker");
    let mut invocations = 0;
    loop {
        let event = h.receive().await;
        if event.records.is_empty() {
            break;
        }
        invocations += 1;
        let response = h.worker.handle(event, far_deadline(), &metrics).await;
        assert!(failed_ids(&response).is_empty());
        assert!(invocations < 10, "the pages never end");
    }
    let finished = h.execution(&execution.id).await;
    assert_eq!(finished.status, ExecutionStatus::Succeeded);
    assert_eq!(finished.counters.records_read, 5);
    assert_eq!(finished.counters.upserted, 5);
    assert_eq!(finished.counters.pages, 3);
    assert_eq!(h.sink.users.load(Ordering::SeqCst), 5);

    let documents = metrics.take_documents(0);
    assert_eq!(metric_sum(&documents, "PagesProcessed"), 3.0);
    assert_eq!(metric_sum(&documents, "RecordsRead"), 5.0);
    assert_eq!(metric_sum(&documents, "UsersUpserted"), 5.0);
    assert_eq!(metric_sum(&documents, "ExecutionsSucceeded"), 1.0);
    assert_eq!(
        metric_sum(&documents, "DataverseThrottles"),
        6.0,
        "2 per page"
    );
    assert_eq!(documents[0]["IntegrationId"], "contacts");
}

#[tokio::test(start_paused = true)]
async fn a_transient_error_is_a_batch_item_failure_released_for_an_early_retry() {
    let h = Harness::new(PagedSource::contacts(2, 2));
    h.source.transient_failures.store(1, Ordering::SeqCst);
    let execution = h.start().await;
    let metrics = Metrics::new("worker");

    let event = h.receive().await;
    let expected: Vec<String> = event
        .records
        .iter()
        .filter_map(|m| m.message_id.clone())
        .collect();
    let response = h.worker.handle(event, far_deadline(), &metrics).await;
    assert_eq!(failed_ids(&response), expected);
    assert_eq!(
        h.execution(&execution.id).await.status,
        ExecutionStatus::Running
    );

    // Released with a backoff of seconds, not the queue's 30-minute visibility timeout.
    tokio::time::advance(Duration::from_secs(5)).await;
    let retry = h.receive().await;
    assert_eq!(retry.records.len(), 1);
    assert_eq!(retry.records[0].attributes["ApproximateReceiveCount"], "2");
    let response = h.worker.handle(retry, far_deadline(), &metrics).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(
        h.execution(&execution.id).await.status,
        ExecutionStatus::Succeeded
    );

    let documents = metrics.take_documents(0);
    assert_eq!(metric_sum(&documents, "PageErrorsTransient"), 1.0);
    assert_eq!(metric_sum(&documents, "ExecutionsSucceeded"), 1.0);
}

#[tokio::test(start_paused = true)]
async fn a_duplicate_of_a_page_being_processed_elsewhere_comes_back_when_that_claim_lapses() {
    let h = Harness::new(PagedSource::contacts(2, 2));
    let execution = h.start().await;
    let metrics = Metrics::new("worker");
    let event = h.receive().await;
    let task: PageTask = serde_json::from_str(event.records[0].body.as_deref().unwrap()).unwrap();
    // Another delivery of the same task (an SQS duplicate) is processing the page.
    let other = PageClaim {
        claimant: "delivery-other".into(),
        until: at("2026-11-27T10:10:00Z"),
    };
    h.state
        .claim_page(&execution.id, &task.page_key(), &other)
        .await
        .unwrap();

    let response = h.worker.handle(event, far_deadline(), &metrics).await;
    assert!(
        failed_ids(&response).is_empty(),
        "handed back (settled), not a batch item failure that uses up a receive"
    );
    assert_eq!(h.source.fetches.load(Ordering::SeqCst), 0);
    assert_eq!(h.sink.users.load(Ordering::SeqCst), 0);
    // Invisible until the other delivery's claim lapses (10 minutes), not for the queue's
    // 30-minute visibility timeout.
    tokio::time::advance(Duration::from_secs(9 * 60)).await;
    assert!(h.receive().await.records.is_empty());
    tokio::time::advance(Duration::from_secs(61)).await;
    let again = h.receive().await;
    assert_eq!(again.records.len(), 1);
    assert_eq!(
        again.records[0].attributes.get("ApproximateReceiveCount"),
        Some(&"1".to_owned()),
        "the hand-back did not count as a receive"
    );

    // The other delivery died without finishing: this one takes the page over.
    h.state
        .release_page_claim(&execution.id, &task.page_key(), "delivery-other")
        .await
        .unwrap();
    let response = h.worker.handle(again, far_deadline(), &metrics).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(h.sink.users.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_transient_error_on_the_last_delivery_fails_the_execution_and_is_acknowledged() {
    let h = Harness::new(PagedSource::contacts(2, 2));
    h.source.transient_failures.store(10, Ordering::SeqCst);
    let execution = h.start().await;
    let metrics = Metrics::new("worker");
    let mut event = h.receive().await;
    event.records[0]
        .attributes
        .insert("ApproximateReceiveCount".into(), "5".into());

    let response = h.worker.handle(event, far_deadline(), &metrics).await;
    assert!(failed_ids(&response).is_empty());
    let failed = h.execution(&execution.id).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    let error = failed.error.unwrap_or_default();
    assert!(
        error.contains("failed 5 times") && error.contains("503"),
        "{error}"
    );
    let documents = metrics.take_documents(0);
    assert_eq!(metric_sum(&documents, "ExecutionsFailed"), 1.0);
}

#[tokio::test]
async fn a_permanent_error_fails_the_execution_and_is_acknowledged() {
    let h = Harness::new(PagedSource::contacts(2, 2));
    *h.source.permanent_error.lock().unwrap() = Some("invalid FetchXML: unknown attribute".into());
    let execution = h.start().await;
    let metrics = Metrics::new("worker");

    let response = h
        .worker
        .handle(h.receive().await, far_deadline(), &metrics)
        .await;
    assert!(failed_ids(&response).is_empty());
    let failed = h.execution(&execution.id).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(
        failed
            .error
            .unwrap_or_default()
            .contains("invalid FetchXML"),
        "the execution's error says what failed"
    );
    assert_eq!(
        metric_sum(&metrics.take_documents(0), "ExecutionsFailed"),
        1.0
    );
}

#[tokio::test]
async fn a_malformed_message_fails_alone_and_the_rest_of_the_batch_is_processed() {
    let h = Harness::new(PagedSource::contacts(2, 2));
    let execution = h.start().await;
    let metrics = Metrics::new("worker");
    let mut event = h.receive().await;
    event
        .records
        .insert(0, message("bogus", "{\"not\": \"a task\"}", 1));
    let mut no_body = message("empty", "", 1);
    no_body.body = None;
    event.records.push(no_body);

    let response = h.worker.handle(event, far_deadline(), &metrics).await;
    assert_eq!(failed_ids(&response), ["msg-bogus", "msg-empty"]);
    assert_eq!(
        h.execution(&execution.id).await.status,
        ExecutionStatus::Succeeded
    );
}

#[tokio::test]
async fn messages_not_started_when_time_is_short_are_handed_back_unstarted() {
    let h = Harness::new(PagedSource::contacts(2, 2));
    let execution = h.start().await;
    let metrics = Metrics::new("worker");
    let event = h.receive().await;
    let ids: Vec<String> = event
        .records
        .iter()
        .filter_map(|m| m.message_id.clone())
        .collect();

    // 10 s left, below the 30 s reserve of the harness.
    let deadline = SystemTime::now() + Duration::from_secs(10);
    let response = h.worker.handle(event, deadline, &metrics).await;
    assert!(
        failed_ids(&response).is_empty(),
        "handed back (settled), not a batch item failure that uses up a receive: {ids:?}"
    );
    assert_eq!(h.source.fetches.load(Ordering::SeqCst), 0);
    assert_eq!(
        h.execution(&execution.id).await.status,
        ExecutionStatus::Running
    );
    assert_eq!(metric_sum(&metrics.take_documents(0), "PagesDeferred"), 1.0);
    // Handed back at once, so the next invocation gets it without waiting 30 minutes, and
    // uncounted: deferrals never push a page towards the dead-letter queue.
    let again = h.receive().await;
    assert_eq!(again.records.len(), 1);
    assert_eq!(
        again.records[0].attributes.get("ApproximateReceiveCount"),
        Some(&"1".to_owned())
    );
}

#[tokio::test]
async fn an_empty_batch_gets_an_empty_response() {
    let h = Harness::new(PagedSource::contacts(1, 2));
    let metrics = Metrics::new("worker");
    let response = h
        .worker
        .handle(SqsEvent::default(), far_deadline(), &metrics)
        .await;
    assert!(response.batch_item_failures.is_empty());
    assert!(metrics.is_empty());
}

#[tokio::test]
async fn a_redelivered_page_that_is_already_done_sends_nothing_again() {
    let h = Harness::new(PagedSource::contacts(4, 2));
    let execution = h.start().await;
    let metrics = Metrics::new("worker");
    let first = h.receive().await;
    let mut duplicate = SqsEvent::default();
    duplicate.records = first.records.clone();
    let response = h.worker.handle(first, far_deadline(), &metrics).await;
    assert!(failed_ids(&response).is_empty());
    let sent = h.sink.users.load(Ordering::SeqCst);

    let response = h.worker.handle(duplicate, far_deadline(), &metrics).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(h.sink.users.load(Ordering::SeqCst), sent);
    assert_eq!(
        metric_sum(&metrics.take_documents(0), "PagesProcessed"),
        1.0
    );
    assert_eq!(
        h.execution(&execution.id).await.status,
        ExecutionStatus::Running
    );
}

#[tokio::test]
async fn the_response_serialises_as_lambda_s_partial_batch_response() {
    let h = Harness::new(PagedSource::contacts(1, 2));
    let mut event = SqsEvent::default();
    event.records.push(message("r1", "not json", 1));
    let response = h
        .worker
        .handle(event, far_deadline(), &Metrics::new("worker"))
        .await;
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "msg-r1"}]})
    );
}

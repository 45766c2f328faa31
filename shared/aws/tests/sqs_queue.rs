//! The SQS page queue against moto: batched sends (25 tasks in three `SendMessageBatch`
//! calls), redelivery after the visibility timeout with `receive_count` 2, release, and a
//! message that is not a page task left alone for the dead-letter queue.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use dynsync_aws::{AwsRequestCounter, AwsService};
use dynsync_domain::execution::PageTask;
use dynsync_domain::ports::PageQueue;

fn tasks(count: usize) -> Vec<PageTask> {
    (0..count)
        .map(|i| PageTask {
            execution_id: "e1".into(),
            integration_id: "contacts".into(),
            partition: 0,
            cursor: (i > 0).then(|| format!("00000000-0000-0000-0000-{i:012}")),
        })
        .collect()
}

#[tokio::test]
async fn twenty_five_tasks_go_out_in_three_batches_and_each_arrives_once() {
    let config = aws_or_skip!();
    let counter = AwsRequestCounter::new();
    let queue = common::page_queue(&config, Duration::from_secs(60), &counter).await;
    let before = counter.get(AwsService::Sqs);
    queue.send(&tasks(25)).await.unwrap();
    assert_eq!(
        counter.get(AwsService::Sqs) - before,
        3,
        "SendMessageBatch of 10, 10 and 5"
    );

    let mut received = Vec::new();
    while received.len() < 25 {
        let got = queue.receive(10, Duration::from_secs(2)).await.unwrap();
        assert!(!got.is_empty(), "only {} of 25 arrived", received.len());
        assert!(got.len() <= 10);
        received.extend(got);
    }
    let unique: HashSet<PageTask> = received.iter().map(|d| d.task.clone()).collect();
    assert_eq!(unique, tasks(25).into_iter().collect());
    for delivery in &received {
        queue.ack(&delivery.receipt).await.unwrap();
    }
    assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unacknowledged_task_returns_after_the_visibility_timeout_with_receive_count_two() {
    let config = aws_or_skip!();
    let queue =
        common::page_queue(&config, Duration::from_secs(1), &AwsRequestCounter::new()).await;
    queue.send(&tasks(1)).await.unwrap();
    let first = queue.receive(1, Duration::from_secs(2)).await.unwrap();
    assert_eq!(
        first.iter().map(|d| d.receive_count).collect::<Vec<_>>(),
        [1]
    );
    assert!(
        queue.receive(1, Duration::ZERO).await.unwrap().is_empty(),
        "invisible meanwhile"
    );
    let second = queue.receive(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        second
            .iter()
            .map(|d| (d.task.clone(), d.receive_count))
            .collect::<Vec<_>>(),
        [(tasks(1)[0].clone(), 2)]
    );
}

#[tokio::test]
async fn a_released_task_is_visible_again_at_once_with_no_delay() {
    let config = aws_or_skip!();
    let queue =
        common::page_queue(&config, Duration::from_secs(60), &AwsRequestCounter::new()).await;
    queue.send(&tasks(1)).await.unwrap();
    let first = queue
        .receive(1, Duration::from_secs(2))
        .await
        .unwrap()
        .pop()
        .unwrap();
    queue.release(&first.receipt, Duration::ZERO).await.unwrap();
    let again = queue
        .receive(1, Duration::from_secs(2))
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!((again.task, again.receive_count), (first.task, 2));
}

#[tokio::test]
async fn a_message_that_is_not_a_page_task_is_skipped_not_fatal() {
    let config = aws_or_skip!();
    let queue =
        common::page_queue(&config, Duration::from_secs(60), &AwsRequestCounter::new()).await;
    queue
        .client()
        .send_message()
        .queue_url(queue.queue_url())
        .message_body("{\"not\": \"a task\"}")
        .send()
        .await
        .unwrap();
    queue.send(&tasks(1)).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.extend(queue.receive(10, Duration::from_secs(1)).await.unwrap());
    }
    assert_eq!(
        got.into_iter().map(|d| d.task).collect::<Vec<_>>(),
        tasks(1)
    );
}

#[tokio::test]
async fn a_missing_queue_is_a_permanent_error_naming_it() {
    let config = aws_or_skip!();
    let url = format!(
        "{}/123456789012/no-such-queue",
        std::env::var("AWS_ENDPOINT_URL").unwrap()
    );
    let queue = dynsync_aws::SqsPageQueue::new(&config, url);
    let error = queue.send(&tasks(1)).await.unwrap_err();
    assert_eq!(
        error.kind(),
        dynsync_domain::ErrorKind::Permanent,
        "{}",
        error.message
    );
    assert!(error.message.contains("no-such-queue"), "{}", error.message);
}

//! Hand-backs on SQS (moto) with the stack's real redrive policy (`maxReceiveCount` 5, as in
//! template.yaml): a page another delivery holds is handed back by re-sending its task with
//! a delay and deleting the delivered message, so waiting on the other delivery never uses
//! up receives, never reaches the dead-letter queue, and the run succeeds once the page is
//! free. Skips without `AWS_ENDPOINT_URL` (fails in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/aws_fixtures.rs"]
mod fixtures;
#[path = "support/aws_stack.rs"]
mod stack;

use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use dynsync_domain::execution::ExecutionStatus;
use dynsync_domain::ports::{ClaimOutcome, Clock, PageClaim};
use fixtures::{Spec, aws};
use stack::Stack;

/// More than the queue's `maxReceiveCount`.
const HAND_BACKS: usize = 7;
const FIRST_PAGE: &str = "0:start";
const ELSEWHERE: &str = "delivery-elsewhere";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_held_elsewhere_is_handed_back_past_the_receive_limit_without_reaching_the_dead_letter_queue()
 {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::with_dead_letter_queue(&sdk, 5, Duration::from_secs(30)).await;
    let dlq = stack.dlq_url.clone().unwrap();
    let id = stack.define(&Spec::default()).await;
    let execution_id = stack.trigger(&id).await;

    // Another delivery holds the first page; on the stack's still clock its claim has 1 s
    // left whenever a delivery looks, so each one is handed back for 1 s.
    let other = PageClaim {
        claimant: ELSEWHERE.into(),
        until: stack.clock.now() + chrono::Duration::seconds(1),
    };
    let claimed = stack
        .state()
        .claim_page(&execution_id, FIRST_PAGE, &other)
        .await
        .unwrap();
    assert!(
        matches!(claimed, ClaimOutcome::Acquired { .. }),
        "{claimed:?}"
    );

    let mut receive_counts = Vec::new();
    for hand_back in 0..HAND_BACKS {
        let messages = stack.receive(3).await;
        let dead = stack.receive_from(&dlq, 0).await;
        assert!(
            dead.is_empty(),
            "after {hand_back} hand-backs the page task is in the dead-letter queue"
        );
        assert_eq!(
            messages.len(),
            1,
            "after {hand_back} hand-backs the page task did not come back"
        );
        receive_counts.push(
            messages[0]
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned()
                .unwrap_or_default(),
        );
        let failed = stack
            .handle_with(&stack.worker, &messages, &stack.metrics)
            .await;
        assert!(
            failed.is_empty(),
            "a hand-back is settled, not a batch item failure: {failed:?}"
        );
        stack.acknowledge(&messages, &failed).await;
    }
    assert!(
        receive_counts.iter().all(|c| c == "1"),
        "each hand-back is a new message: {receive_counts:?}"
    );
    assert_eq!(stack.status(&execution_id).await, ExecutionStatus::Running);

    // The other delivery ends (its claim never lapses on the still clock): the page is free.
    stack
        .state()
        .release_page_claim(&execution_id, FIRST_PAGE, ELSEWHERE)
        .await
        .unwrap();
    let messages = stack.receive(3).await;
    assert_eq!(messages.len(), 1, "the last hand-back came back");
    let failed = stack
        .handle_with(&stack.worker, &messages, &stack.metrics)
        .await;
    assert!(failed.is_empty(), "{failed:?}");
    stack.acknowledge(&messages, &failed).await;
    stack.drain().await;
    let execution = stack.succeeded(&execution_id).await;
    assert_eq!(
        (execution.counters.records_read, execution.counters.upserted),
        (25, 25)
    );
    assert!(stack.receive_from(&dlq, 0).await.is_empty());
}

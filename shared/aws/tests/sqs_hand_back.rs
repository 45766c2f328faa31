//! The queue contract's `hand_back` check against SQS on moto (the state, queue and secret
//! contracts are in `contract.rs`): a task handed back 7 times still comes back with its
//! receive count at 1, so a page waiting on another delivery never reaches the dead-letter
//! queue. Skips (or fails in CI) without `AWS_ENDPOINT_URL`, like the other moto tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use dynsync_aws::AwsRequestCounter;
use dynsync_contract::Fut;
use dynsync_domain::ports::PageQueue;

fn make_queue(visibility_timeout: Duration) -> Fut<Arc<dyn PageQueue>> {
    Box::pin(async move {
        let config = common::aws().await.expect("checked by the test");
        Arc::new(common::page_queue(&config, visibility_timeout, &AwsRequestCounter::new()).await)
            as _
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_handed_back_task_comes_back_after_its_delay_without_using_a_receive() {
    let _ = aws_or_skip!();
    dynsync_contract::hand_back::a_handed_back_task_comes_back_after_its_delay_without_using_a_receive(
        &make_queue,
    )
    .await;
}

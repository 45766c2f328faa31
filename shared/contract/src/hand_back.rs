//! Page queue checks of `hand_back`: a task put back without an attempt (the invocation had
//! too little time left, or another delivery holds its page) comes back after its delay and
//! never uses up a receive, however often it is handed back; SQS's redrive policy and the
//! local runner give up on a task after 5 receives. `make` as in [`crate::queue`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use dynsync_domain::ports::{Delivery, PageQueue};

use crate::fixtures::tasks;
use crate::queue::MakeQueue;

const SHORT: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(60);
/// Long enough for a message due now to arrive, on a busy machine too.
const PATIENCE: Duration = Duration::from_secs(5);
/// More hand-backs than any receive budget (SQS `maxReceiveCount` 5, `MAX_RECEIVES` 5).
const HAND_BACKS: usize = 7;

async fn receive_one(queue: &Arc<dyn PageQueue>) -> Delivery {
    let mut got = queue.receive(1, PATIENCE).await.unwrap();
    assert_eq!(got.len(), 1, "expected one delivery: {got:?}");
    got.remove(0)
}

pub async fn a_handed_back_task_comes_back_after_its_delay_without_using_a_receive(
    make: &impl MakeQueue,
) {
    let queue = make(LONG).await;
    let sent = tasks(1);
    queue.send(&sent).await.unwrap();
    let mut delivery = receive_one(&queue).await;
    assert_eq!(delivery.receive_count, 1);

    let handed_back_at = Instant::now();
    queue
        .hand_back(&delivery.task, &delivery.receipt, SHORT)
        .await
        .unwrap();
    let early = queue.receive(10, Duration::ZERO).await.unwrap();
    assert!(early.is_empty(), "visible before its delay: {early:?}");
    delivery = receive_one(&queue).await;
    assert!(
        handed_back_at.elapsed() >= SHORT,
        "visible only after the delay"
    );
    assert_eq!(delivery.task, sent[0]);
    assert_eq!(delivery.receive_count, 1, "a hand-back is not a receive");

    for round in 2..=HAND_BACKS {
        queue
            .hand_back(&delivery.task, &delivery.receipt, Duration::ZERO)
            .await
            .unwrap();
        delivery = receive_one(&queue).await;
        assert_eq!(delivery.task, sent[0]);
        assert_eq!(
            delivery.receive_count, 1,
            "hand-back {round} used up a receive"
        );
    }
    queue.ack(&delivery.receipt).await.unwrap();
    let left = queue.receive(10, Duration::from_millis(300)).await.unwrap();
    assert!(left.is_empty(), "one task, not one per hand-back: {left:?}");
}

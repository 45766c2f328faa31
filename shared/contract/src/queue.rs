//! Page queue checks: SQS semantics. `make(visibility_timeout)` returns a new, empty queue
//! with that visibility timeout.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dynsync_domain::execution::PageTask;
use dynsync_domain::ports::{Delivery, PageQueue};

use crate::Fut;
use crate::fixtures::tasks;
use crate::race::race;

/// Builds an empty queue with the given visibility timeout.
pub trait MakeQueue: Fn(Duration) -> Fut<Arc<dyn PageQueue>> {}
impl<F: Fn(Duration) -> Fut<Arc<dyn PageQueue>>> MakeQueue for F {}

const SHORT: Duration = Duration::from_secs(1);
const LONG: Duration = Duration::from_secs(60);
/// Long enough for a message due now to arrive, on a busy machine too.
const PATIENCE: Duration = Duration::from_secs(5);

/// Receives until `count` deliveries arrived (each receive waits up to `PATIENCE`).
async fn receive_all(queue: &Arc<dyn PageQueue>, count: usize) -> Vec<Delivery> {
    let mut all = Vec::new();
    while all.len() < count {
        let got = queue.receive(count - all.len(), PATIENCE).await.unwrap();
        assert!(
            !got.is_empty(),
            "expected {count} deliveries, got {}",
            all.len()
        );
        all.extend(got);
    }
    all
}

async fn receive_one(queue: &Arc<dyn PageQueue>) -> Delivery {
    let mut got = receive_all(queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    got.remove(0)
}

async fn assert_empty(queue: &Arc<dyn PageQueue>, wait: Duration) {
    let got = queue.receive(10, wait).await.unwrap();
    assert!(got.is_empty(), "nothing should be visible: {got:?}");
}

fn task_set(tasks: impl IntoIterator<Item = PageTask>) -> HashSet<PageTask> {
    tasks.into_iter().collect()
}

pub async fn sent_tasks_are_received_once_each_then_acknowledged_away(make: &impl MakeQueue) {
    let queue = make(LONG).await;
    let sent = tasks(3);
    queue.send(&sent[..2]).await.unwrap();
    queue.send(&sent[2..]).await.unwrap();
    let got = receive_all(&queue, 3).await;
    assert_eq!(task_set(got.iter().map(|d| d.task.clone())), task_set(sent));
    assert!(got.iter().all(|d| d.receive_count == 1), "{got:?}");
    let receipts: HashSet<&str> = got.iter().map(|d| d.receipt.as_str()).collect();
    assert_eq!(receipts.len(), 3, "a receipt per delivery");
    for delivery in &got {
        queue.ack(&delivery.receipt).await.unwrap();
    }
    assert_empty(&queue, Duration::from_millis(300)).await;
}

pub async fn a_receive_returns_at_most_max_tasks(make: &impl MakeQueue) {
    let queue = make(LONG).await;
    queue.send(&tasks(5)).await.unwrap();
    let got = queue.receive(2, PATIENCE).await.unwrap();
    assert!((1..=2).contains(&got.len()), "{got:?}");
}

pub async fn an_unacknowledged_task_comes_back_after_the_visibility_timeout(make: &impl MakeQueue) {
    let queue = make(SHORT).await;
    let sent = tasks(1);
    queue.send(&sent).await.unwrap();
    let first = receive_one(&queue).await;
    assert_eq!(
        (first.task.clone(), first.receive_count),
        (sent[0].clone(), 1)
    );
    let again = receive_one(&queue).await;
    assert_eq!(
        (again.task.clone(), again.receive_count),
        (sent[0].clone(), 2)
    );
    assert_ne!(again.receipt, first.receipt, "a fresh receipt per delivery");
    queue.ack(&again.receipt).await.unwrap();
    assert_empty(&queue, Duration::from_millis(1500)).await;
}

pub async fn a_released_task_comes_back_after_its_delay(make: &impl MakeQueue) {
    let queue = make(LONG).await;
    queue.send(&tasks(1)).await.unwrap();
    let first = receive_one(&queue).await;
    queue.release(&first.receipt, Duration::ZERO).await.unwrap();
    let second = receive_one(&queue).await;
    assert_eq!(second.receive_count, 2);

    let released_at = Instant::now();
    queue.release(&second.receipt, SHORT).await.unwrap();
    assert_empty(&queue, Duration::ZERO).await;
    let third = receive_one(&queue).await;
    assert_eq!(third.receive_count, 3);
    assert!(
        released_at.elapsed() >= SHORT,
        "visible only after the delay"
    );
    queue.ack(&third.receipt).await.unwrap();
}

pub async fn a_stale_receipt_neither_acknowledges_nor_releases(make: &impl MakeQueue) {
    let queue = make(SHORT).await;
    queue.send(&tasks(1)).await.unwrap();
    let first = receive_one(&queue).await;
    let second = receive_one(&queue).await;
    assert_eq!(second.receive_count, 2);
    // SQS answers such calls with success and ignores them; an error is allowed too.
    let _ = queue.ack(&first.receipt).await;
    let _ = queue
        .release(&first.receipt, Duration::from_secs(3600))
        .await;
    queue
        .release(&second.receipt, Duration::ZERO)
        .await
        .unwrap();
    let third = receive_one(&queue).await;
    assert_eq!(third.receive_count, 3, "the stale receipt removed nothing");
    queue.ack(&third.receipt).await.unwrap();
}

pub async fn concurrent_receivers_never_get_the_same_visible_task(make: &impl MakeQueue) {
    let queue = make(LONG).await;
    let sent = tasks(30);
    queue.send(&sent).await.unwrap();
    let batches = race(|_| {
        let queue = Arc::clone(&queue);
        async move {
            let mut mine = Vec::new();
            loop {
                let got = queue.receive(4, Duration::from_millis(300)).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|d| d.task));
            }
        }
    })
    .await;
    let received: Vec<PageTask> = batches.into_iter().flatten().collect();
    assert_eq!(received.len(), sent.len(), "each task exactly once");
    assert_eq!(task_set(received), task_set(sent));
}

pub async fn a_waiting_receive_returns_a_task_sent_meanwhile(make: &impl MakeQueue) {
    let queue = make(LONG).await;
    let waiter = {
        let queue = Arc::clone(&queue);
        tokio::spawn(async move { queue.receive(1, Duration::from_secs(10)).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = tasks(1);
    queue.send(&sent).await.unwrap();
    let got = waiter.await.unwrap();
    assert_eq!(got.into_iter().map(|d| d.task).collect::<Vec<_>>(), sent);
}

//! The page queue port: at-least-once delivery of page tasks (SQS semantics: visibility
//! timeouts, receive counts, a message comes back until it is acknowledged).
//!
//! A receive count is a budget: the queue's redrive policy (SQS `maxReceiveCount`) and the
//! local runner (`MAX_RECEIVES`) give up on a task after so many deliveries. A delivery that
//! fails uses one up (`release`); a delivery put off without an attempt, because the
//! invocation has too little time left or another delivery holds the page, must not
//! (`hand_back`), or a page waiting on a slow duplicate ends in the dead-letter queue.

use std::time::Duration;

use crate::execution::PageTask;
use crate::ports::PortError;

/// A received task; `receipt` acknowledges or releases this delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub task: PageTask,
    pub receipt: String,
    /// 1 on the first delivery, then one more per redelivery.
    pub receive_count: u32,
}

#[async_trait::async_trait]
pub trait PageQueue: Send + Sync {
    /// Sends tasks (implementations batch where the service allows).
    async fn send(&self, tasks: &[PageTask]) -> Result<(), PortError>;

    /// Up to `max` visible tasks, waiting at most `wait` for the first; each stays invisible
    /// to other receivers for the queue's visibility timeout.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, PortError>;

    /// Done with this delivery: the task is removed.
    async fn ack(&self, receipt: &str) -> Result<(), PortError>;

    /// Make the task visible again after `delay` (a transient failure): the next delivery
    /// counts as another receive.
    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), PortError>;

    /// Puts `task`, delivered under `receipt`, back without using up a receive: it becomes
    /// visible again after `delay` (at most the queue's longest delay; longer waits get that
    /// and are handed back again) and its next delivery's `receive_count` is not higher than
    /// this one's. For a task this delivery did not attempt: deferred for lack of time, or a
    /// page another delivery is processing. `Ok` means the task is queued again and this
    /// delivery is settled (its receipt may be stale); on `Err` nothing was handed back and
    /// the caller releases the delivery instead.
    ///
    /// The default releases the delivery, which counts a receive: queues that limit
    /// receives implement it (SQS re-sends the task with a delay and deletes the old
    /// message; the SQLite and in-memory queues re-queue the message uncounted).
    async fn hand_back(
        &self,
        task: &PageTask,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), PortError> {
        let _ = task;
        self.release(receipt, delay).await
    }
}

//! The page queue port: at-least-once delivery of page tasks (SQS semantics: visibility
//! timeouts, receive counts, a message comes back until it is acknowledged).

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

    /// Make the task visible again after `delay` (a transient failure, or a page another
    /// delivery is processing).
    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), PortError>;
}

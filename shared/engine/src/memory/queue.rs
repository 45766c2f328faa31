//! An in-memory page queue with SQS semantics: a received task is invisible for the
//! visibility timeout and comes back (receive count + 1) unless acknowledged; each delivery
//! has its own receipt, so a receipt from an earlier delivery can no longer ack or release.
//! A hand-back makes the task visible after its delay and takes back the receive its
//! delivery counted (as SQS's re-sent message starts again at one receive).
//! Time is tokio's, so tests can pause and advance it.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use dynsync_domain::execution::PageTask;
use dynsync_domain::ports::{Delivery, PageQueue, PortError};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The default visibility timeout, as the SQS queue of the stack is configured.
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct MemoryQueue {
    inner: Mutex<Inner>,
    arrived: Notify,
    visibility_timeout: Duration,
}

#[derive(Default)]
struct Inner {
    /// By message number: oldest first.
    messages: BTreeMap<u64, Message>,
    next_id: u64,
    sent: u64,
}

struct Message {
    task: PageTask,
    receive_count: u32,
    visible_at: Instant,
    receipt: Option<String>,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new(DEFAULT_VISIBILITY_TIMEOUT)
    }
}

impl MemoryQueue {
    pub fn new(visibility_timeout: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            arrived: Notify::new(),
            visibility_timeout,
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes every in-flight task visible at once, as after a crash of the process that
    /// received them (used when a local run resumes).
    pub fn make_all_visible(&self) {
        let now = Instant::now();
        for message in self.inner().messages.values_mut() {
            message.visible_at = now;
            message.receipt = None;
        }
        self.arrived.notify_waiters();
    }

    /// Messages not yet acknowledged (visible or in flight).
    pub fn len(&self) -> usize {
        self.inner().messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tasks sent since the queue was made (duplicates included).
    pub fn sent(&self) -> u64 {
        self.inner().sent
    }

    /// The tasks still in the queue, oldest first.
    pub fn pending(&self) -> Vec<PageTask> {
        self.inner()
            .messages
            .values()
            .map(|m| m.task.clone())
            .collect()
    }

    /// Takes up to `max` visible messages; `Err(next)` tells when the next one becomes
    /// visible when none is.
    fn take_visible(&self, max: usize) -> Result<Vec<Delivery>, Option<Instant>> {
        let now = Instant::now();
        let mut inner = self.inner();
        let mut deliveries = Vec::new();
        for message in inner.messages.values_mut() {
            if deliveries.len() >= max {
                break;
            }
            if message.visible_at > now {
                continue;
            }
            message.receive_count = message.receive_count.saturating_add(1);
            message.visible_at = now + self.visibility_timeout;
            let receipt = uuid::Uuid::new_v4().to_string();
            message.receipt = Some(receipt.clone());
            deliveries.push(Delivery {
                task: message.task.clone(),
                receipt,
                receive_count: message.receive_count,
            });
        }
        if deliveries.is_empty() {
            Err(inner.messages.values().map(|m| m.visible_at).min())
        } else {
            Ok(deliveries)
        }
    }

    fn by_receipt<'a>(
        inner: &'a mut Inner,
        receipt: &str,
    ) -> Result<(u64, &'a mut Message), PortError> {
        inner
            .messages
            .iter_mut()
            .find(|(_, m)| m.receipt.as_deref() == Some(receipt))
            .map(|(id, m)| (*id, m))
            .ok_or_else(|| {
                PortError::permanent(
                    "the receipt is stale: the task was acknowledged or delivered again since",
                )
            })
    }
}

#[async_trait::async_trait]
impl PageQueue for MemoryQueue {
    async fn send(&self, tasks: &[PageTask]) -> Result<(), PortError> {
        {
            let now = Instant::now();
            let mut inner = self.inner();
            for task in tasks {
                let id = inner.next_id;
                inner.next_id += 1;
                inner.sent += 1;
                inner.messages.insert(
                    id,
                    Message {
                        task: task.clone(),
                        receive_count: 0,
                        visible_at: now,
                        receipt: None,
                    },
                );
            }
        }
        self.arrived.notify_waiters();
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, PortError> {
        let deadline = Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let next_visible = match self.take_visible(max.max(1)) {
                Ok(deliveries) => return Ok(deliveries),
                Err(next_visible) => next_visible,
            };
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            let wake = next_visible.map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                () = &mut arrived => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    async fn ack(&self, receipt: &str) -> Result<(), PortError> {
        let mut inner = self.inner();
        let (id, _) = Self::by_receipt(&mut inner, receipt)?;
        inner.messages.remove(&id);
        Ok(())
    }

    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), PortError> {
        {
            let mut inner = self.inner();
            let (_, message) = Self::by_receipt(&mut inner, receipt)?;
            message.visible_at = later(delay);
            message.receipt = None;
        }
        self.arrived.notify_waiters();
        Ok(())
    }

    async fn hand_back(
        &self,
        _task: &PageTask,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), PortError> {
        {
            let mut inner = self.inner();
            let (_, message) = Self::by_receipt(&mut inner, receipt)?;
            message.visible_at = later(delay);
            message.receipt = None;
            message.receive_count = message.receive_count.saturating_sub(1);
        }
        self.arrived.notify_waiters();
        Ok(())
    }
}

/// Now + `delay`, saturating far in the future.
fn later(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(cursor: &str) -> PageTask {
        PageTask {
            execution_id: "e".into(),
            integration_id: "i".into(),
            partition: 0,
            cursor: Some(cursor.into()),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_unacknowledged_task_comes_back_after_the_visibility_timeout() {
        let queue = MemoryQueue::new(Duration::from_secs(10));
        queue.send(&[task("a")]).await.ok();
        let first = queue.receive(10, Duration::ZERO).await.unwrap_or_default();
        assert_eq!(first.len(), 1);
        assert_eq!(first.first().map(|d| d.receive_count), Some(1));
        let none = queue
            .receive(10, Duration::from_secs(5))
            .await
            .unwrap_or_default();
        assert!(none.is_empty());
        let again = queue
            .receive(10, Duration::from_secs(20))
            .await
            .unwrap_or_default();
        assert_eq!(again.first().map(|d| d.receive_count), Some(2));
        let stale = first.first().map(|d| d.receipt.clone()).unwrap_or_default();
        assert!(queue.ack(&stale).await.is_err());
        let fresh = again.first().map(|d| d.receipt.clone()).unwrap_or_default();
        assert!(queue.ack(&fresh).await.is_ok());
        assert!(queue.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_released_task_is_visible_again_after_its_delay() {
        let queue = MemoryQueue::new(Duration::from_secs(60));
        queue.send(&[task("a")]).await.ok();
        let first = queue.receive(1, Duration::ZERO).await.unwrap_or_default();
        let receipt = first.first().map(|d| d.receipt.clone()).unwrap_or_default();
        queue.release(&receipt, Duration::from_secs(2)).await.ok();
        let start = Instant::now();
        let again = queue
            .receive(1, Duration::from_secs(30))
            .await
            .unwrap_or_default();
        assert_eq!(again.len(), 1);
        assert!(Instant::now() - start >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn make_all_visible_returns_in_flight_tasks_at_once() {
        let queue = MemoryQueue::new(Duration::from_secs(600));
        queue.send(&[task("a"), task("b")]).await.ok();
        assert_eq!(
            queue
                .receive(10, Duration::ZERO)
                .await
                .map(|d| d.len())
                .ok(),
            Some(2)
        );
        queue.make_all_visible();
        assert_eq!(
            queue
                .receive(10, Duration::ZERO)
                .await
                .map(|d| d.len())
                .ok(),
            Some(2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_receiver_wakes_when_a_task_is_sent() {
        let queue = std::sync::Arc::new(MemoryQueue::default());
        let receiver = {
            let queue = queue.clone();
            tokio::spawn(async move { queue.receive(1, Duration::from_secs(20)).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        queue.send(&[task("a")]).await.ok();
        let got = receiver.await.ok().and_then(Result::ok).unwrap_or_default();
        assert_eq!(got.len(), 1);
    }
}

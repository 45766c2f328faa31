//! `SqliteQueue`: the `PageQueue` port with SQS semantics, kept in the state folder's
//! SQLite file so that a crashed `dynsync run` can resume its remaining pages.
//!
//! - `receive` hides the messages it returns for the visibility timeout and counts the
//!   delivery; a message not acknowledged in time comes back with `receive_count` + 1.
//! - Each delivery has a fresh receipt. A receipt is valid until the message is received
//!   again: after a redelivery the old receipt no longer acknowledges or releases it (as in
//!   SQS, such a call succeeds and changes nothing).
//! - `release(delay)` makes the message visible again after `delay`; `ack` deletes it.
//! - `hand_back(delay)` makes it visible again after `delay` and takes back the receive
//!   this delivery counted: a task put off without an attempt (another delivery holds its
//!   page) never uses up the runner's `MAX_RECEIVES`.
//! - `receive` long-polls: it re-checks every poll interval, and at once when a sender of
//!   this process sends, releases or hands back.
//! - Several workers of one process and several processes may share a queue: each receive
//!   is one `BEGIN IMMEDIATE` transaction, so no visible message goes to two receivers.
//!
//! There is no dead-letter queue: `receive_count` keeps rising. The local runner
//! (`dynsync_engine::runner`, `MAX_RECEIVES` = 5) does what the AWS redrive policy
//! (`maxReceiveCount` 5) leads to: a task that has not completed by its fifth delivery
//! fails its execution, and the task is acknowledged (hand-backs do not count).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dynsync_domain::execution::PageTask;
use dynsync_domain::ports::{Delivery, PageQueue, PortError};
use rusqlite::{Transaction, params};
use tokio::sync::Notify;

use crate::db::Db;
use crate::error::LocalError;

/// The default visibility timeout: longer than a page takes (a fetch and a few upserts).
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a waiting `receive` looks for messages sent by another process.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// The queue `SqliteQueue::open` uses.
pub const DEFAULT_QUEUE: &str = "pages";

/// A page queue in `<state dir>/state.db`.
#[derive(Debug, Clone)]
pub struct SqliteQueue {
    db: Db,
    name: String,
    visibility_timeout: Duration,
    poll_interval: Duration,
    /// Wakes this process's waiting receivers when a message becomes visible.
    wake: Arc<Notify>,
}

impl SqliteQueue {
    /// The default queue of a state folder, with a 60 s visibility timeout.
    pub fn open(dir: &Path) -> Result<Self, LocalError> {
        Ok(Self {
            db: Db::open(dir)?,
            name: DEFAULT_QUEUE.to_owned(),
            visibility_timeout: DEFAULT_VISIBILITY_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
            wake: Arc::new(Notify::new()),
        })
    }

    /// Another queue in the same file (each name is independent, like separate SQS queues).
    pub fn named(self, name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..self
        }
    }

    pub fn with_visibility_timeout(self, visibility_timeout: Duration) -> Self {
        Self {
            visibility_timeout,
            ..self
        }
    }

    pub fn with_poll_interval(self, poll_interval: Duration) -> Self {
        Self {
            poll_interval: poll_interval.max(Duration::from_millis(1)),
            ..self
        }
    }

    /// Makes every message visible now, in flight or delayed: on resuming after a crash,
    /// the dead process's tasks come back at once instead of after their timeout, and its
    /// receipts no longer count.
    /// Returns how many messages it made visible.
    pub async fn make_all_visible(&self) -> Result<u64, LocalError> {
        let name = self.name.clone();
        let op = "making queued tasks visible";
        let changed = self
            .db
            .write(op, move |tx| {
                let now = now_ms();
                tx.execute(
                    "UPDATE queue_messages SET visible_at_ms = ?2, receipt = NULL
                     WHERE queue = ?1 AND visible_at_ms > ?2",
                    params![name, now],
                )
                .map_err(LocalError::sqlite(op))
            })
            .await?;
        self.wake.notify_waiters();
        Ok(u64::try_from(changed).unwrap_or(0))
    }

    /// Messages in the queue, visible or not.
    pub async fn len(&self) -> Result<u64, LocalError> {
        let name = self.name.clone();
        let op = "counting queued tasks";
        let count: i64 = self
            .db
            .call(move |conn| {
                conn.query_row(
                    "SELECT COUNT(*) FROM queue_messages WHERE queue = ?1",
                    [name],
                    |row| row.get(0),
                )
                .map_err(LocalError::sqlite(op))
            })
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub async fn is_empty(&self) -> Result<bool, LocalError> {
        Ok(self.len().await? == 0)
    }

    /// One attempt: takes up to `max` visible messages.
    async fn take(&self, max: usize) -> Result<Vec<Delivery>, LocalError> {
        let name = self.name.clone();
        let hide_ms = millis(self.visibility_timeout);
        self.db
            .write("receiving tasks", move |tx| take(tx, &name, max, hide_ms))
            .await
    }

    /// Settles the delivery of `receipt`: deletes its message, or makes it visible again
    /// after a delay, counted as a receive or (a hand-back) not.
    async fn settle(&self, receipt: &str, settle: Settle) -> Result<(), LocalError> {
        let (name, receipt) = (self.name.clone(), receipt.to_owned());
        let op = match settle {
            Settle::Ack => "acknowledging a task",
            Settle::Release(_) => "releasing a task",
            Settle::HandBack(_) => "handing a task back",
        };
        let changed = self
            .db
            .write(op, move |tx| {
                match settle {
                    Settle::Release(delay) => tx.execute(
                        "UPDATE queue_messages SET visible_at_ms = ?3
                         WHERE queue = ?1 AND receipt = ?2",
                        params![name, receipt, now_ms().saturating_add(millis(delay))],
                    ),
                    // The receipt is dropped with the receive it counted: the next delivery
                    // counts the same attempt again.
                    Settle::HandBack(delay) => tx.execute(
                        "UPDATE queue_messages
                         SET visible_at_ms = ?3, receipt = NULL,
                             receive_count = MAX(receive_count - 1, 0)
                         WHERE queue = ?1 AND receipt = ?2",
                        params![name, receipt, now_ms().saturating_add(millis(delay))],
                    ),
                    Settle::Ack => tx.execute(
                        "DELETE FROM queue_messages WHERE queue = ?1 AND receipt = ?2",
                        params![name, receipt],
                    ),
                }
                .map_err(LocalError::sqlite(op))
            })
            .await?;
        if changed == 0 {
            tracing::debug!(
                queue = %self.name,
                "receipt no longer valid (message redelivered or gone); nothing changed"
            );
        }
        Ok(())
    }
}

/// How [`SqliteQueue::settle`] ends a delivery.
#[derive(Debug, Clone, Copy)]
enum Settle {
    Ack,
    Release(Duration),
    HandBack(Duration),
}

fn take(
    tx: &Transaction<'_>,
    name: &str,
    max: usize,
    hide_ms: i64,
) -> Result<Vec<Delivery>, LocalError> {
    let op = "receiving tasks";
    let now = now_ms();
    let rows: Vec<(i64, String, u32)> = {
        let mut stmt = tx
            .prepare(
                "SELECT id, body, receive_count FROM queue_messages
                 WHERE queue = ?1 AND visible_at_ms <= ?2 ORDER BY visible_at_ms, id LIMIT ?3",
            )
            .map_err(LocalError::sqlite(op))?;
        stmt.query_map(
            params![name, now, i64::try_from(max).unwrap_or(i64::MAX)],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .and_then(Iterator::collect)
        .map_err(LocalError::sqlite(op))?
    };
    let mut deliveries = Vec::with_capacity(rows.len());
    for (id, body, count) in rows {
        let receipt = format!("{id}-{}", uuid::Uuid::new_v4().simple());
        let receive_count = count.saturating_add(1);
        tx.execute(
            "UPDATE queue_messages SET visible_at_ms = ?2, receive_count = ?3, receipt = ?4
             WHERE id = ?1",
            params![id, now.saturating_add(hide_ms), receive_count, receipt],
        )
        .map_err(LocalError::sqlite(op))?;
        let task: PageTask = serde_json::from_str(&body)
            .map_err(|e| LocalError::corrupt("a queued page task")(Box::new(e)))?;
        deliveries.push(Delivery {
            task,
            receipt,
            receive_count,
        });
    }
    Ok(deliveries)
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    millis(since_epoch)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl PageQueue for SqliteQueue {
    async fn send(&self, tasks: &[PageTask]) -> Result<(), PortError> {
        if tasks.is_empty() {
            return Ok(());
        }
        let bodies = tasks
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| LocalError::Encode {
                what: "a page task",
                source,
            })?;
        let name = self.name.clone();
        let op = "sending tasks";
        self.db
            .write(op, move |tx| {
                let now = now_ms();
                for body in bodies {
                    tx.execute(
                        "INSERT INTO queue_messages (queue, body, visible_at_ms, sent_at_ms)
                         VALUES (?1, ?2, ?3, ?3)",
                        params![name, body, now],
                    )
                    .map_err(LocalError::sqlite(op))?;
                }
                Ok(())
            })
            .await?;
        self.wake.notify_waiters();
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, PortError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a send between the look and the sleep wakes us.
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let deliveries = self.take(max).await?;
            let now = tokio::time::Instant::now();
            if !deliveries.is_empty() || now >= deadline {
                return Ok(deliveries);
            }
            let nap = self.poll_interval.min(deadline - now);
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn ack(&self, receipt: &str) -> Result<(), PortError> {
        Ok(self.settle(receipt, Settle::Ack).await?)
    }

    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), PortError> {
        self.settle(receipt, Settle::Release(delay)).await?;
        if delay.is_zero() {
            self.wake.notify_waiters();
        }
        Ok(())
    }

    async fn hand_back(
        &self,
        _task: &PageTask,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), PortError> {
        self.settle(receipt, Settle::HandBack(delay)).await?;
        if delay.is_zero() {
            self.wake.notify_waiters();
        }
        Ok(())
    }
}

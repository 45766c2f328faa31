//! A local runner: a pool of workers receiving page tasks from a [`PageQueue`] and calling
//! [`Engine::process_page`], as the worker Lambda does on AWS. Success and permanent
//! failure acknowledge the task; a transient error releases it with backoff; a page held by
//! another delivery is handed back ([`PageQueue::hand_back`], not counted as a receive)
//! until that delivery's claim lapses; a task
//! received [`MAX_RECEIVES`] times fails its execution with its last error (SQS's
//! `maxReceiveCount` before the dead-letter queue). It returns when the execution is final;
//! an execution whose pages stopped moving is failed after the engine's `stall_after`, so a
//! run never waits forever.
//! At most `concurrency` pages are in flight, and together they hold at most the engine's
//! `pages_in_flight_bytes` of records (`budget.rs`): a worker waits before its next page
//! until the pages in flight leave room for it.
//! Dropping the future stops every worker at once (in-flight work is abandoned and comes
//! back through the queue's visibility timeout).

use std::sync::Arc;
use std::time::Duration;

use dynsync_domain::execution::{Execution, PageTask};
use dynsync_domain::ports::{Delivery, PageQueue};
use dynsync_domain::retry::RetryPolicy;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::budget::PageBudget;
use crate::outcome::PageOutcome;
use crate::{Engine, EngineError};

/// Deliveries of one task before it fails its execution (SQS `maxReceiveCount`).
pub const MAX_RECEIVES: u32 = 5;

/// How long a worker waits for a task in one receive, and how often the runner looks at
/// the execution's status.
const POLL: Duration = Duration::from_millis(200);

/// The runner looks for stalled executions every this many polls (about a minute).
const STALL_CHECK_EVERY: u32 = 300;

/// What to do after a delivery of `task` (its `receive_count`-th) failed with `error`:
/// `Ok(delay)`: release it for a retry after `delay` (a transient error before the last
/// delivery); `Err(message)`: fail its execution with `message`. The worker Lambda decides
/// the same way.
pub fn after_error(
    task: &PageTask,
    receive_count: u32,
    error: &EngineError,
) -> Result<Duration, String> {
    if error.is_transient() && receive_count < MAX_RECEIVES {
        return Ok(RetryPolicy::new(MAX_RECEIVES).delay(
            receive_count,
            None,
            rand::random::<f64>(),
        ));
    }
    Err(if error.is_transient() {
        format!(
            "page {} failed {receive_count} times; last error: {error}",
            task.page_key()
        )
    } else {
        format!("page {} failed: {error}", task.page_key())
    })
}

/// Called after every page task processed (from worker tasks).
pub type OnProgress = Arc<dyn Fn(&PageOutcome) + Send + Sync>;

/// Runs page tasks with `concurrency` workers until the execution `execution_id` is final,
/// and returns it as it ended.
pub async fn run_until_finished(
    engine: Arc<Engine>,
    queue: Arc<dyn PageQueue>,
    execution_id: &str,
    concurrency: usize,
    on_progress: OnProgress,
) -> Result<Execution, EngineError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = JoinSet::new();
    let budget = PageBudget::new(engine.config.pages_in_flight_bytes);
    for worker in 0..concurrency.max(1) {
        // Each worker's lines are in the caller's span (the local run's `execution`).
        workers.spawn(
            work(
                worker,
                engine.clone(),
                queue.clone(),
                budget.clone(),
                stop_rx.clone(),
                on_progress.clone(),
            )
            .instrument(tracing::Span::current()),
        );
    }
    let mut interval = tokio::time::interval(POLL);
    let mut polls: u32 = 0;
    let result = loop {
        interval.tick().await;
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(STALL_CHECK_EVERY) {
            // Tasks lost for good (nothing left to receive) must not keep us waiting forever.
            if let Err(error) = engine.fail_stalled().await {
                tracing::warn!(error = %error, "cannot look for stalled executions");
            }
        }
        match engine.state.get_execution(execution_id).await {
            Ok(Some(execution)) if execution.status.is_final() => break Ok(execution),
            Ok(Some(_)) => {}
            Ok(None) => break Err(EngineError::UnknownExecution(execution_id.to_owned())),
            Err(error) if error.kind().is_transient() => {
                tracing::warn!(execution_id = %execution_id, error = %error, "cannot read the execution; retrying");
            }
            Err(error) => break Err(EngineError::State(error)),
        }
    };
    let _ = stop_tx.send(true);
    while workers.join_next().await.is_some() {}
    result
}

async fn work(
    worker: usize,
    engine: Arc<Engine>,
    queue: Arc<dyn PageQueue>,
    budget: PageBudget,
    mut stop: watch::Receiver<bool>,
    on_progress: OnProgress,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        // Room for one more page beside those in flight, before its task is received.
        let admitted = tokio::select! {
            admitted = budget.admit_next() => admitted,
            _ = stop.changed() => return,
        };
        let received = tokio::select! {
            received = queue.receive(1, POLL) => received,
            _ = stop.changed() => return,
        };
        let deliveries = match received {
            Ok(deliveries) => deliveries,
            Err(error) => {
                tracing::warn!(worker, error = %error, "cannot receive page tasks; retrying");
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        for delivery in deliveries {
            handle(&engine, queue.as_ref(), &delivery, &on_progress).await;
            budget.learn(engine.page_bytes_estimate(&delivery.task.execution_id));
        }
        drop(admitted);
    }
}

async fn handle(
    engine: &Engine,
    queue: &dyn PageQueue,
    delivery: &Delivery,
    on_progress: &OnProgress,
) {
    let task = &delivery.task;
    if delivery.receive_count > MAX_RECEIVES {
        let error = format!(
            "page {} was received {} times without completing (its worker stopped or timed out)",
            task.page_key(),
            delivery.receive_count
        );
        give_up(engine, queue, delivery, &error).await;
        return;
    }
    match engine.process_page(task, delivery.receive_count).await {
        Ok(outcome) => {
            on_progress(&outcome);
            match outcome.retry_after {
                // Another delivery holds the page: come back when its claim has lapsed,
                // without using up a receive (waiting is not a failed attempt).
                Some(delay) => hand_back(queue, delivery, delay).await,
                None => acknowledge(queue, delivery).await,
            }
        }
        Err(error) => match after_error(task, delivery.receive_count, &error) {
            Ok(delay) => {
                tracing::warn!(
                    execution_id = %task.execution_id,
                    page = %task.page_key(),
                    receive_count = delivery.receive_count,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %error,
                    "page failed; it will be retried"
                );
                release(queue, delivery, delay).await;
            }
            Err(message) => give_up(engine, queue, delivery, &message).await,
        },
    }
}

async fn give_up(engine: &Engine, queue: &dyn PageQueue, delivery: &Delivery, error: &str) {
    let task = &delivery.task;
    match engine.fail_execution(&task.execution_id, error).await {
        Ok(_) => acknowledge(queue, delivery).await,
        Err(EngineError::State(e)) if !e.kind().is_transient() => {
            // The execution is gone: nothing can use the task.
            tracing::warn!(execution_id = %task.execution_id, error = %e, "dropping a task of an unknown execution");
            acknowledge(queue, delivery).await;
        }
        Err(e) => {
            tracing::warn!(execution_id = %task.execution_id, error = %e, "cannot fail the execution; the task will come back");
        }
    }
}

async fn release(queue: &dyn PageQueue, delivery: &Delivery, delay: Duration) {
    if let Err(error) = queue.release(&delivery.receipt, delay).await {
        tracing::warn!(page = %delivery.task.page_key(), error = %error, "cannot release the page task; it returns after its visibility timeout");
    }
}

async fn hand_back(queue: &dyn PageQueue, delivery: &Delivery, delay: Duration) {
    if let Err(error) = queue
        .hand_back(&delivery.task, &delivery.receipt, delay)
        .await
    {
        tracing::warn!(page = %delivery.task.page_key(), error = %error, "cannot hand the page task back; releasing it (this counts a receive)");
        release(queue, delivery, delay).await;
    }
}

async fn acknowledge(queue: &dyn PageQueue, delivery: &Delivery) {
    if let Err(error) = queue.ack(&delivery.receipt).await {
        tracing::warn!(page = %delivery.task.page_key(), error = %error, "cannot acknowledge the page task; it may be delivered again (the ledger skips it)");
    }
}

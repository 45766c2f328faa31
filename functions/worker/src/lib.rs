//! The worker Lambda's handler: one SQS batch of page tasks, each run through
//! [`Engine::process_page`], answered with a partial batch response so that one bad
//! message never fails the others (ARCHITECTURE.md sections 2 and 7).
//!
//! Per message: a success, or a permanent error that the engine has recorded on the
//! execution, is acknowledged (SQS deletes it); a transient error is reported in
//! `batchItemFailures` after its visibility is shortened to a backoff delay, so SQS delivers
//! it again soon; on its last delivery ([`dynsync_engine::MAX_RECEIVES`], the queue's
//! `maxReceiveCount`) it fails its execution with the error instead of going silently to
//! the dead-letter queue (the same decision as the local runner's, `after_error`).
//! A page another delivery is processing (an SQS duplicate) is handed back until that
//! delivery's claim lapses; it then finds the page done. Messages are processed one after
//! another (the event source's maximum concurrency then bounds the load on Dataverse); a
//! message not started when less than the reserve of the invocation's time remains is
//! handed back unstarted. A hand-back ([`PageQueue::hand_back`]) re-sends the task with a
//! delay and deletes the delivered message, so it is settled (not a batch item failure) and
//! waiting never uses up the queue's receives; only if the re-send fails is the message
//! reported failed and released instead. A malformed message is reported as failed and
//! released at once, so it reaches the dead-letter queue and its alarm.
//! Every log line of a message is in its `sqs_message` span, which carries `message_id`,
//! `execution_id` and `integration_id` (the last two once the body is read), so one
//! CloudWatch Logs Insights filter (`filter span.execution_id = "..."`, README) finds a
//! page's whole story.
//! The binary's `main.rs` only wires the ports and the runtime; the handler talks to the
//! engine and the queue through their ports (no AWS SDK here), so tests run it over
//! in-memory ports or over moto.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use dynsync_domain::ErrorKind;
use dynsync_domain::execution::PageTask;
use dynsync_domain::ports::PageQueue;
use dynsync_engine::{Engine, EngineError, PageDisposition, PageOutcome, after_error};
use dynsync_telemetry::{
    Event, ExecutionFinished, Metrics, PageDeferred, PageFailed, PageProcessed,
};
use tracing::Instrument;
use tracing::field::Empty;

/// The handler's ports and settings, built once per cold start.
pub struct Worker {
    engine: Arc<Engine>,
    queue: Arc<dyn PageQueue>,
    /// A page (fetch with retries, then upserts) is not started with less time than this
    /// left in the invocation.
    time_reserve: Duration,
}

/// What became of one message of the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Done, never doable, or handed back (queued again as a new message): SQS may delete it.
    Acknowledge,
    /// Report as a batch item failure: SQS delivers it again.
    Retry,
}

impl Worker {
    pub fn new(engine: Arc<Engine>, queue: Arc<dyn PageQueue>, time_reserve: Duration) -> Self {
        Self {
            engine,
            queue,
            time_reserve,
        }
    }

    /// Handles one SQS batch; `deadline` is when Lambda ends the invocation. Metrics are
    /// recorded into `metrics` (the caller flushes them once per invocation).
    pub async fn handle(
        &self,
        event: SqsEvent,
        deadline: SystemTime,
        metrics: &Metrics,
    ) -> SqsBatchResponse {
        // Both HTTP clients stop retrying when a wait would outlive the invocation.
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        dynsync_domain::retry::set_deadline(Instant::now().checked_add(left));
        let mut response = SqsBatchResponse::default();
        for message in &event.records {
            let Some(message_id) = message.message_id.as_deref() else {
                // SQS always sets it; without one the message cannot be reported, and the
                // event source deletes it with the batch.
                tracing::error!("an SQS message without a message id was dropped");
                continue;
            };
            let remaining = deadline
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            let span = tracing::info_span!(
                "sqs_message",
                message_id,
                execution_id = Empty,
                integration_id = Empty
            );
            let verdict = async {
                if remaining < self.time_reserve {
                    self.defer(message, remaining, metrics).await
                } else {
                    self.handle_message(message, metrics).await
                }
            }
            .instrument(span)
            .await;
            if verdict == Verdict::Retry {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id.to_owned();
                response.batch_item_failures.push(failure);
            }
        }
        dynsync_domain::retry::set_deadline(None);
        response
    }

    async fn handle_message(&self, message: &SqsMessage, metrics: &Metrics) -> Verdict {
        let receipt = message.receipt_handle.as_deref();
        let task = match parse_task(message) {
            Ok(task) => in_span(task),
            Err(problem) => {
                tracing::error!(
                    message_id = message.message_id.as_deref().unwrap_or_default(),
                    error = %problem,
                    "malformed page task; it goes to the dead-letter queue"
                );
                self.release(receipt, Duration::ZERO).await;
                return Verdict::Retry;
            }
        };
        let receive_count = receive_count(message);
        let started = Instant::now();
        match self.engine.process_page(&task, receive_count).await {
            Ok(outcome) => {
                self.report(&task, &outcome, started, metrics);
                match outcome.retry_after {
                    // Another delivery holds the page: come back when its claim has lapsed.
                    Some(delay) => self.hand_back(&task, receipt, delay).await,
                    None => Verdict::Acknowledge,
                }
            }
            Err(error) => match after_error(&task, receive_count, &error) {
                Ok(delay) => {
                    PageFailed {
                        integration_id: &task.integration_id,
                        execution_id: &task.execution_id,
                        kind: ErrorKind::Transient,
                        receive_count,
                        error: &error.to_string(),
                    }
                    .emit(metrics);
                    self.release(receipt, delay).await;
                    Verdict::Retry
                }
                Err(message) => self.give_up(&task, receive_count, &message, metrics).await,
            },
        }
    }

    /// A page that can never succeed, or failed on its last delivery: fail its execution.
    async fn give_up(
        &self,
        task: &PageTask,
        receive_count: u32,
        message: &str,
        metrics: &Metrics,
    ) -> Verdict {
        PageFailed {
            integration_id: &task.integration_id,
            execution_id: &task.execution_id,
            kind: ErrorKind::Permanent,
            receive_count,
            error: message,
        }
        .emit(metrics);
        match self.engine.fail(&task.execution_id, message).await {
            Ok(Some(execution)) => {
                ExecutionFinished::of(&execution).emit(metrics);
                Verdict::Acknowledge
            }
            Ok(None) => Verdict::Acknowledge,
            Err(EngineError::State(e)) if !e.kind().is_transient() => {
                tracing::warn!(execution_id = %task.execution_id, error = %e, "dropping a task of an execution that cannot be failed");
                Verdict::Acknowledge
            }
            Err(e) => {
                tracing::warn!(execution_id = %task.execution_id, error = %e, "cannot fail the execution; the task will come back");
                Verdict::Retry
            }
        }
    }

    async fn defer(&self, message: &SqsMessage, remaining: Duration, metrics: &Metrics) -> Verdict {
        let receipt = message.receipt_handle.as_deref();
        let task = parse_task(message).ok().map(in_span);
        let (integration_id, execution_id) = task
            .as_ref()
            .map(|t| (t.integration_id.as_str(), t.execution_id.as_str()))
            .unwrap_or_default();
        PageDeferred {
            integration_id,
            execution_id,
            remaining_ms: millis(remaining),
        }
        .emit(metrics);
        match &task {
            Some(task) => self.hand_back(task, receipt, Duration::ZERO).await,
            // Malformed: the next invocation reports it, on its way to the dead-letter queue.
            None => {
                self.release(receipt, Duration::ZERO).await;
                Verdict::Retry
            }
        }
    }

    /// Puts a task this invocation did not attempt back without using up a receive; if
    /// that fails, reports it failed (released after `delay`) so SQS delivers it again.
    async fn hand_back(&self, task: &PageTask, receipt: Option<&str>, delay: Duration) -> Verdict {
        let Some(receipt) = receipt else {
            return Verdict::Retry;
        };
        match self.queue.hand_back(task, receipt, delay).await {
            Ok(()) => Verdict::Acknowledge,
            Err(error) => {
                tracing::warn!(execution_id = %task.execution_id, page = %task.page_key(), error = %error, "cannot hand the task back; reporting it failed instead (this counts a receive)");
                self.release(Some(receipt), delay).await;
                Verdict::Retry
            }
        }
    }

    fn report(&self, task: &PageTask, outcome: &PageOutcome, started: Instant, metrics: &Metrics) {
        if outcome.disposition == PageDisposition::Processed {
            let c = outcome.counters;
            PageProcessed {
                integration_id: &task.integration_id,
                execution_id: &task.execution_id,
                records_read: c.records_read,
                upserted: c.upserted,
                failed: c.failed,
                skipped: c.skipped,
                events_sent: c.events_sent,
                dataverse_throttles: Some(u64::from(outcome.dataverse_throttles)),
                resynced: outcome.resynced,
                duration_ms: millis(started.elapsed()),
            }
            .emit(metrics);
        } else {
            tracing::info!(
                integration_id = %task.integration_id,
                execution_id = %task.execution_id,
                page = %outcome.page_key,
                disposition = ?outcome.disposition,
                "page task not processed"
            );
        }
        if let Some(execution) = &outcome.finished {
            ExecutionFinished::of(execution).emit(metrics);
        }
    }

    /// Makes the message visible again after `delay` instead of the queue's long visibility
    /// timeout. Best effort: without it the message still comes back, only later.
    async fn release(&self, receipt: Option<&str>, delay: Duration) {
        let Some(receipt) = receipt else { return };
        if let Err(error) = self.queue.release(receipt, delay).await {
            tracing::warn!(error = %error, "cannot shorten the message's visibility; it returns after the visibility timeout");
        }
    }
}

/// The invocation's deadline from the runtime's `Lambda-Runtime-Deadline-Ms` (epoch
/// milliseconds). A value that cannot be a wall-clock time (before 2001; cargo-lambda's
/// local runtime sends a relative 600000) means the deadline is unknown: Lambda's longest
/// timeout, 15 minutes from now, is assumed instead of deferring every message.
pub fn lambda_deadline(deadline_ms: u64) -> SystemTime {
    const PLAUSIBLE_AFTER_MS: u64 = 1_000_000_000_000;
    if deadline_ms < PLAUSIBLE_AFTER_MS {
        return SystemTime::now() + Duration::from_secs(15 * 60);
    }
    SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms)
}

/// The page task in a message body.
fn parse_task(message: &SqsMessage) -> Result<PageTask, String> {
    let body = message
        .body
        .as_deref()
        .ok_or_else(|| "the message has no body".to_owned())?;
    serde_json::from_str(body).map_err(|e| format!("the body is not a page task: {e}"))
}

/// Records the task's execution and integration on the message's span.
fn in_span(task: PageTask) -> PageTask {
    let span = tracing::Span::current();
    span.record("execution_id", task.execution_id.as_str());
    span.record("integration_id", task.integration_id.as_str());
    task
}

/// SQS's `ApproximateReceiveCount` (1 on the first delivery; 1 when absent or unreadable).
fn receive_count(message: &SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: Option<&str>, receive_count: Option<&str>) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.body = body.map(str::to_owned);
        if let Some(count) = receive_count {
            message
                .attributes
                .insert("ApproximateReceiveCount".into(), count.into());
        }
        message
    }

    #[test]
    fn a_real_deadline_is_kept_and_an_implausible_one_means_lambda_s_longest_timeout() {
        let real = 1_795_744_416_727;
        assert_eq!(
            lambda_deadline(real),
            SystemTime::UNIX_EPOCH + Duration::from_millis(real)
        );
        let assumed = lambda_deadline(600_000)
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        assert!(assumed > Duration::from_secs(14 * 60) && assumed <= Duration::from_secs(15 * 60));
    }

    #[test]
    fn the_receive_count_comes_from_the_sqs_attribute() {
        assert_eq!(receive_count(&message(None, Some("3"))), 3);
        assert_eq!(receive_count(&message(None, None)), 1);
        assert_eq!(receive_count(&message(None, Some("many"))), 1);
        assert_eq!(receive_count(&message(None, Some("0"))), 1);
    }

    #[test]
    fn a_body_that_is_not_a_page_task_is_reported_not_panicked_on() {
        assert!(parse_task(&message(None, None)).is_err());
        let error = parse_task(&message(Some("{\"hello\":1}"), None));
        assert!(error.is_err_and(|e| e.contains("not a page task")));
        let task = parse_task(&message(
            Some(r#"{"execution_id":"e","integration_id":"i","partition":0,"cursor":null}"#),
            None,
        ));
        assert_eq!(task.map(|t| t.page_key()).ok().as_deref(), Some("0:start"));
    }
}

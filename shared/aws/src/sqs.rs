//! The page queue on SQS: a task is a message whose body is the task's JSON. Sends go out
//! in `SendMessageBatch` calls of at most 10, retrying only the entries SQS failed;
//! receives long-poll (at most 20 s) and report `ApproximateReceiveCount`; ack deletes the
//! message; release changes its visibility so it comes back after the delay (and its next
//! receive counts towards the redrive policy's `maxReceiveCount`); hand-back re-sends the
//! task as a new message with `DelaySeconds` (at most 900 s, SQS's longest delay) and only
//! then deletes the delivered one, so a task put off without an attempt starts again at one
//! receive and never reaches the dead-letter queue for waiting.
//!
//! IAM (resource: the queue): `sqs:SendMessage` (covers batches), `sqs:ReceiveMessage`,
//! `sqs:DeleteMessage`, `sqs:ChangeMessageVisibility`.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{MessageSystemAttributeName, SendMessageBatchRequestEntry};
use dynsync_domain::ErrorKind;
use dynsync_domain::execution::PageTask;
use dynsync_domain::ports::{Delivery, PageQueue, PortError};

use crate::error::AwsError;

/// Entries per `SendMessageBatch` (an SQS limit).
const SEND_BATCH: usize = 10;
/// Messages per `ReceiveMessage` (an SQS limit).
const RECEIVE_MAX: usize = 10;
/// Longest long poll SQS allows.
const MAX_WAIT_SECS: u64 = 20;
/// Longest visibility timeout SQS allows (12 hours).
const MAX_VISIBILITY_SECS: u64 = 43_200;
/// Longest `DelaySeconds` SQS allows (15 minutes).
const MAX_DELAY_SECS: u64 = 900;
/// Attempts of a batch whose entries SQS keeps failing (server side).
const SEND_ATTEMPTS: u32 = 5;

/// The page queue port on one SQS queue.
#[derive(Debug, Clone)]
pub struct SqsPageQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    resource: String,
}

impl SqsPageQueue {
    /// A queue adapter for `queue_url`.
    pub fn new(config: &SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::from_client(aws_sdk_sqs::Client::new(config), queue_url)
    }

    pub fn from_client(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        let queue_url = queue_url.into();
        Self {
            client,
            resource: format!("queue '{queue_url}'"),
            queue_url,
        }
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    fn invalid(&self, action: &'static str, detail: String) -> AwsError {
        AwsError::Encode {
            action,
            resource: self.resource.clone(),
            detail,
        }
    }

    /// Sends one batch of at most 10, resending the entries SQS failed on its side.
    async fn send_batch(&self, tasks: &[PageTask]) -> Result<(), AwsError> {
        let action = "sqs:SendMessage";
        let mut pending = Vec::with_capacity(tasks.len());
        for (i, task) in tasks.iter().enumerate() {
            let body =
                serde_json::to_string(task).map_err(|e| self.invalid(action, e.to_string()))?;
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
                .map_err(|e| self.invalid(action, e.to_string()))?;
            pending.push(entry);
        }
        for attempt in 1..=SEND_ATTEMPTS {
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(pending.clone()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(action, &self.resource, e))?;
            if out.failed.is_empty() {
                return Ok(());
            }
            if let Some(rejected) = out.failed.iter().find(|f| f.sender_fault) {
                return Err(AwsError::Service {
                    action,
                    resource: self.resource.clone(),
                    code: rejected.code.clone(),
                    message: rejected.message.clone().unwrap_or_default(),
                    kind: ErrorKind::Permanent,
                    source: None,
                });
            }
            pending.retain(|entry| out.failed.iter().any(|f| f.id == entry.id));
            tracing::warn!(
                queue = %self.queue_url,
                failed = pending.len(),
                attempt,
                "SQS failed some batch entries; resending those"
            );
            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
        }
        Err(AwsError::RetriesExhausted {
            action,
            resource: self.resource.clone(),
            detail: format!("{} entries kept failing on the SQS side", pending.len()),
        })
    }
}

/// Whole seconds, rounded up, at most `max`.
fn ceil_secs(duration: Duration, max: u64) -> i32 {
    let secs = duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0));
    i32::try_from(secs.min(max)).unwrap_or(i32::MAX)
}

#[async_trait::async_trait]
impl PageQueue for SqsPageQueue {
    async fn send(&self, tasks: &[PageTask]) -> Result<(), PortError> {
        for chunk in tasks.chunks(SEND_BATCH) {
            self.send_batch(chunk).await?;
        }
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, PortError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max.min(RECEIVE_MAX)).unwrap_or(1))
            .wait_time_seconds(i32::try_from(wait.as_secs().min(MAX_WAIT_SECS)).unwrap_or(0))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sqs:ReceiveMessage", &self.resource, e))?;
        let mut deliveries = Vec::new();
        for message in out.messages.unwrap_or_default() {
            let message_id = message.message_id.as_deref().unwrap_or("?");
            let (Some(body), Some(receipt)) =
                (message.body.as_deref(), message.receipt_handle.clone())
            else {
                tracing::warn!(queue = %self.queue_url, message_id, "message without body or receipt handle; left for redelivery");
                continue;
            };
            let task: PageTask = match serde_json::from_str(body) {
                Ok(task) => task,
                Err(error) => {
                    // Not acknowledged: it comes back and ends in the dead-letter queue.
                    tracing::warn!(queue = %self.queue_url, message_id, error = %error, "message is not a page task; left for the dead-letter queue");
                    continue;
                }
            };
            let receive_count = message
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            deliveries.push(Delivery {
                task,
                receipt,
                receive_count,
            });
        }
        Ok(deliveries)
    }

    async fn ack(&self, receipt: &str) -> Result<(), PortError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sqs:DeleteMessage", &self.resource, e))?;
        Ok(())
    }

    async fn release(&self, receipt: &str, delay: Duration) -> Result<(), PortError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(ceil_secs(delay, MAX_VISIBILITY_SECS))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sqs:ChangeMessageVisibility", &self.resource, e))?;
        Ok(())
    }

    async fn hand_back(
        &self,
        task: &PageTask,
        receipt: &str,
        delay: Duration,
    ) -> Result<(), PortError> {
        let action = "sqs:SendMessage";
        let body = serde_json::to_string(task).map_err(|e| self.invalid(action, e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(ceil_secs(delay, MAX_DELAY_SECS))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(action, &self.resource, e))?;
        // The task is queued again: the delivered message is now a spare copy. If it cannot
        // be deleted here, Lambda's event source deletes it (the handler settles it), or it
        // comes back once more as a duplicate the page ledger and claim make harmless.
        if let Err(error) = self.ack(receipt).await {
            tracing::warn!(queue = %self.queue_url, page = %task.page_key(), error = %error, "handed back, but the delivered message was not deleted; it may come back once more");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_delays_round_up_to_whole_seconds_within_the_sqs_limit() {
        assert_eq!(
            ceil_secs(Duration::from_millis(1_500), MAX_VISIBILITY_SECS),
            2
        );
        assert_eq!(ceil_secs(Duration::ZERO, MAX_VISIBILITY_SECS), 0);
        assert_eq!(
            ceil_secs(Duration::from_secs(100_000), MAX_VISIBILITY_SECS),
            43_200
        );
    }

    #[test]
    fn hand_back_delays_are_capped_at_the_longest_sqs_delay() {
        assert_eq!(ceil_secs(Duration::from_millis(200), MAX_DELAY_SECS), 1);
        assert_eq!(ceil_secs(Duration::from_secs(600), MAX_DELAY_SECS), 600);
        assert_eq!(ceil_secs(Duration::from_secs(3_600), MAX_DELAY_SECS), 900);
        assert_eq!(ceil_secs(Duration::MAX, MAX_DELAY_SECS), 900);
    }
}

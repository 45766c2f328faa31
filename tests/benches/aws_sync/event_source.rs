//! Lambda's SQS event source as the benchmark's sync worker meets it: ReceiveMessage of up
//! to the template's `WorkerBatchSize`, and DeleteMessageBatch of what the handler did not
//! report as failed, on a client of its own so its requests are tallied apart.

use anyhow::ensure;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::SharedInterceptor;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use dynsync_aws::AwsRequestCounter;

use crate::sync::BATCH_SIZE;
use crate::tally::OperationTally;

/// Lambda's SQS poller, on a client of its own so its requests are tallied apart.
pub struct EventSource {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    pub tally: OperationTally,
}

impl EventSource {
    pub fn new(sdk: &SdkConfig, queue_url: &str) -> Self {
        let tally = OperationTally::default();
        let client =
            AwsRequestCounter::new().sqs_client(sdk, &[SharedInterceptor::new(tally.clone())]);
        Self {
            client,
            queue_url: queue_url.to_owned(),
            tally,
        }
    }

    pub async fn poll(&self) -> anyhow::Result<Vec<Message>> {
        let received = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(BATCH_SIZE)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await?;
        Ok(received.messages.unwrap_or_default())
    }

    /// Deletes the messages not reported as failed, in one DeleteMessageBatch.
    pub async fn delete(&self, messages: &[Message], failed: &[&str]) -> anyhow::Result<()> {
        let mut request = self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url);
        let mut any = false;
        for (i, m) in messages.iter().enumerate() {
            if m.message_id
                .as_deref()
                .is_some_and(|id| failed.contains(&id))
            {
                continue;
            }
            request = request.entries(
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()?,
            );
            any = true;
        }
        if any {
            let out = request.send().await?;
            ensure!(
                out.failed.is_empty(),
                "DeleteMessageBatch failed for {:?}",
                out.failed
            );
        }
        Ok(())
    }
}

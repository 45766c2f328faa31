//! Lambda's SQS event built from the messages SQS delivered, as the event source hands them
//! to a function: ids, receipt handles, bodies and the system attributes
//! (`ApproximateReceiveCount`). Not a module of this crate (it needs `aws_lambda_events`
//! and `aws-sdk-sqs`, which only the AWS benchmark and the worker's tests have): they
//! include it by `#[path]`.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::Message;

/// SQS messages as the Lambda event source hands them over.
pub fn lambda_event(messages: &[Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for m in messages {
        let mut message = SqsMessage::default();
        message.message_id = m.message_id.clone();
        message.receipt_handle = m.receipt_handle.clone();
        message.body = m.body.clone();
        for (name, value) in m.attributes.iter().flatten() {
            message
                .attributes
                .insert(name.as_str().to_owned(), value.clone());
        }
        event.records.push(message);
    }
    event
}

//! One attempt of a page completion: the conditional `UpdateItem` of the execution item
//! that `complete_page` (`ledger.rs`) retries.
//!
//! The failure cap holds under races without a lock: a completion appends its failures
//! only if the list has room for all of them (`size(failures) <= 100 - n`); when that
//! condition fails it appends exactly what fits, on the condition that the list is still
//! the size it saw. The list only grows, so this ends; once it is full this process
//! remembers so and stops offering failures for that execution.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use dynsync_domain::execution::{Counters, MAX_RECORDED_FAILURES, RecordFailure};

use super::DynamoDbStateStore;
use super::codec::{Reader, counter_fields, failure_list};
use super::schema::*;
use crate::error::AwsError;

/// Longer failure reasons are cut to this many characters (keeps the execution item far
/// below DynamoDB's 400 KB item limit with 100 failures).
const MAX_REASON_CHARS: usize = 1_000;
/// Attempts of a completion before giving up (each retry means the failure list grew).
pub(super) const MAX_COMPLETION_ATTEMPTS: usize = 12;

/// What a completion adds to the execution's failure list.
pub(super) enum Append {
    Nothing,
    /// All of them, if the list has room for all.
    IfRoom(Vec<RecordFailure>),
    /// These, if the list still holds `seen` entries.
    Exactly {
        seen: usize,
        entries: Vec<RecordFailure>,
    },
}

pub(super) fn clipped(failure: &RecordFailure) -> RecordFailure {
    let mut failure = failure.clone();
    clip(&mut failure.reason);
    failure
}

pub(super) fn clip(reason: &mut String) {
    if let Some((cut, _)) = reason.char_indices().nth(MAX_REASON_CHARS) {
        reason.truncate(cut);
    }
}

impl DynamoDbStateStore {
    /// One completion attempt: `Ok(Ok(open pages left))`, or `Ok(Err(old item))` when a
    /// condition failed (the old item, if DynamoDB returned it).
    pub(super) async fn try_complete(
        &self,
        execution_id: &str,
        page_key: &str,
        counters: &Counters,
        append: &Append,
        now: DateTime<Utc>,
    ) -> Result<Result<u64, Option<Item>>, AwsError> {
        let mut adds = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(execution_pk(execution_id), SK_EXECUTION)))
            .expression_attribute_names("#open", OPEN_PAGES)
            .expression_attribute_names("#progress", LAST_PROGRESS)
            .expression_attribute_values(":page_set", AttributeValue::Ss(vec![page_key.to_owned()]))
            .expression_attribute_values(":page", s(page_key))
            .expression_attribute_values(":now", s(timestamp(now)))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (i, (name, value)) in counter_fields(counters).into_iter().enumerate() {
            adds.push(format!("#c{i} :c{i}"));
            request = request
                .expression_attribute_names(format!("#c{i}"), name)
                .expression_attribute_values(format!(":c{i}"), n(value));
        }
        let mut set = "SET #progress = :now".to_owned();
        let mut condition = "contains(#open, :page)".to_owned();
        let (entries, size_check) = match append {
            Append::Nothing => (None, None),
            Append::IfRoom(entries) => (
                Some(entries),
                Some(("<=", MAX_RECORDED_FAILURES.saturating_sub(entries.len()))),
            ),
            Append::Exactly { seen, entries } => (Some(entries), Some(("=", *seen))),
        };
        if let (Some(entries), Some((op, size))) = (entries, size_check) {
            set.push_str(", #failures = list_append(if_not_exists(#failures, :empty), :new)");
            condition.push_str(&format!(
                " AND (attribute_not_exists(#failures) OR size(#failures) {op} :size)"
            ));
            request = request
                .expression_attribute_names("#failures", FAILURES)
                .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
                .expression_attribute_values(":new", failure_list(entries))
                .expression_attribute_values(":size", n(size));
        }
        let result = request
            .update_expression(format!(
                "{set} ADD {} DELETE #open :page_set",
                adds.join(", ")
            ))
            .condition_expression(condition)
            .send()
            .await;
        match result {
            Ok(out) => {
                let left = out.attributes.unwrap_or_default();
                let reader = Reader::new(&left, &self.resource);
                Ok(Ok(reader.string_set(OPEN_PAGES)?.len() as u64))
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Err(failed.item.clone()))
                }
                _ => Err(AwsError::from_sdk("dynamodb:UpdateItem", &self.resource, e)),
            },
        }
    }
}

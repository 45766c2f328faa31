//! The page ledger: register a page once (and count it outstanding) in one transaction,
//! remember answered batches, and complete a page (mark it done, add its counters and
//! failures, count it off) in one transaction.
//!
//! The failure cap holds under races without a lock: a completion appends its failures
//! only if the list has room for all of them (`size(failures) <= 100 - n`); when that
//! condition fails it reads the list and appends exactly what fits, on the condition that
//! the list is still the size it read. The list only grows, so this ends; once it is full
//! this process remembers so and stops offering failures for that execution.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use dynsync_domain::execution::{Counters, MAX_RECORDED_FAILURES, RecordFailure};
use dynsync_domain::ports::{BatchRecord, PageLedger};

use super::calls::TxOutcome;
use super::codec::{Reader, batch_value, counter_fields, failure_list, read_batches};
use super::schema::*;
use super::{DynamoDbStateStore, locked};
use crate::error::AwsError;

/// Longer failure reasons are cut to this many characters (keeps the execution item far
/// below DynamoDB's 400 KB item limit with 100 failures).
const MAX_REASON_CHARS: usize = 1_000;
/// Attempts of a completion before giving up (each retry means the failure list grew).
const MAX_COMPLETION_ATTEMPTS: usize = 12;

/// What a completion adds to the execution's failure list.
enum Append {
    Nothing,
    /// All of them, if the list has room for all.
    IfRoom(Vec<RecordFailure>),
    /// These, if the list still holds `seen` entries.
    Exactly {
        seen: usize,
        entries: Vec<RecordFailure>,
    },
}

fn clipped(failure: &RecordFailure) -> RecordFailure {
    let mut failure = failure.clone();
    if let Some((cut, _)) = failure.reason.char_indices().nth(MAX_REASON_CHARS) {
        failure.reason.truncate(cut);
    }
    failure
}

impl DynamoDbStateStore {
    fn not_registered(&self, execution_id: &str, page_key: &str) -> AwsError {
        self.state_error(format!(
            "page '{page_key}' of execution '{execution_id}' was never registered"
        ))
    }

    fn count_outstanding(&self, execution_id: &str, delta: i64) -> Result<Update, AwsError> {
        self.built(
            "dynamodb:UpdateItem",
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(execution_pk(execution_id), SK_EXECUTION)))
                .update_expression("ADD #outstanding :delta")
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#outstanding", OUTSTANDING)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":delta", n(delta))
                .build(),
        )
    }

    pub(super) async fn register_page_item(
        &self,
        execution_id: &str,
        page_key: &str,
    ) -> Result<bool, AwsError> {
        let actions = vec![
            self.new_page(execution_id, page_key)?,
            TransactWriteItem::builder()
                .update(self.count_outstanding(execution_id, 1)?)
                .build(),
        ];
        match self.transact(actions).await? {
            TxOutcome::Committed => Ok(true),
            TxOutcome::Cancelled(reasons) if TxOutcome::failed(&reasons, 0) => Ok(false),
            TxOutcome::Cancelled(_) => Err(self.no_execution(execution_id)),
        }
    }

    async fn page_item(
        &self,
        execution_id: &str,
        page_key: &str,
    ) -> Result<Option<Item>, AwsError> {
        self.get_item(key(execution_pk(execution_id), page_sk(page_key)), &[])
            .await
    }

    pub(super) async fn page_ledger_item(
        &self,
        execution_id: &str,
        page_key: &str,
    ) -> Result<Option<PageLedger>, AwsError> {
        let Some(item) = self.page_item(execution_id, page_key).await? else {
            return Ok(None);
        };
        let reader = Reader::new(&item, &self.resource);
        Ok(Some(PageLedger {
            done: reader.bool(DONE)?,
            batches: read_batches(&reader)?,
        }))
    }

    pub(super) async fn record_batch_item(
        &self,
        execution_id: &str,
        page_key: &str,
        batch: &BatchRecord,
    ) -> Result<(), AwsError> {
        let mut batch = batch.clone();
        batch.failures = batch.failures.iter().map(clipped).collect();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(execution_pk(execution_id), page_sk(page_key))))
            .update_expression("SET #batches.#b = :batch")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#batches", BATCHES)
            .expression_attribute_names("#b", batch_key(batch.index))
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":batch", batch_value(&batch))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Err(self.not_registered(execution_id, page_key))
            }
            Err(e) => Err(AwsError::from_sdk("dynamodb:UpdateItem", &self.resource, e)),
        }
    }

    fn completion(
        &self,
        execution_id: &str,
        page_key: &str,
        counters: &Counters,
        append: &Append,
        now: DateTime<Utc>,
    ) -> Result<Vec<TransactWriteItem>, AwsError> {
        let action = "dynamodb:UpdateItem";
        let page = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(execution_pk(execution_id), page_sk(page_key))))
            .update_expression("SET #done = :true")
            .condition_expression("#done = :false")
            .expression_attribute_names("#done", DONE)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build();
        let mut adds = vec!["#outstanding :minus_one".to_owned()];
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(execution_pk(execution_id), SK_EXECUTION)))
            .expression_attribute_names("#outstanding", OUTSTANDING)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#progress", LAST_PROGRESS)
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":now", s(timestamp(now)));
        for (i, (name, value)) in counter_fields(counters).into_iter().enumerate() {
            adds.push(format!("#c{i} :c{i}"));
            update = update
                .expression_attribute_names(format!("#c{i}"), name)
                .expression_attribute_values(format!(":c{i}"), n(value));
        }
        let mut set = "SET #progress = :now".to_owned();
        let mut condition = "attribute_exists(#pk)".to_owned();
        let (entries, size_check) = match append {
            Append::Nothing => (None, None),
            Append::IfRoom(entries) => (
                Some(entries),
                Some(("<=", MAX_RECORDED_FAILURES - entries.len())),
            ),
            Append::Exactly { seen, entries } => (Some(entries), Some(("=", *seen))),
        };
        if let (Some(entries), Some((op, size))) = (entries, size_check) {
            set.push_str(", #failures = list_append(if_not_exists(#failures, :empty), :new)");
            condition.push_str(&format!(
                " AND (attribute_not_exists(#failures) OR size(#failures) {op} :size)"
            ));
            update = update
                .expression_attribute_names("#failures", FAILURES)
                .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
                .expression_attribute_values(":new", failure_list(entries))
                .expression_attribute_values(":size", n(size));
        }
        let update = update
            .update_expression(format!("{set} ADD {}", adds.join(", ")))
            .condition_expression(condition)
            .build();
        Ok(vec![
            TransactWriteItem::builder()
                .update(self.built(action, page)?)
                .build(),
            TransactWriteItem::builder()
                .update(self.built(action, update)?)
                .build(),
        ])
    }

    pub(super) async fn complete_page_items(
        &self,
        execution_id: &str,
        page_key: &str,
        counters: &Counters,
        failures: &[RecordFailure],
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, AwsError> {
        let failures: Vec<RecordFailure> = failures
            .iter()
            .take(MAX_RECORDED_FAILURES)
            .map(clipped)
            .collect();
        let mut append =
            if failures.is_empty() || locked(&self.failures_full).contains(execution_id) {
                Append::Nothing
            } else {
                Append::IfRoom(failures.clone())
            };
        let mut committed = false;
        for _ in 0..MAX_COMPLETION_ATTEMPTS {
            let actions = self.completion(execution_id, page_key, counters, &append, now)?;
            let TxOutcome::Cancelled(reasons) = self.transact(actions).await? else {
                committed = true;
                break;
            };
            if TxOutcome::failed(&reasons, 0) {
                let seen = match reasons.into_iter().next().and_then(|r| r.item) {
                    Some(item) => Some(item),
                    None => self.page_item(execution_id, page_key).await?,
                };
                match seen {
                    None => return Err(self.not_registered(execution_id, page_key)),
                    Some(item) if Reader::new(&item, &self.resource).bool(DONE)? => {
                        return Ok(None);
                    }
                    Some(_) => continue,
                }
            }
            let Some(item) = self
                .get_item(key(execution_pk(execution_id), SK_EXECUTION), &[FAILURES])
                .await?
            else {
                return Err(self.no_execution(execution_id));
            };
            let seen = Reader::new(&item, &self.resource).list(FAILURES)?.len();
            let room = MAX_RECORDED_FAILURES.saturating_sub(seen);
            append = if room == 0 {
                locked(&self.failures_full).insert(execution_id.to_owned());
                Append::Nothing
            } else {
                Append::Exactly {
                    seen,
                    entries: failures.iter().take(room).cloned().collect(),
                }
            };
        }
        if !committed {
            return Err(self.exhausted(
                "dynamodb:TransactWriteItems",
                "completing the page kept conflicting",
            ));
        }
        let item = self
            .get_item(
                key(execution_pk(execution_id), SK_EXECUTION),
                &[OUTSTANDING],
            )
            .await?
            .ok_or_else(|| self.no_execution(execution_id))?;
        Ok(Some(Reader::new(&item, &self.resource).u64(OUTSTANDING)?))
    }
}

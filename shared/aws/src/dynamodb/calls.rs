//! The few request shapes the store uses, with their error handling: strongly consistent
//! item reads, paginated queries, `BatchGetItem` with unprocessed-key retries, and
//! `TransactWriteItems` that retries transaction conflicts and reports which conditions
//! failed.

use std::time::Duration;

use aws_sdk_dynamodb::error::{BuildError, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, TransactWriteItem};
use rand::Rng;

use super::DynamoDbStateStore;
use super::schema::Item;
use crate::error::AwsError;

/// How often a call is repeated for a transient condition DynamoDB asks the caller to retry
/// (transaction conflicts, unprocessed keys) before giving up with a transient error.
const MAX_ATTEMPTS: u32 = 6;
/// At most this many keys per `BatchGetItem`.
const BATCH_GET_LIMIT: usize = 100;

/// Whether an `UpdateItem` was refused because its condition did not hold.
pub fn update_condition_failed<R>(error: &SdkError<UpdateItemError, R>) -> bool {
    matches!(
        error.as_service_error(),
        Some(UpdateItemError::ConditionalCheckFailedException(_))
    )
}

/// How a transaction ended when it did not fail outright.
pub enum TxOutcome {
    Committed,
    /// A condition failed: per action, whether its condition was the one that failed.
    Cancelled(Vec<bool>),
}

impl TxOutcome {
    /// Whether action `index`'s condition failed.
    pub fn failed(reasons: &[bool], index: usize) -> bool {
        reasons.get(index).copied().unwrap_or(false)
    }
}

/// Jittered exponential pause before attempt `attempt + 1`.
pub async fn backoff(attempt: u32) {
    let base = 25u64 << attempt.min(6);
    let jitter = rand::rng().random_range(0..=base);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

impl DynamoDbStateStore {
    pub(super) fn built<T>(
        &self,
        action: &'static str,
        r: Result<T, BuildError>,
    ) -> Result<T, AwsError> {
        r.map_err(|e| AwsError::Encode {
            action,
            resource: self.resource.clone(),
            detail: e.to_string(),
        })
    }

    pub(super) fn encode_error(&self, action: &'static str, e: serde_json::Error) -> AwsError {
        AwsError::Encode {
            action,
            resource: self.resource.clone(),
            detail: e.to_string(),
        }
    }

    /// A strongly consistent read of one item.
    pub(super) async fn get_item(
        &self,
        key: Item,
        projection: &[&str],
    ) -> Result<Option<Item>, AwsError> {
        let mut request = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true);
        if !projection.is_empty() {
            let names: Vec<String> = (0..projection.len()).map(|i| format!("#p{i}")).collect();
            request = request.projection_expression(names.join(", "));
            for (name, attribute) in names.into_iter().zip(projection) {
                request = request.expression_attribute_names(name, *attribute);
            }
        }
        request
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| AwsError::from_sdk("dynamodb:GetItem", &self.resource, e))
    }

    /// Every item a query returns (following `LastEvaluatedKey`), at most `limit`.
    pub(super) async fn query_all(
        &self,
        query: QueryFluentBuilder,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, AwsError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut request = query.clone().set_exclusive_start_key(start);
            if let Some(limit) = limit {
                let left = limit.saturating_sub(items.len()).min(1_000);
                request = request.limit(i32::try_from(left).unwrap_or(1_000));
            }
            let out = request
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("dynamodb:Query", &self.resource, e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() || limit.is_some_and(|l| items.len() >= l) {
                break;
            }
        }
        if let Some(limit) = limit {
            items.truncate(limit);
        }
        Ok(items)
    }

    /// Strongly consistent reads of many items, in no particular order; missing ones are
    /// left out.
    pub(super) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, AwsError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(BATCH_GET_LIMIT) {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .consistent_read(true)
                .build();
            found.extend(
                self.batch_get_request(self.built("dynamodb:BatchGetItem", request)?)
                    .await?,
            );
        }
        Ok(found)
    }

    /// One `BatchGetItem` of at most 100 keys of this table, repeated for unprocessed keys.
    pub(super) async fn batch_get_request(
        &self,
        request: KeysAndAttributes,
    ) -> Result<Vec<Item>, AwsError> {
        let mut found = Vec::new();
        let mut pending = Some(request);
        let mut attempt = 0;
        while let Some(request) = pending.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("dynamodb:BatchGetItem", &self.resource, e))?;
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
            if pending.is_some() {
                attempt += 1;
                if attempt >= MAX_ATTEMPTS {
                    return Err(self.exhausted("dynamodb:BatchGetItem", "keys stayed unprocessed"));
                }
                backoff(attempt).await;
            }
        }
        Ok(found)
    }

    /// Runs a transaction; a conflict with another transaction is retried, a failed
    /// condition is reported, anything else is an error.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<TxOutcome, AwsError> {
        // IAM authorises a transaction by its per-item actions, so that is what to grant.
        let action = "dynamodb:PutItem/UpdateItem/DeleteItem (in TransactWriteItems)";
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(TxOutcome::Committed),
                Err(error) => error,
            };
            let reasons = match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    cancelled.cancellation_reasons().to_vec()
                }
                _ => return Err(AwsError::from_sdk(action, &self.resource, error)),
            };
            let code_is = |code: &str| reasons.iter().any(|r| r.code() == Some(code));
            if code_is("ConditionalCheckFailed") {
                return Ok(TxOutcome::Cancelled(
                    reasons
                        .iter()
                        .map(|r| r.code() == Some("ConditionalCheckFailed"))
                        .collect(),
                ));
            }
            let retry = [
                "TransactionConflict",
                "ThrottlingError",
                "ProvisionedThroughputExceeded",
            ];
            if !retry.iter().any(|c| code_is(c)) {
                return Err(AwsError::from_sdk(action, &self.resource, error));
            }
            attempt += 1;
            if attempt >= MAX_ATTEMPTS {
                return Err(self.exhausted(action, "conflicting transactions or throttling"));
            }
            backoff(attempt).await;
        }
    }

    pub(super) fn exhausted(&self, action: &'static str, detail: &str) -> AwsError {
        AwsError::RetriesExhausted {
            action,
            resource: self.resource.clone(),
            detail: detail.to_owned(),
        }
    }
}

//! The page ledger. A page's ledger item (`PAGE#<key>`) says it was registered and holds
//! its answered batches; the execution item's `open_pages` string set holds the pages
//! registered and not yet completed. So:
//!
//! - `register_page` is one transaction: put the ledger item if absent, add the key to
//!   `open_pages`. A page is registered once, ever: a completed page is not reopened.
//! - `complete_page` is one conditional `UpdateItem` of the execution item: remove the key
//!   from `open_pages` (on the condition that it is there, i.e. not done yet), add the
//!   counters and failures, stamp the progress, and return the set left — the outstanding
//!   count — in the same call. Marking done, counting and counting off are one write.
//! - `page_ledger` reads both items in one `BatchGetItem`: done = registered and no longer
//!   open. `execution_and_page`, what a delivery reads first, is the same `BatchGetItem`
//!   with the whole execution item (its status), so a page costs no separate `GetItem`.
//!
//! - `fix_page` sets the page item's `fixed` end if it has none (`if_not_exists`) and
//!   returns what it holds, in one `UpdateItem`.
//! - `claim_page` is one conditional `UpdateItem` of the ledger item (claimant and expiry),
//!   returning the batches in the same call; `release_page_claim` removes them on the
//!   condition that the caller still holds the claim.
//!
//! The failure cap of `complete_page` is explained in `completion.rs`.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use dynsync_domain::execution::{Counters, Execution, MAX_RECORDED_FAILURES, RecordFailure};
use dynsync_domain::ports::{
    BatchRecord, ClaimOutcome, FixedPage, PageClaim, PageLedger, PageRecord, PortError,
};

use super::calls::{TxOutcome, update_condition_failed};
use super::codec::{Reader, read_execution};
use super::completion::{Append, MAX_COMPLETION_ATTEMPTS, clip, clipped};
use super::page_codec::{batch_value, fixed_value, read_batches, read_fixed};
use super::schema::*;
use super::{DynamoDbStateStore, locked};
use crate::error::AwsError;

impl DynamoDbStateStore {
    /// The execution item and the page's ledger item, in one strongly consistent
    /// `BatchGetItem`; `whole_execution: false` reads only the execution's open pages.
    async fn ledger_items(
        &self,
        execution_id: &str,
        page_key: &str,
        whole_execution: bool,
    ) -> Result<(Option<Item>, Option<Item>), AwsError> {
        let page_sk = page_sk(page_key);
        let mut request = KeysAndAttributes::builder()
            .keys(key(execution_pk(execution_id), page_sk.clone()))
            .keys(key(execution_pk(execution_id), SK_EXECUTION))
            .consistent_read(true);
        if !whole_execution {
            request = request
                .projection_expression("#pk, #sk, #fixed, #batches, #open")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_names("#fixed", FIXED)
                .expression_attribute_names("#batches", BATCHES)
                .expression_attribute_names("#open", OPEN_PAGES);
        }
        let items = self
            .batch_get_request(self.built("dynamodb:BatchGetItem", request.build())?)
            .await?;
        let (mut execution, mut page) = (None, None);
        for item in items {
            match item.get(SK) {
                Some(AttributeValue::S(sk)) if sk == SK_EXECUTION => execution = Some(item),
                Some(AttributeValue::S(sk)) if *sk == page_sk => page = Some(item),
                _ => {}
            }
        }
        Ok((execution, page))
    }

    /// The page's row from its ledger item and the execution item's open pages: done =
    /// registered and no longer open.
    fn page_row(
        &self,
        execution: Option<&Item>,
        page: Option<&Item>,
        page_key: &str,
    ) -> Result<Option<PageRecord>, AwsError> {
        let Some(page) = page else {
            return Ok(None);
        };
        let open_pages = match execution {
            Some(execution) => Reader::new(execution, &self.resource).string_set(OPEN_PAGES)?,
            None => &[],
        };
        let page = Reader::new(page, &self.resource);
        Ok(Some(PageRecord {
            done: !open_pages.iter().any(|p| p == page_key),
            fixed: read_fixed(&page)?,
            batches: read_batches(&page)?,
            outstanding: open_pages.len() as u64,
        }))
    }

    /// An `UpdateItem` of the page's ledger item.
    fn update_page(&self, execution_id: &str, page_key: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(execution_pk(execution_id), page_sk(page_key))))
    }

    /// A failed `UpdateItem` of a page conditioned on its item existing: an unregistered
    /// page when the condition failed, else the SDK's error.
    fn page_update_failed(
        &self,
        error: SdkError<UpdateItemError, HttpResponse>,
        execution_id: &str,
        page_key: &str,
    ) -> AwsError {
        if update_condition_failed(&error) {
            self.not_registered(execution_id, page_key)
        } else {
            AwsError::from_sdk("dynamodb:UpdateItem", &self.resource, error)
        }
    }

    fn not_registered(&self, execution_id: &str, page_key: &str) -> AwsError {
        self.state_error(format!(
            "page '{page_key}' of execution '{execution_id}' was never registered"
        ))
    }
}

#[async_trait::async_trait]
impl PageLedger for DynamoDbStateStore {
    async fn register_page(&self, execution_id: &str, page_key: &str) -> Result<bool, PortError> {
        let open = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(execution_pk(execution_id), SK_EXECUTION)))
            .update_expression("ADD #open :page")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#open", OPEN_PAGES)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":page", AttributeValue::Ss(vec![page_key.to_owned()]))
            .build();
        let actions = vec![
            self.new_page(execution_id, page_key)?,
            TransactWriteItem::builder()
                .update(self.built("dynamodb:UpdateItem", open)?)
                .build(),
        ];
        match self.transact(actions).await? {
            TxOutcome::Committed => Ok(true),
            TxOutcome::Cancelled(reasons) if TxOutcome::failed(&reasons, 0) => Ok(false),
            TxOutcome::Cancelled(_) => Err(self.no_execution(execution_id).into()),
        }
    }

    async fn page_ledger(
        &self,
        execution_id: &str,
        page_key: &str,
    ) -> Result<Option<PageRecord>, PortError> {
        let (execution, page) = self.ledger_items(execution_id, page_key, false).await?;
        Ok(self.page_row(execution.as_ref(), page.as_ref(), page_key)?)
    }

    async fn execution_and_page(
        &self,
        execution_id: &str,
        page_key: &str,
    ) -> Result<(Option<Execution>, Option<PageRecord>), PortError> {
        let (execution, page) = self.ledger_items(execution_id, page_key, true).await?;
        let row = self.page_row(execution.as_ref(), page.as_ref(), page_key)?;
        let execution = match &execution {
            Some(item) => Some(read_execution(&Reader::new(item, &self.resource))?),
            None => None,
        };
        Ok((execution, row))
    }

    async fn fix_page(
        &self,
        execution_id: &str,
        page_key: &str,
        page: &FixedPage,
    ) -> Result<FixedPage, PortError> {
        let result = self
            .update_page(execution_id, page_key)
            .update_expression("SET #fixed = if_not_exists(#fixed, :fixed)")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#fixed", FIXED)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":fixed", fixed_value(page))
            // All of it: an `if_not_exists` that changed nothing is no "updated" attribute.
            // A page is fixed before its first batch, so the item is small then.
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let reader = Reader::new(&item, &self.resource);
                Ok(read_fixed(&reader)?
                    .ok_or_else(|| reader.corrupt("fixing a page returned no 'fixed' attribute"))?)
            }
            Err(e) => Err(self.page_update_failed(e, execution_id, page_key).into()),
        }
    }

    async fn record_batch(
        &self,
        execution_id: &str,
        page_key: &str,
        batch: &BatchRecord,
    ) -> Result<(), PortError> {
        let mut batch = batch.clone();
        batch.failures = batch.failures.iter().map(clipped).collect();
        if let Some(stop) = &mut batch.stop {
            clip(stop);
        }
        let result = self
            .update_page(execution_id, page_key)
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
            Err(e) => Err(self.page_update_failed(e, execution_id, page_key).into()),
        }
    }

    async fn claim_page(
        &self,
        execution_id: &str,
        page_key: &str,
        claim: &PageClaim,
    ) -> Result<ClaimOutcome, PortError> {
        let result = self
            .update_page(execution_id, page_key)
            .update_expression("SET #claimant = :me, #until = :until")
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#claimant) OR #until <= :now OR #claimant = :me)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#claimant", CLAIMANT)
            .expression_attribute_names("#until", CLAIMED_UNTIL)
            .expression_attribute_values(":me", s(claim.claimant.clone()))
            .expression_attribute_values(":until", s(timestamp(claim.until)))
            .expression_attribute_values(":now", s(timestamp(self.clock.now())))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let error = match result {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let page = Reader::new(&item, &self.resource);
                return Ok(ClaimOutcome::Acquired {
                    fixed: read_fixed(&page)?,
                    batches: read_batches(&page)?,
                });
            }
            Err(error) => error,
        };
        let Some(UpdateItemError::ConditionalCheckFailedException(failed)) =
            error.as_service_error()
        else {
            return Err(AwsError::from_sdk("dynamodb:UpdateItem", &self.resource, error).into());
        };
        let old = match &failed.item {
            Some(old) => Some(old.clone()),
            // Not returned by this endpoint: read the holder.
            None => {
                self.get_item(
                    key(execution_pk(execution_id), page_sk(page_key)),
                    &[PK, CLAIMANT, CLAIMED_UNTIL],
                )
                .await?
            }
        };
        let Some(old) = old.filter(|item| item.contains_key(PK)) else {
            return Err(self.not_registered(execution_id, page_key).into());
        };
        let reader = Reader::new(&old, &self.resource);
        match (reader.opt_s(CLAIMANT)?, reader.opt_time(CLAIMED_UNTIL)?) {
            (Some(claimant), Some(until)) => Ok(ClaimOutcome::HeldBy {
                claimant: claimant.to_owned(),
                until,
            }),
            _ => Err(self
                .exhausted(
                    "dynamodb:UpdateItem",
                    "the page claim changed hands while it was taken",
                )
                .into()),
        }
    }

    async fn release_page_claim(
        &self,
        execution_id: &str,
        page_key: &str,
        claimant: &str,
    ) -> Result<(), PortError> {
        let result = self
            .update_page(execution_id, page_key)
            .update_expression("REMOVE #claimant, #until")
            .condition_expression("#claimant = :me")
            .expression_attribute_names("#claimant", CLAIMANT)
            .expression_attribute_names("#until", CLAIMED_UNTIL)
            .expression_attribute_values(":me", s(claimant.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone else holds it, or nobody: nothing of ours to release.
            Err(e) if update_condition_failed(&e) => Ok(()),
            Err(e) => Err(AwsError::from_sdk("dynamodb:UpdateItem", &self.resource, e).into()),
        }
    }

    async fn complete_page(
        &self,
        execution_id: &str,
        page_key: &str,
        counters: &Counters,
        failures: &[RecordFailure],
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, PortError> {
        let failures: Vec<RecordFailure> = failures
            .iter()
            .take(MAX_RECORDED_FAILURES)
            .map(clipped)
            .collect();
        let full = locked(&self.failures_full).contains(execution_id);
        let mut append = if failures.is_empty() || full {
            Append::Nothing
        } else {
            Append::IfRoom(failures.clone())
        };
        for _ in 0..MAX_COMPLETION_ATTEMPTS {
            let old = match self
                .try_complete(execution_id, page_key, counters, &append, now)
                .await?
            {
                Ok(open) => return Ok(Some(open)),
                Err(Some(old)) => old,
                // Not returned by this endpoint: read it.
                Err(None) => self
                    .execution_item(execution_id)
                    .await?
                    .ok_or_else(|| self.no_execution(execution_id))?,
            };
            let reader = Reader::new(&old, &self.resource);
            if !reader.string_set(OPEN_PAGES)?.iter().any(|p| p == page_key) {
                // Completed already (a redelivery or a concurrent completer), or never
                // registered: the ledger item tells which.
                let page = self
                    .get_item(key(execution_pk(execution_id), page_sk(page_key)), &[PK])
                    .await?;
                return match page {
                    Some(_) => Ok(None),
                    None => Err(self.not_registered(execution_id, page_key).into()),
                };
            }
            let seen = reader.list(FAILURES)?.len();
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
        Err(self
            .exhausted(
                "dynamodb:UpdateItem",
                "completing the page kept racing other completions",
            )
            .into())
    }
}

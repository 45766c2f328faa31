//! Per-integration items: definitions (with their enabled flag), schedule slots
//! (compare-and-set), run locks (conditional put / holder-only delete) and watermarks.

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use dynsync_domain::Definition;
use dynsync_domain::ports::{LockOutcome, LockRequest};

use super::DynamoDbStateStore;
use super::calls::update_condition_failed;
use super::codec::{Reader, json_attr};
use super::schema::*;
use crate::error::AwsError;

impl DynamoDbStateStore {
    pub(super) async fn put_definition_item(
        &self,
        definition: &Definition,
    ) -> Result<(), AwsError> {
        let action = "dynamodb:PutItem";
        let mut item = key(PK_DEFINITIONS.to_owned(), definition.id.clone());
        item.insert(
            DEFINITION.to_owned(),
            json_attr(definition).map_err(|e| self.encode_error(action, e))?,
        );
        item.insert(ENABLED.to_owned(), AttributeValue::Bool(definition.enabled));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(action, &self.resource, e))?;
        Ok(())
    }

    pub(super) fn read_definition(&self, item: &Item) -> Result<Definition, AwsError> {
        let reader = Reader::new(item, &self.resource);
        let mut definition: Definition = reader.json(DEFINITION)?;
        definition.enabled = reader.bool(ENABLED)?;
        Ok(definition)
    }

    pub(super) async fn get_definition_item(
        &self,
        id: &str,
    ) -> Result<Option<Definition>, AwsError> {
        self.get_item(key(PK_DEFINITIONS.to_owned(), id), &[])
            .await?
            .map(|item| self.read_definition(&item))
            .transpose()
    }

    pub(super) async fn list_definition_items(&self) -> Result<Vec<Definition>, AwsError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(PK_DEFINITIONS))
            .consistent_read(true);
        self.query_all(query, None)
            .await?
            .iter()
            .map(|item| self.read_definition(item))
            .collect()
    }

    pub(super) async fn set_enabled_flag(&self, id: &str, enabled: bool) -> Result<bool, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(PK_DEFINITIONS.to_owned(), id)))
            .update_expression("SET #enabled = :enabled")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#enabled", ENABLED)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":enabled", AttributeValue::Bool(enabled))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if update_condition_failed(&e) => Ok(false),
            Err(e) => Err(AwsError::from_sdk("dynamodb:UpdateItem", &self.resource, e)),
        }
    }

    pub(super) async fn last_slot_item(
        &self,
        integration_id: &str,
    ) -> Result<Option<DateTime<Utc>>, AwsError> {
        let item = self
            .get_item(key(integration_pk(integration_id), SK_SLOT), &[])
            .await?;
        match item {
            Some(item) => Reader::new(&item, &self.resource).opt_time(SLOT),
            None => Ok(None),
        }
    }

    pub(super) async fn claim_slot_item(
        &self,
        integration_id: &str,
        previous: Option<DateTime<Utc>>,
        slot: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        if previous.is_some_and(|p| slot <= p) {
            return Ok(false);
        }
        let mut item = key(integration_pk(integration_id), SK_SLOT);
        item.insert(SLOT.to_owned(), s(timestamp(slot)));
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        request = match previous {
            None => request
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK),
            Some(previous) => request
                .condition_expression("#slot = :previous")
                .expression_attribute_names("#slot", SLOT)
                .expression_attribute_values(":previous", s(timestamp(previous))),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(AwsError::from_sdk("dynamodb:PutItem", &self.resource, e)),
        }
    }

    pub(super) async fn acquire_lock_item(
        &self,
        request: &LockRequest,
    ) -> Result<LockOutcome, AwsError> {
        let mut item = key(integration_pk(&request.integration_id), SK_LOCK);
        item.insert(EXECUTION_ID.to_owned(), s(request.execution_id.clone()));
        item.insert(OWNER.to_owned(), s(request.owner.clone()));
        item.insert(EXPIRES_AT.to_owned(), s(timestamp(request.expires_at)));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(#pk) OR #expires <= :now OR #execution = :execution",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_names("#execution", EXECUTION_ID)
            .expression_attribute_values(":now", s(timestamp(self.clock.now())))
            .expression_attribute_values(":execution", s(request.execution_id.clone()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(LockOutcome::Acquired),
            Err(error) => error,
        };
        let Some(PutItemError::ConditionalCheckFailedException(failed)) = error.as_service_error()
        else {
            return Err(AwsError::from_sdk(
                "dynamodb:PutItem",
                &self.resource,
                error,
            ));
        };
        let holder = match &failed.item {
            Some(old) => Some(Reader::new(old, &self.resource).s(EXECUTION_ID)?.to_owned()),
            None => None,
        };
        let execution_id = match holder {
            Some(holder) => holder,
            // Not returned by this endpoint: read the holder.
            None => match self.lock_holder_item(&request.integration_id).await? {
                Some((holder, _, _)) => holder,
                None => {
                    return Err(self.exhausted(
                        "dynamodb:PutItem",
                        "the run lock changed hands while it was taken",
                    ));
                }
            },
        };
        Ok(LockOutcome::HeldBy { execution_id })
    }

    pub(super) async fn lock_holder_item(
        &self,
        integration_id: &str,
    ) -> Result<Option<(String, String, DateTime<Utc>)>, AwsError> {
        let Some(item) = self
            .get_item(key(integration_pk(integration_id), SK_LOCK), &[])
            .await?
        else {
            return Ok(None);
        };
        let reader = Reader::new(&item, &self.resource);
        Ok(Some((
            reader.s(EXECUTION_ID)?.to_owned(),
            reader.s(OWNER)?.to_owned(),
            reader.time(EXPIRES_AT)?,
        )))
    }

    pub(super) async fn release_lock_item(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), AwsError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(integration_pk(integration_id), SK_LOCK)))
            .condition_expression("#execution = :execution")
            .expression_attribute_names("#execution", EXECUTION_ID)
            .expression_attribute_values(":execution", s(execution_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Not (or no longer) the holder: nothing to release.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(AwsError::from_sdk("dynamodb:DeleteItem", &self.resource, e)),
        }
    }

    pub(super) async fn watermark_item(
        &self,
        integration_id: &str,
    ) -> Result<Option<DateTime<Utc>>, AwsError> {
        match self
            .get_item(key(integration_pk(integration_id), SK_WATERMARK), &[])
            .await?
        {
            Some(item) => Reader::new(&item, &self.resource).opt_time(WATERMARK),
            None => Ok(None),
        }
    }
}

//! Run locks: one item per integration, a conditional put (absent, expired or the same
//! execution) and a holder-only delete.

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use chrono::{DateTime, Utc};
use dynsync_domain::ports::{LockOutcome, LockRequest, PortError, RunLocks};

use super::DynamoDbStateStore;
use super::codec::Reader;
use super::schema::*;
use crate::error::AwsError;

#[async_trait::async_trait]
impl RunLocks for DynamoDbStateStore {
    async fn acquire_lock(&self, request: &LockRequest) -> Result<LockOutcome, PortError> {
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
            return Err(AwsError::from_sdk("dynamodb:PutItem", &self.resource, error).into());
        };
        let holder = match &failed.item {
            Some(old) => Some(Reader::new(old, &self.resource).s(EXECUTION_ID)?.to_owned()),
            None => None,
        };
        let execution_id = match holder {
            Some(holder) => holder,
            // Not returned by this endpoint: read the holder.
            None => match self.lock_holder(&request.integration_id).await? {
                Some((holder, _, _)) => holder,
                None => {
                    return Err(self
                        .exhausted(
                            "dynamodb:PutItem",
                            "the run lock changed hands while it was taken",
                        )
                        .into());
                }
            },
        };
        Ok(LockOutcome::HeldBy { execution_id })
    }

    async fn lock_holder(
        &self,
        integration_id: &str,
    ) -> Result<Option<(String, String, DateTime<Utc>)>, PortError> {
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

    async fn release_lock(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError> {
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
            Err(e) => Err(AwsError::from_sdk("dynamodb:DeleteItem", &self.resource, e).into()),
        }
    }
}

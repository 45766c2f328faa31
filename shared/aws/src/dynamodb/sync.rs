//! Where an integration's next incremental read starts: its watermark (only moves forward,
//! written by the finish in `executions.rs`), the sync token a running execution staged on
//! its execution item, and the integration's committed sync token.

use chrono::{DateTime, Utc};
use dynsync_domain::execution::ExecutionStatus;
use dynsync_domain::ports::{PortError, SyncState};

use super::DynamoDbStateStore;
use super::calls::update_condition_failed;
use super::codec::{Reader, enum_name};
use super::schema::*;
use crate::error::AwsError;

#[async_trait::async_trait]
impl SyncState for DynamoDbStateStore {
    async fn watermark(&self, integration_id: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        match self
            .get_item(key(integration_pk(integration_id), SK_WATERMARK), &[])
            .await?
        {
            Some(item) => Ok(Reader::new(&item, &self.resource).opt_time(WATERMARK)?),
            None => Ok(None),
        }
    }

    async fn stage_sync_token(&self, execution_id: &str, token: &str) -> Result<(), PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(execution_pk(execution_id), SK_EXECUTION)))
            .update_expression("SET #staged = :token")
            .condition_expression("#status = :running")
            .expression_attribute_names("#staged", STAGED_TOKEN)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":running", s(enum_name(&ExecutionStatus::Running)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if update_condition_failed(&e) => Err(self
                .state_error(format!(
                    "execution '{execution_id}' is not running; its sync token can no longer change"
                ))
                .into()),
            Err(e) => Err(AwsError::from_sdk("dynamodb:UpdateItem", &self.resource, e).into()),
        }
    }

    async fn sync_token(&self, integration_id: &str) -> Result<Option<String>, PortError> {
        match self
            .get_item(key(integration_pk(integration_id), SK_SYNC_TOKEN), &[])
            .await?
        {
            Some(item) => Ok(Reader::new(&item, &self.resource)
                .opt_s(SYNC_TOKEN)?
                .map(str::to_owned)),
            None => Ok(None),
        }
    }
}

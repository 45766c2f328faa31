//! The `Definitions` port: definition items (with their enabled flag) and the schedule
//! slot of each integration (compare-and-set).

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use dynsync_domain::Definition;
use dynsync_domain::ports::{Definitions, PortError};

use super::DynamoDbStateStore;
use super::calls::update_condition_failed;
use super::codec::{Reader, json_attr};
use super::schema::*;
use crate::error::AwsError;

impl DynamoDbStateStore {
    pub(super) fn read_definition(&self, item: &Item) -> Result<Definition, AwsError> {
        let reader = Reader::new(item, &self.resource);
        let mut definition: Definition = reader.json(DEFINITION)?;
        definition.enabled = reader.bool(ENABLED)?;
        Ok(definition)
    }
}

#[async_trait::async_trait]
impl Definitions for DynamoDbStateStore {
    async fn put_definition(&self, definition: &Definition) -> Result<(), PortError> {
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

    async fn get_definition(&self, id: &str) -> Result<Option<Definition>, PortError> {
        Ok(self
            .get_item(key(PK_DEFINITIONS.to_owned(), id), &[])
            .await?
            .map(|item| self.read_definition(&item))
            .transpose()?)
    }

    async fn list_definitions(&self) -> Result<Vec<Definition>, PortError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", s(PK_DEFINITIONS))
            .consistent_read(true);
        Ok(self
            .query_all(query, None)
            .await?
            .iter()
            .map(|item| self.read_definition(item))
            .collect::<Result<_, AwsError>>()?)
    }

    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<bool, PortError> {
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
            Err(e) => Err(AwsError::from_sdk("dynamodb:UpdateItem", &self.resource, e).into()),
        }
    }

    async fn last_slot(&self, integration_id: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        let item = self
            .get_item(key(integration_pk(integration_id), SK_SLOT), &[])
            .await?;
        match item {
            Some(item) => Ok(Reader::new(&item, &self.resource).opt_time(SLOT)?),
            None => Ok(None),
        }
    }

    async fn claim_slot(
        &self,
        integration_id: &str,
        previous: Option<DateTime<Utc>>,
        slot: DateTime<Utc>,
    ) -> Result<bool, PortError> {
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
            Err(e) => Err(AwsError::from_sdk("dynamodb:PutItem", &self.resource, e).into()),
        }
    }
}

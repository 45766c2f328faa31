//! [`DataverseSource`]: Dataverse as the engine's [`DataSource`]. Planning resolves the
//! entity (or the marketing list and its member type), the entity set and primary id, and
//! the labels of every `code_to_label` field; a page is one keyset FetchXML query.

use async_trait::async_trait;
use dynsync_domain::definition::Method;
use dynsync_domain::execution::{ListTarget, SourcePlan};
use dynsync_domain::ports::{DataSource, PageRequest, PortError, SourcePage};
use dynsync_domain::{Integration, Record};
use serde_json::Value;

use crate::client::DataverseClient;
use crate::error::DynamicsError;
use crate::transport::count_throttles;

/// Reads an integration's records through a [`DataverseClient`].
#[derive(Debug, Clone)]
pub struct DataverseSource {
    client: DataverseClient,
}

impl DataverseSource {
    pub fn new(client: DataverseClient) -> Self {
        Self { client }
    }

    pub fn client(&self) -> &DataverseClient {
        &self.client
    }

    /// [`DataSource::plan`] with the typed error.
    pub async fn plan_typed(&self, integration: &Integration) -> Result<SourcePlan, DynamicsError> {
        let definition = integration.definition();
        let (entity, list) = match definition.method {
            Method::Entity => {
                let entity =
                    definition
                        .source
                        .entity
                        .clone()
                        .ok_or_else(|| DynamicsError::Config {
                            problem: "source.entity is required with method: entity".to_owned(),
                        })?;
                (entity, None)
            }
            Method::MarketingList => {
                let wanted =
                    definition
                        .source
                        .list
                        .as_deref()
                        .ok_or_else(|| DynamicsError::Config {
                            problem: "source.list is required with method: marketing_list"
                                .to_owned(),
                        })?;
                let list = self.client.resolve_list(wanted).await?;
                if !matches!(list.member_type.as_str(), "account" | "contact" | "lead") {
                    return Err(DynamicsError::UnsupportedListMembers {
                        member_type: list.member_type,
                    });
                }
                let target = ListTarget {
                    id: list.id,
                    name: list.name,
                    dynamic: list.dynamic,
                    query: list.query,
                };
                (list.member_type, Some(target))
            }
        };
        let info = self.client.entity(&entity).await?;
        let mut label_fields: Vec<String> = definition
            .attributes
            .iter()
            .chain(definition.events.iter().flat_map(|e| e.params.iter()))
            .filter(|m| m.code_to_label)
            .map(|m| m.field.clone())
            .collect();
        label_fields.sort();
        label_fields.dedup();
        let labels = if label_fields.is_empty() {
            Default::default()
        } else {
            self.client.option_labels(&entity, &label_fields).await?
        };
        Ok(SourcePlan {
            entity,
            entity_set: info.entity_set,
            primary_id: info.primary_id,
            labels,
            list,
        })
    }

    /// [`DataSource::fetch_page`] with the typed error.
    pub async fn fetch_page_typed(
        &self,
        request: PageRequest<'_>,
    ) -> Result<SourcePage, DynamicsError> {
        let filter = request.integration.filter().map(|f| f.xml());
        let fetchxml = dynsync_fetchxml::page_query(&request, filter)?;
        let (page, throttles) = count_throttles(self.client.fetch(
            &request.plan.entity_set,
            &fetchxml,
            false,
        ))
        .await;
        let page = page?;
        let page_size = request.integration.definition().dynamics.page_size;
        let full = u32::try_from(page.records.len()).is_ok_and(|n| n >= page_size);
        let next_cursor = if full || page.more {
            page.records
                .last()
                .and_then(|r| primary_id(r, &request.plan.primary_id))
        } else {
            None
        };
        tracing::debug!(
            integration_id = request.integration.id(),
            partition = request.partition.index,
            records = page.records.len(),
            more = next_cursor.is_some(),
            throttles,
            "page fetched"
        );
        Ok(SourcePage {
            records: page.records,
            next_cursor,
            throttles,
        })
    }
}

fn primary_id(record: &Record, primary_id: &str) -> Option<String> {
    record
        .get(primary_id)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[async_trait]
impl DataSource for DataverseSource {
    async fn plan(&self, integration: &Integration) -> Result<SourcePlan, PortError> {
        self.plan_typed(integration)
            .await
            .map_err(|e| PortError::from_error(e.kind(), e))
    }

    async fn fetch_page(&self, request: PageRequest<'_>) -> Result<SourcePage, PortError> {
        self.fetch_page_typed(request)
            .await
            .map_err(|e| PortError::from_error(e.kind(), e))
    }
}

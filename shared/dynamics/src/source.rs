//! [`DataverseSource`]: Dataverse as the engine's [`DataSource`]. Planning resolves the
//! entity (or the marketing list and its member type), the entity set and primary id, and
//! the labels of every `code_to_label` field; a page is one keyset FetchXML query.
//!
//! Where an organization refuses `gt`/`le` on an entity's primary id, the source switches
//! that entity (once, remembered for the source's life, logged at warn) to the paging-cookie
//! fallback (ARCHITECTURE.md section 2): the same cursor becomes a synthesized cookie, and
//! the partition's `after`/`until`, which the query can no longer express, are enforced here
//! in SQL Server GUID order (records at or before the start dropped; records past the end
//! dropped and paging stops there), so a redelivered page refetches the same fixed range.
//!
//! Change tracking (fetch mode `changes`): [`DataSource::fetch_changes`] reads one change
//! page (`changes.rs`), then fetches the changed ids' records with the definition's fields
//! and record filter, so Dataverse evaluates the filter; changed ids it does not select are
//! `filtered_out`. An expired token is [`ChangesReply::TokenExpired`], not an error; a table
//! whose "Track changes" is off is refused at planning ([`DataverseSource::require_change_tracking`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use dynsync_domain::Integration;
use dynsync_domain::definition::Method;
use dynsync_domain::execution::{ListTarget, SourcePlan};
use dynsync_domain::ports::{
    ChangesPage, ChangesReply, ChangesRequest, DataSource, PageRequest, PortError, SourcePage,
};

use crate::changes::{ChangeTable, FetchedIds};
use crate::client::DataverseClient;
use crate::error::DynamicsError;

mod paged;

use paged::{Paged, cookie_page, keyset_page};

/// Reads an integration's records through a [`DataverseClient`].
#[derive(Debug, Clone)]
pub struct DataverseSource {
    client: DataverseClient,
    /// Entities (logical names) whose organization refused range conditions on the primary
    /// id: their pages use the paging-cookie fallback. Shared by clones.
    cookie_paged: Arc<Mutex<HashSet<String>>>,
}

impl DataverseSource {
    pub fn new(client: DataverseClient) -> Self {
        Self {
            client,
            cookie_paged: Arc::default(),
        }
    }

    /// Whether pages of `entity` use the paging-cookie fallback.
    pub fn uses_paging_cookie(&self, entity: &str) -> bool {
        self.cookie_paged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(entity)
    }

    /// Remembers the switch; true the first time for `entity`.
    fn switch_to_paging_cookie(&self, entity: &str) -> bool {
        self.cookie_paged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(entity.to_owned())
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
        // fetch_mode changes needs the table's "Track changes": refused before any page.
        if definition.method == Method::Entity
            && definition.source.fetch_mode() == dynsync_domain::definition::FetchMode::Changes
            && !info.change_tracking
        {
            return Err(DynamicsError::ChangeTrackingOff {
                entity: info.logical_name,
            });
        }
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

    /// Refuses `entity` when its "Track changes" setting (`ChangeTrackingEnabled`) is off,
    /// with [`DynamicsError::ChangeTrackingOff`] naming the setting; the planner calls it
    /// for a definition whose fetch mode is `changes`.
    pub async fn require_change_tracking(&self, entity: &str) -> Result<(), DynamicsError> {
        let info = self.client.entity(entity).await?;
        if info.change_tracking {
            Ok(())
        } else {
            Err(DynamicsError::ChangeTrackingOff {
                entity: info.logical_name,
            })
        }
    }

    /// [`DataSource::fetch_changes`] with the typed error.
    pub async fn fetch_changes_typed(
        &self,
        request: ChangesRequest<'_>,
    ) -> Result<ChangesReply, DynamicsError> {
        match self.changes(&request).await {
            Ok(page) => {
                tracing::debug!(
                    integration_id = request.integration.id(),
                    records = page.records.len(),
                    filtered_out = page.filtered_out.len(),
                    deleted = page.deleted.len(),
                    more = page.next_link.is_some(),
                    throttles = page.throttles,
                    "change page fetched"
                );
                Ok(ChangesReply::Page(page))
            }
            Err(DynamicsError::ChangeTokenExpired { message }) => {
                tracing::warn!(
                    integration_id = request.integration.id(),
                    entity = %request.plan.entity,
                    "Dataverse refused the change-tracking token ({message}); a full read is needed"
                );
                Ok(ChangesReply::TokenExpired(message))
            }
            Err(e) => Err(e),
        }
    }

    async fn changes(&self, request: &ChangesRequest<'_>) -> Result<ChangesPage, DynamicsError> {
        let plan = request.plan;
        if plan.list.is_some() {
            return Err(DynamicsError::Config {
                problem: "fetch_mode changes reads an entity (method: entity); a marketing list is read with list_mode".to_owned(),
            });
        }
        let definition = request.integration.definition();
        let table = ChangeTable {
            entity: &plan.entity,
            entity_set: &plan.entity_set,
            primary_id: &plan.primary_id,
        };
        let read = self
            .client
            .change_page(table, definition.dynamics.page_size, request.link)
            .await?;
        let fetched = if read.changed.is_empty() {
            FetchedIds::default()
        } else {
            let filter = request.integration.filter().map(|f| f.xml());
            self.client
                .fetch_ids(table, &definition.source.fields, filter, &read.changed)
                .await?
        };
        Ok(ChangesPage {
            records: fetched.records,
            filtered_out: fetched.missing,
            deleted: read.deleted,
            next_link: read.next_link,
            delta_link: read.delta_link,
            // The throttled replies of the change read and of its records' reads.
            throttles: read.throttles.saturating_add(fetched.throttles),
        })
    }

    /// [`DataSource::fetch_page`] with the typed error.
    pub async fn fetch_page_typed(
        &self,
        request: PageRequest<'_>,
    ) -> Result<SourcePage, DynamicsError> {
        let (page, cookie) = self.page(&request).await?;
        tracing::debug!(
            integration_id = request.integration.id(),
            partition = request.partition.index,
            records = page.records.len(),
            more = page.next_cursor.is_some(),
            paging = if cookie { "cookie" } else { "keyset" },
            throttles = page.throttles,
            "page fetched"
        );
        Ok(SourcePage {
            records: page.records,
            next_cursor: page.next_cursor,
            throttles: page.throttles,
        })
    }

    /// The page, keyset-paged unless the entity uses the paging-cookie fallback (or its
    /// organization refuses this keyset query); the flag says whether the cookie was used.
    async fn page(&self, request: &PageRequest<'_>) -> Result<(Paged, bool), DynamicsError> {
        let plan = request.plan;
        let filter = request.integration.filter().map(|f| f.xml());
        if !self.uses_paging_cookie(&plan.entity) {
            let fetchxml = dynsync_fetchxml::page_query(request, filter)?;
            match self.client.fetch(&plan.entity_set, &fetchxml, false).await {
                Ok(page) => return Ok((keyset_page(request, page)?, false)),
                Err(e) if e.refuses_primary_id_range(&plan.primary_id) => {
                    if self.switch_to_paging_cookie(&plan.entity) {
                        let partitions = request.integration.definition().dynamics.partitions;
                        tracing::warn!(
                            integration_id = request.integration.id(),
                            entity = %plan.entity,
                            partitions,
                            refusal = %e,
                            "Dataverse refuses range conditions on {}: paging {} with the paging cookie from now on. Partition bounds are then enforced client-side; more than one partition (dynamics.partitions) is slow in this mode, use 1",
                            plan.primary_id,
                            plan.entity,
                        );
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let fetchxml = dynsync_fetchxml::cookie_page_query(request, filter)?;
        let page = self
            .client
            .fetch(&plan.entity_set, &fetchxml, false)
            .await?;
        Ok((cookie_page(request, page)?, true))
    }
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

    async fn fetch_changes(&self, request: ChangesRequest<'_>) -> Result<ChangesReply, PortError> {
        self.fetch_changes_typed(request)
            .await
            .map_err(|e| PortError::from_error(e.kind(), e))
    }
}

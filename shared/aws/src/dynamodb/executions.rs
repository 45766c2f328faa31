//! Executions: creation with the plan and first pages in one transaction, reads, listings
//! through the KEYS_ONLY indexes, and the exactly-once finish that moves the watermark and
//! releases the run lock in the same transaction.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use dynsync_domain::execution::{Execution, ExecutionPlan, ExecutionStatus};
use dynsync_domain::ports::{Executions, Finish, PortError};

use super::DynamoDbStateStore;
use super::calls::TxOutcome;
use super::codec::{Reader, enum_name, execution_item, json_attr, read_execution};
use super::schema::*;
use crate::error::AwsError;

/// Actions per `TransactWriteItems`.
const TRANSACTION_LIMIT: usize = 100;

impl DynamoDbStateStore {
    pub(super) fn state_error(&self, detail: String) -> AwsError {
        AwsError::State {
            resource: self.resource.clone(),
            detail,
        }
    }

    pub(super) fn no_execution(&self, id: &str) -> AwsError {
        self.state_error(format!(
            "execution '{id}' does not exist in the state store"
        ))
    }

    /// A put of a new page-ledger item (only if absent).
    pub(super) fn new_page(
        &self,
        execution_id: &str,
        page_key: &str,
    ) -> Result<TransactWriteItem, AwsError> {
        let mut item = key(execution_pk(execution_id), page_sk(page_key));
        item.insert(BATCHES.to_owned(), AttributeValue::M(Item::new()));
        item.insert(TTL.to_owned(), ledger_expiry(self.clock.now()));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .build();
        Ok(TransactWriteItem::builder()
            .put(self.built("dynamodb:PutItem", put)?)
            .build())
    }

    pub(super) async fn execution_item(&self, id: &str) -> Result<Option<Item>, AwsError> {
        self.get_item(key(execution_pk(id), SK_EXECUTION), &[])
            .await
    }

    /// The executions whose keys an index query returned, in the query's order.
    async fn executions_of(&self, index_items: Vec<Item>) -> Result<Vec<Item>, AwsError> {
        let keys: Vec<Item> = index_items
            .iter()
            .filter_map(|i| {
                Some(Item::from([
                    (PK.to_owned(), i.get(PK)?.clone()),
                    (SK.to_owned(), i.get(SK)?.clone()),
                ]))
            })
            .collect();
        let mut by_pk: HashMap<String, Item> = HashMap::new();
        for item in self.batch_get(keys.clone()).await? {
            if let Some(AttributeValue::S(pk)) = item.get(PK) {
                by_pk.insert(pk.clone(), item);
            }
        }
        Ok(keys
            .iter()
            .filter_map(|k| match k.get(PK) {
                Some(AttributeValue::S(pk)) => by_pk.remove(pk),
                _ => None,
            })
            .collect())
    }
}

#[async_trait::async_trait]
impl Executions for DynamoDbStateStore {
    async fn create_execution(
        &self,
        execution: &Execution,
        plan: Option<&ExecutionPlan>,
        first_page_keys: &[String],
    ) -> Result<(), PortError> {
        let action = "dynamodb:PutItem";
        let running = execution.status == ExecutionStatus::Running;
        let mut keys: Vec<&String> = Vec::new();
        if running {
            for page in first_page_keys {
                if !keys.contains(&page) {
                    keys.push(page);
                }
            }
        }
        let item = execution_item(execution, &keys).map_err(|e| self.encode_error(action, e))?;
        let mut actions = vec![
            TransactWriteItem::builder()
                .put(
                    self.built(
                        action,
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(#pk)")
                            .expression_attribute_names("#pk", PK)
                            .build(),
                    )?,
                )
                .build(),
        ];
        if let Some(plan) = plan.filter(|_| running) {
            let mut item = key(execution_pk(&execution.id), SK_PLAN);
            item.insert(
                PLAN.to_owned(),
                json_attr(plan).map_err(|e| self.encode_error(action, e))?,
            );
            item.insert(TTL.to_owned(), ledger_expiry(self.clock.now()));
            actions.push(
                TransactWriteItem::builder()
                    .put(
                        self.built(
                            action,
                            Put::builder()
                                .table_name(&self.table)
                                .set_item(Some(item))
                                .build(),
                        )?,
                    )
                    .build(),
            );
        }
        for page in keys {
            actions.push(self.new_page(&execution.id, page)?);
        }
        // The execution and its plan are in the first transaction; with more than ~98
        // partitions the remaining pages follow in further transactions. A failure between
        // them leaves pages counted but never processed: the execution stalls and is failed
        // by stall detection, it never finishes with records missing.
        let mut rest = actions.split_off(actions.len().min(TRANSACTION_LIMIT));
        let mut first = true;
        while !actions.is_empty() {
            if let TxOutcome::Cancelled(reasons) = self.transact(actions).await? {
                let problem = if first && TxOutcome::failed(&reasons, 0) {
                    "already exists"
                } else {
                    "has pages registered already"
                };
                return Err(self
                    .state_error(format!("execution '{}' {problem}", execution.id))
                    .into());
            }
            first = false;
            actions = rest;
            rest = actions.split_off(actions.len().min(TRANSACTION_LIMIT));
        }
        Ok(())
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, PortError> {
        match self.execution_item(id).await? {
            Some(item) => Ok(Some(read_execution(&Reader::new(&item, &self.resource))?)),
            None => Ok(None),
        }
    }

    async fn get_plan(&self, execution_id: &str) -> Result<Option<ExecutionPlan>, PortError> {
        let Some(item) = self
            .get_item(key(execution_pk(execution_id), SK_PLAN), &[])
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Reader::new(&item, &self.resource).json(PLAN)?))
    }

    async fn list_executions(
        &self,
        integration_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Execution>, PortError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (index, partition, value) = match integration_id {
            Some(id) => (INDEX_BY_INTEGRATION, INTEGRATION_PK, id.to_owned()),
            None => (INDEX_BY_START, ALL_PK, ALL_EXECUTIONS.to_owned()),
        };
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", partition)
            .expression_attribute_values(":p", s(value))
            .scan_index_forward(false);
        let keys = self.query_all(query, Some(limit)).await?;
        Ok(self
            .executions_of(keys)
            .await?
            .iter()
            .map(|item| read_execution(&Reader::new(item, &self.resource)))
            .collect::<Result<_, AwsError>>()?)
    }

    async fn running_executions(&self) -> Result<Vec<(Execution, DateTime<Utc>)>, PortError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_RUNNING)
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", RUNNING_PK)
            .expression_attribute_values(":p", s(RUNNING));
        let keys = self.query_all(query, None).await?;
        let mut running = Vec::new();
        for item in self.executions_of(keys).await? {
            let reader = Reader::new(&item, &self.resource);
            let execution = read_execution(&reader)?;
            // The index lags the table a little on AWS.
            if execution.status == ExecutionStatus::Running {
                running.push((execution, reader.time(LAST_PROGRESS)?));
            }
        }
        Ok(running)
    }

    async fn finish_execution(
        &self,
        execution_id: &str,
        finish: &Finish,
    ) -> Result<bool, PortError> {
        if !finish.status.is_final() {
            return Ok(false);
        }
        let Some(item) = self.execution_item(execution_id).await? else {
            return Err(self.no_execution(execution_id).into());
        };
        let current = read_execution(&Reader::new(&item, &self.resource))?;
        if current.status.is_final() {
            return Ok(false);
        }
        let integration = integration_pk(&current.integration_id);
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(execution_pk(execution_id), SK_EXECUTION)))
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#finished", FINISHED_AT)
            .expression_attribute_names("#error", ERROR)
            .expression_attribute_names("#running", RUNNING_PK)
            .expression_attribute_values(":running", s(enum_name(&ExecutionStatus::Running)))
            .expression_attribute_values(":status", s(enum_name(&finish.status)))
            .expression_attribute_values(":finished", s(timestamp(finish.finished_at)));
        update = match &finish.error {
            Some(error) => update
                .update_expression(
                    "SET #status = :status, #finished = :finished, #error = :error REMOVE #running",
                )
                .expression_attribute_values(":error", s(error.clone())),
            None => update.update_expression(
                "SET #status = :status, #finished = :finished REMOVE #error, #running",
            ),
        };
        let mut actions = vec![Some(
            TransactWriteItem::builder()
                .update(self.built("dynamodb:UpdateItem", update.build())?)
                .build(),
        )];
        if let Some(mark) = finish
            .watermark
            .filter(|_| finish.status != ExecutionStatus::Failed)
        {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(integration.clone(), SK_WATERMARK)))
                .update_expression("SET #w = :w")
                .condition_expression("attribute_not_exists(#w) OR #w < :w")
                .expression_attribute_names("#w", WATERMARK)
                .expression_attribute_values(":w", s(timestamp(mark)))
                .build();
            actions.push(Some(
                TransactWriteItem::builder()
                    .update(self.built("dynamodb:UpdateItem", update)?)
                    .build(),
            ));
        }
        let staged = Reader::new(&item, &self.resource).opt_s(STAGED_TOKEN)?;
        if let Some(token) = staged.filter(|_| finish.status != ExecutionStatus::Failed) {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(Item::from([
                    (PK.to_owned(), s(integration.clone())),
                    (SK.to_owned(), s(SK_SYNC_TOKEN)),
                    (SYNC_TOKEN.to_owned(), s(token)),
                ])))
                .build();
            actions.push(Some(
                TransactWriteItem::builder()
                    .put(self.built("dynamodb:PutItem", put)?)
                    .build(),
            ));
        }
        let release = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(integration, SK_LOCK)))
            .condition_expression("#execution = :execution")
            .expression_attribute_names("#execution", EXECUTION_ID)
            .expression_attribute_values(":execution", s(execution_id))
            .build();
        actions.push(Some(
            TransactWriteItem::builder()
                .delete(self.built("dynamodb:DeleteItem", release)?)
                .build(),
        ));
        // A watermark already further on, or a lock not (or no longer) held by this
        // execution, fails its condition: those actions are dropped and the rest retried.
        for _ in 0..actions.len() {
            let attempt: Vec<TransactWriteItem> = actions.iter().flatten().cloned().collect();
            let positions: Vec<usize> = actions
                .iter()
                .enumerate()
                .filter(|(_, a)| a.is_some())
                .map(|(i, _)| i)
                .collect();
            let TxOutcome::Cancelled(reasons) = self.transact(attempt).await? else {
                return Ok(true);
            };
            if TxOutcome::failed(&reasons, 0) {
                return Ok(false);
            }
            for (slot, position) in positions.iter().enumerate() {
                if TxOutcome::failed(&reasons, slot)
                    && let Some(action) = actions.get_mut(*position)
                {
                    *action = None;
                }
            }
        }
        Err(self
            .exhausted(
                "dynamodb:TransactWriteItems",
                "finishing the execution kept conflicting",
            )
            .into())
    }
}

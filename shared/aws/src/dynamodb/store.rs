//! The `StateStore` port on DynamoDB: each method delegates to the item-level code of
//! `settings`, `executions` and `ledger` and turns its error into a `PortError`.

use chrono::{DateTime, Utc};
use dynsync_domain::Definition;
use dynsync_domain::execution::{Counters, Execution, ExecutionPlan, RecordFailure};
use dynsync_domain::ports::{
    BatchRecord, ClaimOutcome, Definitions, Executions, Finish, FixedPage, LockOutcome,
    LockRequest, PageClaim, PageLedger, PageRecord, PortError, RunLocks, SyncState,
};

use super::DynamoDbStateStore;

#[async_trait::async_trait]
impl Definitions for DynamoDbStateStore {
    async fn put_definition(&self, definition: &Definition) -> Result<(), PortError> {
        Ok(self.put_definition_item(definition).await?)
    }

    async fn get_definition(&self, id: &str) -> Result<Option<Definition>, PortError> {
        Ok(self.get_definition_item(id).await?)
    }

    async fn list_definitions(&self) -> Result<Vec<Definition>, PortError> {
        Ok(self.list_definition_items().await?)
    }

    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<bool, PortError> {
        Ok(self.set_enabled_flag(id, enabled).await?)
    }

    async fn last_slot(&self, integration_id: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        Ok(self.last_slot_item(integration_id).await?)
    }

    async fn claim_slot(
        &self,
        integration_id: &str,
        previous: Option<DateTime<Utc>>,
        slot: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        Ok(self.claim_slot_item(integration_id, previous, slot).await?)
    }
}

#[async_trait::async_trait]
impl RunLocks for DynamoDbStateStore {
    async fn acquire_lock(&self, request: &LockRequest) -> Result<LockOutcome, PortError> {
        Ok(self.acquire_lock_item(request).await?)
    }

    async fn lock_holder(
        &self,
        integration_id: &str,
    ) -> Result<Option<(String, String, DateTime<Utc>)>, PortError> {
        Ok(self.lock_holder_item(integration_id).await?)
    }

    async fn release_lock(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError> {
        Ok(self.release_lock_item(integration_id, execution_id).await?)
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
        Ok(self
            .create_execution_items(execution, plan, first_page_keys)
            .await?)
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, PortError> {
        Ok(self.get_execution_item(id).await?)
    }

    async fn get_plan(&self, execution_id: &str) -> Result<Option<ExecutionPlan>, PortError> {
        Ok(self.get_plan_item(execution_id).await?)
    }

    async fn list_executions(
        &self,
        integration_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Execution>, PortError> {
        Ok(self.list_execution_items(integration_id, limit).await?)
    }

    async fn running_executions(&self) -> Result<Vec<(Execution, DateTime<Utc>)>, PortError> {
        Ok(self.running_execution_items().await?)
    }

    async fn finish_execution(
        &self,
        execution_id: &str,
        finish: &Finish,
    ) -> Result<bool, PortError> {
        Ok(self.finish_execution_items(execution_id, finish).await?)
    }
}

#[async_trait::async_trait]
impl PageLedger for DynamoDbStateStore {
    async fn register_page(&self, execution_id: &str, page_key: &str) -> Result<bool, PortError> {
        Ok(self.register_page_item(execution_id, page_key).await?)
    }

    async fn page_ledger(
        &self,
        execution_id: &str,
        page_key: &str,
    ) -> Result<Option<PageRecord>, PortError> {
        Ok(self.page_ledger_item(execution_id, page_key).await?)
    }

    async fn fix_page(
        &self,
        execution_id: &str,
        page_key: &str,
        page: &FixedPage,
    ) -> Result<FixedPage, PortError> {
        Ok(self.fix_page_item(execution_id, page_key, page).await?)
    }

    async fn record_batch(
        &self,
        execution_id: &str,
        page_key: &str,
        batch: &BatchRecord,
    ) -> Result<(), PortError> {
        Ok(self
            .record_batch_item(execution_id, page_key, batch)
            .await?)
    }

    async fn claim_page(
        &self,
        execution_id: &str,
        page_key: &str,
        claim: &PageClaim,
    ) -> Result<ClaimOutcome, PortError> {
        Ok(self.claim_page_item(execution_id, page_key, claim).await?)
    }

    async fn release_page_claim(
        &self,
        execution_id: &str,
        page_key: &str,
        claimant: &str,
    ) -> Result<(), PortError> {
        Ok(self
            .release_page_claim_item(execution_id, page_key, claimant)
            .await?)
    }

    async fn complete_page(
        &self,
        execution_id: &str,
        page_key: &str,
        counters: &Counters,
        failures: &[RecordFailure],
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, PortError> {
        Ok(self
            .complete_page_items(execution_id, page_key, counters, failures, now)
            .await?)
    }
}

#[async_trait::async_trait]
impl SyncState for DynamoDbStateStore {
    async fn watermark(&self, integration_id: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        Ok(self.watermark_item(integration_id).await?)
    }

    async fn stage_sync_token(&self, execution_id: &str, token: &str) -> Result<(), PortError> {
        Ok(self.stage_sync_token_item(execution_id, token).await?)
    }

    async fn sync_token(&self, integration_id: &str) -> Result<Option<String>, PortError> {
        Ok(self.sync_token_item(integration_id).await?)
    }
}

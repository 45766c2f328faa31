//! The in-memory `Executions` port: records, plans, listings and the exactly-once finish.

use chrono::{DateTime, Utc};
use dynsync_domain::execution::{Execution, ExecutionPlan, ExecutionStatus};
use dynsync_domain::ports::{Executions, Finish, PageRecord, PortError};

use super::{MemoryStateStore, Row, no_execution, page_key};

#[async_trait::async_trait]
impl Executions for MemoryStateStore {
    async fn create_execution(
        &self,
        execution: &Execution,
        plan: Option<&ExecutionPlan>,
        first_page_keys: &[String],
    ) -> Result<(), PortError> {
        let mut inner = self.inner();
        if inner.executions.contains_key(&execution.id) {
            return Err(PortError::permanent(format!(
                "execution '{}' already exists",
                execution.id
            )));
        }
        let running = execution.status == ExecutionStatus::Running;
        let mut outstanding = 0;
        if running {
            for key in first_page_keys {
                if inner
                    .pages
                    .insert(page_key(&execution.id, key), PageRecord::default())
                    .is_none()
                {
                    outstanding += 1;
                }
            }
        }
        inner.sequence += 1;
        let sequence = inner.sequence;
        inner.executions.insert(
            execution.id.clone(),
            Row {
                execution: execution.clone(),
                plan: plan.filter(|_| running).cloned(),
                outstanding,
                last_progress: execution.started_at,
                sequence,
                staged_token: None,
            },
        );
        Ok(())
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, PortError> {
        Ok(self.inner().executions.get(id).map(|r| r.execution.clone()))
    }

    async fn get_plan(&self, execution_id: &str) -> Result<Option<ExecutionPlan>, PortError> {
        Ok(self
            .inner()
            .executions
            .get(execution_id)
            .and_then(|r| r.plan.clone()))
    }

    async fn list_executions(
        &self,
        integration_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Execution>, PortError> {
        let inner = self.inner();
        let mut rows: Vec<&Row> = inner
            .executions
            .values()
            .filter(|r| integration_id.is_none_or(|id| r.execution.integration_id == id))
            .collect();
        rows.sort_by(|a, b| {
            (b.execution.started_at, b.sequence).cmp(&(a.execution.started_at, a.sequence))
        });
        Ok(rows
            .into_iter()
            .take(limit)
            .map(|r| r.execution.clone())
            .collect())
    }

    async fn running_executions(&self) -> Result<Vec<(Execution, DateTime<Utc>)>, PortError> {
        let inner = self.inner();
        let mut running: Vec<&Row> = inner
            .executions
            .values()
            .filter(|r| r.execution.status == ExecutionStatus::Running)
            .collect();
        running.sort_by_key(|r| r.sequence);
        Ok(running
            .into_iter()
            .map(|r| (r.execution.clone(), r.last_progress))
            .collect())
    }

    async fn finish_execution(
        &self,
        execution_id: &str,
        finish: &Finish,
    ) -> Result<bool, PortError> {
        let mut inner = self.inner();
        let row = inner
            .executions
            .get_mut(execution_id)
            .ok_or_else(|| no_execution(execution_id))?;
        if row.execution.status.is_final() || !finish.status.is_final() {
            return Ok(false);
        }
        row.execution.status = finish.status;
        row.execution.finished_at = Some(finish.finished_at);
        row.execution.error = finish.error.clone();
        let integration_id = row.execution.integration_id.clone();
        let staged = row
            .staged_token
            .take()
            .filter(|_| finish.status != ExecutionStatus::Failed);
        if let Some(token) = staged {
            inner.sync_tokens.insert(integration_id.clone(), token);
        }
        if let Some(mark) = finish
            .watermark
            .filter(|_| finish.status != ExecutionStatus::Failed)
        {
            let current = inner
                .watermarks
                .entry(integration_id.clone())
                .or_insert(mark);
            *current = (*current).max(mark);
        }
        inner.release_lock(&integration_id, execution_id);
        Ok(true)
    }
}

//! An in-memory state store. One mutex guards everything, so each method is atomic just
//! as the SQLite transaction or DynamoDB conditional write of the other adapters is.
//! Lock expiry is judged by the clock it is given.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use dynsync_domain::Definition;
use dynsync_domain::execution::{
    Counters, Execution, ExecutionPlan, ExecutionStatus, RecordFailure, record_failures,
};
use dynsync_domain::ports::{
    BatchRecord, ClaimOutcome, Clock, Definitions, Executions, Finish, FixedPage, LockOutcome,
    LockRequest, PageClaim, PageLedger, PageRecord, PortError, RunLocks, SyncState, SystemClock,
};

/// Everything a state store keeps, in maps.
pub struct MemoryStateStore {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
}

#[derive(Default)]
struct Inner {
    definitions: BTreeMap<String, Definition>,
    slots: HashMap<String, DateTime<Utc>>,
    locks: HashMap<String, Lock>,
    executions: HashMap<String, Row>,
    /// Insertion counter: orders executions that started at the same instant.
    sequence: u64,
    pages: HashMap<(String, String), PageRecord>,
    /// Page claims by (execution, page).
    claims: HashMap<(String, String), PageClaim>,
    watermarks: HashMap<String, DateTime<Utc>>,
    sync_tokens: HashMap<String, String>,
}

impl Inner {
    /// Removes the integration's run lock if `execution_id` holds it.
    fn release_lock(&mut self, integration_id: &str, execution_id: &str) {
        if self
            .locks
            .get(integration_id)
            .is_some_and(|l| l.execution_id == execution_id)
        {
            self.locks.remove(integration_id);
        }
    }
}

struct Lock {
    execution_id: String,
    owner: String,
    expires_at: DateTime<Utc>,
}

struct Row {
    execution: Execution,
    plan: Option<ExecutionPlan>,
    outstanding: u64,
    last_progress: DateTime<Utc>,
    sequence: u64,
    staged_token: Option<String>,
}

impl Default for MemoryStateStore {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl MemoryStateStore {
    /// A store judging lock expiry by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            clock,
        }
    }

    /// Sets an integration's change-tracking token as a successful run would leave it
    /// (`run --dry-run` starts from the token of the state folder's last successful run).
    pub fn set_sync_token(&self, integration_id: &str, token: &str) {
        self.inner()
            .sync_tokens
            .insert(integration_id.to_owned(), token.to_owned());
    }

    /// Drops every page claim of an execution, returning how many there were: what a local
    /// resume does for the claims of the dead process (as `SqliteStateStore` does).
    pub fn release_page_claims(&self, execution_id: &str) -> usize {
        let mut inner = self.inner();
        let before = inner.claims.len();
        inner.claims.retain(|(id, _), _| id != execution_id);
        before - inner.claims.len()
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn no_execution(id: &str) -> PortError {
    PortError::permanent(format!(
        "execution '{id}' does not exist in the state store"
    ))
}

fn not_registered(execution_id: &str, page_key: &str) -> PortError {
    PortError::permanent(format!(
        "page '{page_key}' of execution '{execution_id}' was never registered"
    ))
}

fn page_key(execution_id: &str, page_key: &str) -> (String, String) {
    (execution_id.to_owned(), page_key.to_owned())
}

#[async_trait::async_trait]
impl Definitions for MemoryStateStore {
    async fn put_definition(&self, definition: &Definition) -> Result<(), PortError> {
        self.inner()
            .definitions
            .insert(definition.id.clone(), definition.clone());
        Ok(())
    }

    async fn get_definition(&self, id: &str) -> Result<Option<Definition>, PortError> {
        Ok(self.inner().definitions.get(id).cloned())
    }

    async fn list_definitions(&self) -> Result<Vec<Definition>, PortError> {
        Ok(self.inner().definitions.values().cloned().collect())
    }

    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<bool, PortError> {
        Ok(match self.inner().definitions.get_mut(id) {
            Some(definition) => {
                definition.enabled = enabled;
                true
            }
            None => false,
        })
    }

    async fn last_slot(&self, integration_id: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        Ok(self.inner().slots.get(integration_id).copied())
    }

    async fn claim_slot(
        &self,
        integration_id: &str,
        previous: Option<DateTime<Utc>>,
        slot: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        let mut inner = self.inner();
        let current = inner.slots.get(integration_id).copied();
        if current != previous || current.is_some_and(|c| slot <= c) {
            return Ok(false);
        }
        inner.slots.insert(integration_id.to_owned(), slot);
        Ok(true)
    }
}

#[async_trait::async_trait]
impl RunLocks for MemoryStateStore {
    async fn acquire_lock(&self, request: &LockRequest) -> Result<LockOutcome, PortError> {
        let now = self.clock.now();
        let mut inner = self.inner();
        if let Some(lock) = inner.locks.get(&request.integration_id)
            && lock.execution_id != request.execution_id
            && lock.expires_at > now
        {
            return Ok(LockOutcome::HeldBy {
                execution_id: lock.execution_id.clone(),
            });
        }
        inner.locks.insert(
            request.integration_id.clone(),
            Lock {
                execution_id: request.execution_id.clone(),
                owner: request.owner.clone(),
                expires_at: request.expires_at,
            },
        );
        Ok(LockOutcome::Acquired)
    }

    async fn lock_holder(
        &self,
        integration_id: &str,
    ) -> Result<Option<(String, String, DateTime<Utc>)>, PortError> {
        Ok(self
            .inner()
            .locks
            .get(integration_id)
            .map(|l| (l.execution_id.clone(), l.owner.clone(), l.expires_at)))
    }

    async fn release_lock(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError> {
        self.inner().release_lock(integration_id, execution_id);
        Ok(())
    }
}

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

#[async_trait::async_trait]
impl PageLedger for MemoryStateStore {
    async fn register_page(&self, execution_id: &str, page_key_: &str) -> Result<bool, PortError> {
        let mut inner = self.inner();
        let key = page_key(execution_id, page_key_);
        if inner.pages.contains_key(&key) {
            return Ok(false);
        }
        let row = inner
            .executions
            .get_mut(execution_id)
            .ok_or_else(|| no_execution(execution_id))?;
        row.outstanding += 1;
        inner.pages.insert(key, PageRecord::default());
        Ok(true)
    }

    async fn page_ledger(
        &self,
        execution_id: &str,
        page_key_: &str,
    ) -> Result<Option<PageRecord>, PortError> {
        let inner = self.inner();
        let outstanding = inner
            .executions
            .get(execution_id)
            .map_or(0, |row| row.outstanding);
        Ok(inner
            .pages
            .get(&page_key(execution_id, page_key_))
            .map(|ledger| PageRecord {
                outstanding,
                ..ledger.clone()
            }))
    }

    async fn fix_page(
        &self,
        execution_id: &str,
        page_key_: &str,
        page: &FixedPage,
    ) -> Result<FixedPage, PortError> {
        let mut inner = self.inner();
        let ledger = inner
            .pages
            .get_mut(&page_key(execution_id, page_key_))
            .ok_or_else(|| not_registered(execution_id, page_key_))?;
        Ok(ledger.fixed.get_or_insert_with(|| page.clone()).clone())
    }

    async fn record_batch(
        &self,
        execution_id: &str,
        page_key_: &str,
        batch: &BatchRecord,
    ) -> Result<(), PortError> {
        let mut inner = self.inner();
        let ledger = inner
            .pages
            .get_mut(&page_key(execution_id, page_key_))
            .ok_or_else(|| not_registered(execution_id, page_key_))?;
        ledger.batches.retain(|b| b.index != batch.index);
        ledger.batches.push(batch.clone());
        ledger.batches.sort_by_key(|b| b.index);
        Ok(())
    }

    async fn claim_page(
        &self,
        execution_id: &str,
        page_key_: &str,
        claim: &PageClaim,
    ) -> Result<ClaimOutcome, PortError> {
        let now = self.clock.now();
        let mut inner = self.inner();
        let key = page_key(execution_id, page_key_);
        let ledger = inner
            .pages
            .get(&key)
            .ok_or_else(|| not_registered(execution_id, page_key_))?;
        let (fixed, batches) = (ledger.fixed.clone(), ledger.batches.clone());
        if let Some(held) = inner.claims.get(&key)
            && held.claimant != claim.claimant
            && held.until > now
        {
            return Ok(ClaimOutcome::HeldBy {
                claimant: held.claimant.clone(),
                until: held.until,
            });
        }
        inner.claims.insert(key, claim.clone());
        Ok(ClaimOutcome::Acquired { fixed, batches })
    }

    async fn release_page_claim(
        &self,
        execution_id: &str,
        page_key_: &str,
        claimant: &str,
    ) -> Result<(), PortError> {
        let mut inner = self.inner();
        let key = page_key(execution_id, page_key_);
        if inner
            .claims
            .get(&key)
            .is_some_and(|held| held.claimant == claimant)
        {
            inner.claims.remove(&key);
        }
        Ok(())
    }

    async fn complete_page(
        &self,
        execution_id: &str,
        page_key_: &str,
        counters: &Counters,
        failures: &[RecordFailure],
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, PortError> {
        let mut inner = self.inner();
        if !inner.executions.contains_key(execution_id) {
            return Err(no_execution(execution_id));
        }
        let ledger = inner
            .pages
            .get_mut(&page_key(execution_id, page_key_))
            .ok_or_else(|| not_registered(execution_id, page_key_))?;
        if ledger.done {
            return Ok(None);
        }
        ledger.done = true;
        let row = inner
            .executions
            .get_mut(execution_id)
            .ok_or_else(|| no_execution(execution_id))?;
        row.execution.counters.add(counters);
        record_failures(&mut row.execution.failures, failures.iter().cloned());
        row.outstanding = row.outstanding.saturating_sub(1);
        row.last_progress = row.last_progress.max(now);
        Ok(Some(row.outstanding))
    }
}

#[async_trait::async_trait]
impl SyncState for MemoryStateStore {
    async fn watermark(&self, integration_id: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        Ok(self.inner().watermarks.get(integration_id).copied())
    }

    async fn stage_sync_token(&self, execution_id: &str, token: &str) -> Result<(), PortError> {
        let mut inner = self.inner();
        let row = inner
            .executions
            .get_mut(execution_id)
            .ok_or_else(|| no_execution(execution_id))?;
        if row.execution.status.is_final() {
            return Err(PortError::permanent(format!(
                "execution {execution_id} has ended; its sync token can no longer change"
            )));
        }
        row.staged_token = Some(token.to_owned());
        Ok(())
    }

    async fn sync_token(&self, integration_id: &str) -> Result<Option<String>, PortError> {
        Ok(self.inner().sync_tokens.get(integration_id).cloned())
    }
}

//! An in-memory state store. One mutex guards everything, so each method is atomic just
//! as the SQLite transaction or DynamoDB conditional write of the other adapters is.
//! Lock expiry is judged by the clock it is given. Here: the maps and the `Definitions`,
//! `RunLocks` and `SyncState` ports; `Executions` in `state/executions.rs`, `PageLedger` in
//! `state/ledger.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use dynsync_domain::Definition;
use dynsync_domain::execution::{Execution, ExecutionPlan};
mod executions;
mod ledger;

use dynsync_domain::ports::{
    Clock, Definitions, LockOutcome, LockRequest, PageClaim, PageRecord, PortError, RunLocks,
    SyncState, SystemClock,
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

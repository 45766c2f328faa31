//! `SqliteStateStore`: the `StateStore` port on the state folder's SQLite file, for
//! `dynsync run`. Definitions live here; slots and run locks in `state/locks.rs`,
//! executions (with watermarks) in `state/executions.rs`, the page ledger in
//! `state/ledger.rs`. Each port method is one transaction, so two processes sharing a
//! state folder race safely.

mod executions;
mod ledger;
mod locks;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dynsync_domain::Definition;
use dynsync_domain::execution::{Counters, Execution, ExecutionPlan, RecordFailure};
use dynsync_domain::ports::{
    BatchRecord, ClaimOutcome, Clock, Definitions, Executions, Finish, FixedPage, LockOutcome,
    LockRequest, PageClaim, PageLedger, PageRecord, PortError, RunLocks, SyncState, SystemClock,
};
use rusqlite::{OptionalExtension, params};

use crate::db::Db;
use crate::error::LocalError;

/// The local state store: `<state dir>/state.db`.
#[derive(Clone)]
pub struct SqliteStateStore {
    db: Db,
    /// Decides whether a run lock has expired and stamps progress.
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStateStore")
            .field("path", &self.db.path())
            .finish_non_exhaustive()
    }
}

impl SqliteStateStore {
    /// Opens `<dir>/state.db`, creating the folder and the database when missing and
    /// migrating an older schema.
    pub fn open(dir: &Path) -> Result<Self, LocalError> {
        Ok(Self {
            db: Db::open(dir)?,
            clock: Arc::new(SystemClock),
        })
    }

    /// The same store judging lock expiry (and stamping progress) by `clock`.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// The newest `running` execution of an integration: what a local run resumes when the
    /// process that started it is gone (see [`crate::owner`]).
    pub async fn running_execution_of(
        &self,
        integration_id: &str,
    ) -> Result<Option<Execution>, LocalError> {
        let integration_id = integration_id.to_owned();
        self.db
            .call(move |conn| executions::running_of(conn, &integration_id))
            .await
    }

    /// The unfinished execution a new local run of the integration should resume: its
    /// newest `running` execution, unless a live process still holds that execution's run
    /// lock. A lock whose owner tag names a process of this host that is gone, or that has
    /// expired, does not count (ARCHITECTURE.md section 8, "Local resume"). The caller then
    /// takes the lock for the same execution id, which succeeds.
    pub async fn resumable_execution(
        &self,
        integration_id: &str,
    ) -> Result<Option<Execution>, LocalError> {
        let integration_id = integration_id.to_owned();
        let now = self.clock.now();
        self.db
            .call(move |conn| {
                let Some(execution) = executions::running_of(conn, &integration_id)? else {
                    return Ok(None);
                };
                let held_by_a_live_run = match locks::read_lock(conn, &integration_id)? {
                    None => false,
                    Some((holder, owner, expires_at)) => {
                        holder != execution.id
                            || (expires_at > now && !crate::owner::owner_is_gone(&owner))
                    }
                };
                Ok((!held_by_a_live_run).then_some(execution))
            })
            .await
    }

    /// Drops every page claim of an execution, returning how many there were. A local
    /// resume calls this after making sure the process that ran the execution is gone: its
    /// claims would otherwise hold the pages until they lapse.
    pub async fn release_page_claims(&self, execution_id: &str) -> Result<usize, LocalError> {
        let execution_id = execution_id.to_owned();
        self.db
            .write("releasing page claims", move |tx| {
                ledger::release_all_claims(tx, &execution_id)
            })
            .await
    }

    /// Keys of the registered pages of an execution that are not done yet, in key order:
    /// the work a resumed execution still has.
    pub async fn pending_pages(&self, execution_id: &str) -> Result<Vec<String>, LocalError> {
        let execution_id = execution_id.to_owned();
        self.db
            .call(move |conn| ledger::pending_pages(conn, &execution_id))
            .await
    }
}

fn definition_from_json(json: &str) -> Result<Definition, LocalError> {
    serde_json::from_str(json).map_err(|e| LocalError::corrupt("definition")(Box::new(e)))
}

#[async_trait::async_trait]
impl Definitions for SqliteStateStore {
    async fn put_definition(&self, definition: &Definition) -> Result<(), PortError> {
        let json = serde_json::to_string(definition).map_err(|source| LocalError::Encode {
            what: "a definition",
            source,
        })?;
        let id = definition.id.clone();
        let op = "storing a definition";
        self.db
            .write(op, move |tx| {
                tx.execute(
                    "INSERT INTO definitions (id, json) VALUES (?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET json = excluded.json",
                    params![id, json],
                )
                .map_err(LocalError::sqlite(op))?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn get_definition(&self, id: &str) -> Result<Option<Definition>, PortError> {
        let id = id.to_owned();
        let op = "reading a definition";
        let json: Option<String> = self
            .db
            .call(move |conn| {
                conn.query_row("SELECT json FROM definitions WHERE id = ?1", [id], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(LocalError::sqlite(op))
            })
            .await?;
        Ok(json.as_deref().map(definition_from_json).transpose()?)
    }

    async fn list_definitions(&self) -> Result<Vec<Definition>, PortError> {
        let op = "listing definitions";
        let rows: Vec<String> = self
            .db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare("SELECT json FROM definitions ORDER BY id")
                    .map_err(LocalError::sqlite(op))?;
                let rows = stmt
                    .query_map([], |row| row.get(0))
                    .and_then(Iterator::collect)
                    .map_err(LocalError::sqlite(op))?;
                Ok(rows)
            })
            .await?;
        Ok(rows
            .iter()
            .map(|json| definition_from_json(json))
            .collect::<Result<_, _>>()?)
    }

    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<bool, PortError> {
        let id = id.to_owned();
        let op = "pausing or resuming a definition";
        let found = self
            .db
            .write(op, move |tx| {
                let json: Option<String> = tx
                    .query_row("SELECT json FROM definitions WHERE id = ?1", [&id], |row| {
                        row.get(0)
                    })
                    .optional()
                    .map_err(LocalError::sqlite(op))?;
                let Some(json) = json else {
                    return Ok(false);
                };
                let mut definition = definition_from_json(&json)?;
                definition.enabled = enabled;
                let json =
                    serde_json::to_string(&definition).map_err(|source| LocalError::Encode {
                        what: "a definition",
                        source,
                    })?;
                tx.execute(
                    "UPDATE definitions SET json = ?2 WHERE id = ?1",
                    params![id, json],
                )
                .map_err(LocalError::sqlite(op))?;
                Ok(true)
            })
            .await?;
        Ok(found)
    }

    async fn last_slot(&self, integration_id: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        let integration_id = integration_id.to_owned();
        let op = "reading the last schedule slot";
        Ok(self
            .db
            .call(move |conn| locks::read_time(conn, op, "slots", "slot", &integration_id))
            .await?)
    }

    async fn claim_slot(
        &self,
        integration_id: &str,
        previous: Option<DateTime<Utc>>,
        slot: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        let integration_id = integration_id.to_owned();
        Ok(self
            .db
            .write("claiming a schedule slot", move |tx| {
                locks::claim_slot(tx, &integration_id, previous, slot)
            })
            .await?)
    }
}

#[async_trait::async_trait]
impl RunLocks for SqliteStateStore {
    async fn acquire_lock(&self, request: &LockRequest) -> Result<LockOutcome, PortError> {
        let request = request.clone();
        let now = self.clock.now();
        Ok(self
            .db
            .write("taking a run lock", move |tx| {
                locks::acquire(tx, &request, now)
            })
            .await?)
    }

    async fn lock_holder(
        &self,
        integration_id: &str,
    ) -> Result<Option<(String, String, DateTime<Utc>)>, PortError> {
        let integration_id = integration_id.to_owned();
        Ok(self
            .db
            .call(move |conn| locks::read_lock(conn, &integration_id))
            .await?)
    }

    async fn release_lock(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError> {
        let (integration_id, execution_id) = (integration_id.to_owned(), execution_id.to_owned());
        let op = "releasing a run lock";
        self.db
            .write(op, move |tx| {
                locks::release(tx, &integration_id, &execution_id)
            })
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Executions for SqliteStateStore {
    async fn create_execution(
        &self,
        execution: &Execution,
        plan: Option<&ExecutionPlan>,
        first_page_keys: &[String],
    ) -> Result<(), PortError> {
        let new = executions::NewExecution::encode(execution, plan, first_page_keys)?;
        self.db
            .write("recording an execution", move |tx| new.insert(tx))
            .await?;
        Ok(())
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, PortError> {
        let id = id.to_owned();
        Ok(self
            .db
            .call(move |conn| executions::get(conn, &id).map(|row| row.map(|row| row.execution)))
            .await?)
    }

    async fn get_plan(&self, execution_id: &str) -> Result<Option<ExecutionPlan>, PortError> {
        let id = execution_id.to_owned();
        Ok(self
            .db
            .call(move |conn| executions::plan(conn, &id))
            .await?)
    }

    async fn list_executions(
        &self,
        integration_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Execution>, PortError> {
        let integration_id = integration_id.map(str::to_owned);
        Ok(self
            .db
            .call(move |conn| executions::list(conn, integration_id.as_deref(), limit))
            .await?)
    }

    async fn running_executions(&self) -> Result<Vec<(Execution, DateTime<Utc>)>, PortError> {
        Ok(self.db.call(executions::running).await?)
    }

    async fn finish_execution(
        &self,
        execution_id: &str,
        finish: &Finish,
    ) -> Result<bool, PortError> {
        let (id, finish) = (execution_id.to_owned(), finish.clone());
        Ok(self
            .db
            .write("finishing an execution", move |tx| {
                executions::finish(tx, &id, &finish)
            })
            .await?)
    }
}

#[async_trait::async_trait]
impl PageLedger for SqliteStateStore {
    async fn register_page(&self, execution_id: &str, page_key: &str) -> Result<bool, PortError> {
        let (id, key) = (execution_id.to_owned(), page_key.to_owned());
        let now = self.clock.now();
        Ok(self
            .db
            .write("registering a page", move |tx| {
                ledger::register_page(tx, &id, &key, now)
            })
            .await?)
    }

    async fn page_ledger(
        &self,
        execution_id: &str,
        page_key: &str,
    ) -> Result<Option<PageRecord>, PortError> {
        let (id, key) = (execution_id.to_owned(), page_key.to_owned());
        Ok(self
            .db
            .call(move |conn| ledger::page_ledger(conn, &id, &key))
            .await?)
    }

    async fn fix_page(
        &self,
        execution_id: &str,
        page_key: &str,
        page: &FixedPage,
    ) -> Result<FixedPage, PortError> {
        let (id, key, page) = (execution_id.to_owned(), page_key.to_owned(), page.clone());
        Ok(self
            .db
            .write("fixing a page", move |tx| {
                ledger::fix_page(tx, &id, &key, &page)
            })
            .await?)
    }

    async fn record_batch(
        &self,
        execution_id: &str,
        page_key: &str,
        batch: &BatchRecord,
    ) -> Result<(), PortError> {
        let (id, key, batch) = (execution_id.to_owned(), page_key.to_owned(), batch.clone());
        let now = self.clock.now();
        self.db
            .write("recording a sent batch", move |tx| {
                ledger::record_batch(tx, &id, &key, batch, now)
            })
            .await?;
        Ok(())
    }

    async fn claim_page(
        &self,
        execution_id: &str,
        page_key: &str,
        claim: &PageClaim,
    ) -> Result<ClaimOutcome, PortError> {
        let (id, key, claim) = (execution_id.to_owned(), page_key.to_owned(), claim.clone());
        let now = self.clock.now();
        Ok(self
            .db
            .write("claiming a page", move |tx| {
                ledger::claim_page(tx, &id, &key, &claim, now)
            })
            .await?)
    }

    async fn release_page_claim(
        &self,
        execution_id: &str,
        page_key: &str,
        claimant: &str,
    ) -> Result<(), PortError> {
        let (id, key, claimant) = (
            execution_id.to_owned(),
            page_key.to_owned(),
            claimant.to_owned(),
        );
        self.db
            .write("releasing a page claim", move |tx| {
                ledger::release_page_claim(tx, &id, &key, &claimant)
            })
            .await?;
        Ok(())
    }

    async fn complete_page(
        &self,
        execution_id: &str,
        page_key: &str,
        counters: &Counters,
        failures: &[RecordFailure],
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, PortError> {
        let (id, key) = (execution_id.to_owned(), page_key.to_owned());
        let (counters, failures) = (*counters, failures.to_vec());
        Ok(self
            .db
            .write("completing a page", move |tx| {
                ledger::complete_page(tx, &id, &key, &counters, failures, now)
            })
            .await?)
    }
}

#[async_trait::async_trait]
impl SyncState for SqliteStateStore {
    async fn watermark(&self, integration_id: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        let integration_id = integration_id.to_owned();
        let op = "reading a watermark";
        Ok(self
            .db
            .call(move |conn| {
                locks::read_time(conn, op, "watermarks", "watermark", &integration_id)
            })
            .await?)
    }

    async fn stage_sync_token(&self, execution_id: &str, token: &str) -> Result<(), PortError> {
        let (id, token) = (execution_id.to_owned(), token.to_owned());
        Ok(self
            .db
            .write("staging a sync token", move |tx| {
                executions::stage_sync_token(tx, &id, &token)
            })
            .await?)
    }

    async fn sync_token(&self, integration_id: &str) -> Result<Option<String>, PortError> {
        let integration_id = integration_id.to_owned();
        Ok(self
            .db
            .call(move |conn| executions::sync_token(conn, &integration_id))
            .await?)
    }
}

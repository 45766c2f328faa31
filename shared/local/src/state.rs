//! `SqliteStateStore`: the state ports on the state folder's SQLite file, for
//! `dynsync run`, each implemented in its own file: `Definitions` (definitions and
//! schedule slots) in `state/definitions.rs`, `RunLocks` in `state/locks.rs`, `Executions`
//! in `state/executions.rs`, `PageLedger` in `state/ledger.rs` (its rows in
//! `state/pages.rs`), `SyncState` in `state/sync.rs`. Here: opening the store and what only
//! a local run asks (the execution to resume, its pending pages). Each port method is one
//! transaction, so two processes sharing a state folder race safely.

mod definitions;
mod executions;
mod ledger;
mod locks;
mod pages;
mod sync;

use std::path::Path;
use std::sync::Arc;

use dynsync_domain::execution::Execution;
use dynsync_domain::ports::{Clock, SystemClock};

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

//! The local stack behind `dynsync run` and `dynsync executions`: the SQLite state store and
//! page queue in the state folder, the env/file secret store, and the engine over them, so
//! a local run executes the very code the Lambdas do with embedded adapters.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dynsync_domain::execution::{Execution, ExecutionStatus};
use dynsync_domain::ports::{Connectors, PageQueue, StateStore, SystemClock};
use dynsync_engine::{Engine, EngineConfig};
use dynsync_local::{SqliteMemberSets, SqliteQueue, SqliteStateStore};

use crate::context::Failure;

/// A page task invisible for this long after a receive comes back to another worker; a
/// local page is processed well within it, and a crashed run's tasks are made visible at
/// once on resume.
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(120);

/// The state folder's store.
pub struct LocalState {
    dir: PathBuf,
    pub state: Arc<SqliteStateStore>,
    /// The member sets of `list_mode: changes` lists, in the same database.
    pub members: Arc<SqliteMemberSets>,
}

impl LocalState {
    /// Opens (creating when needed) `<dir>/state.db`.
    pub fn open(dir: &Path) -> Result<Self, Failure> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::Input(format!(
                "cannot create the state folder {}: {e}",
                dir.display()
            ))
        })?;
        let state = SqliteStateStore::open(dir).map_err(|e| {
            Failure::Remote(format!(
                "cannot open the local state in {}: {e}",
                dir.display()
            ))
        })?;
        let members = SqliteMemberSets::open(dir).map_err(|e| {
            Failure::Remote(format!(
                "cannot open the local state in {}: {e}",
                dir.display()
            ))
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            state: Arc::new(state),
            members: Arc::new(members),
        })
    }

    /// The page queue of one integration: each has its own, so two integrations can run at
    /// once in one folder and a resume requeues only its own pages.
    pub fn queue(&self, integration_id: &str) -> Result<Arc<SqliteQueue>, Failure> {
        let queue = SqliteQueue::open(&self.dir).map_err(|e| {
            Failure::Remote(format!(
                "cannot open the local queue in {}: {e}",
                self.dir.display()
            ))
        })?;
        Ok(Arc::new(
            queue
                .named(integration_id)
                .with_visibility_timeout(VISIBILITY_TIMEOUT),
        ))
    }

    /// The engine over this state and `queue`, with `connectors` to Dataverse and Insider.
    pub fn engine(
        &self,
        queue: Arc<dyn PageQueue>,
        connectors: Arc<dyn Connectors>,
        config: EngineConfig,
    ) -> Arc<Engine> {
        let state: Arc<dyn StateStore> = self.state.clone();
        Arc::new(
            Engine::new(state, queue, connectors, Arc::new(SystemClock), config)
                .with_members(self.members.clone()),
        )
    }
}

/// The contract's exit code for an execution as it ended.
pub fn exit_code_of(execution: &Execution) -> u8 {
    match execution.status {
        ExecutionStatus::Succeeded => 0,
        ExecutionStatus::CompletedWithFailures => 3,
        ExecutionStatus::Failed | ExecutionStatus::Running => 1,
    }
}

//! The local stack behind `dynsync run` and `dynsync executions`: the SQLite state store and
//! page queue in the state folder, the env/file secret store, and the engine over them, so
//! a local run executes the very code the Lambdas do with embedded adapters.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dynsync_domain::execution::{Execution, ExecutionStatus};
use dynsync_domain::ports::{Connectors, PageQueue, StateStore, SystemClock};
use dynsync_engine::{Engine, EngineConfig};
use dynsync_local::{SqliteQueue, SqliteStateStore};

use crate::context::Failure;

/// A page task invisible for this long after a receive comes back to another worker; a
/// local page is processed well within it, and a crashed run's tasks are made visible at
/// once on resume.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(120);

/// The state folder's store and queue.
pub struct LocalState {
    pub state: Arc<SqliteStateStore>,
    pub queue: Arc<SqliteQueue>,
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
        let queue = SqliteQueue::open(dir)
            .map_err(|e| {
                Failure::Remote(format!(
                    "cannot open the local queue in {}: {e}",
                    dir.display()
                ))
            })?
            .with_visibility_timeout(VISIBILITY_TIMEOUT);
        Ok(Self {
            state: Arc::new(state),
            queue: Arc::new(queue),
        })
    }

    /// The engine over this state, with `connectors` to Dataverse and Insider.
    pub fn engine(&self, connectors: Arc<dyn Connectors>, config: EngineConfig) -> Arc<Engine> {
        let state: Arc<dyn StateStore> = self.state.clone();
        let queue: Arc<dyn PageQueue> = self.queue.clone();
        Arc::new(Engine::new(
            state,
            queue,
            connectors,
            Arc::new(SystemClock),
            config,
        ))
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

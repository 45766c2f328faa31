//! The engine on the state folder, for the CLI's local runs (`dynsync run`, `executions`):
//! the SQLite state store and member sets in `<dir>/state.db`, one SQLite page queue per
//! integration, and the engine over them with the connectors the caller chooses (live, or
//! the dry run's payload file), so a local run executes the very code the Lambdas do with
//! embedded adapters.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dynsync_domain::ports::{Connectors, PageQueue, StateStore, SystemClock};
use dynsync_engine::{Engine, EngineConfig};
use dynsync_local::{SqliteMemberSets, SqliteQueue, SqliteStateStore};

/// A page task invisible for this long after a receive comes back to another worker; a
/// local page is processed well within it, and a crashed run's tasks are made visible at
/// once on resume.
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the state folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LocalStateError {
    /// The folder cannot be created: the path is wrong (the user's input).
    #[error("cannot create the state folder {}: {source}", .dir.display())]
    Folder {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// The folder's database cannot be opened.
    #[error("cannot open the local {what} in {}: {source}", .dir.display())]
    Open {
        what: &'static str,
        dir: PathBuf,
        source: Box<dynsync_local::LocalError>,
    },
}

/// The state folder's stores.
pub struct LocalState {
    dir: PathBuf,
    pub state: Arc<SqliteStateStore>,
    /// The member sets of `list_mode: changes` lists, in the same database.
    pub members: Arc<SqliteMemberSets>,
}

impl LocalState {
    /// Opens (creating when needed) `<dir>/state.db`.
    pub fn open(dir: &Path) -> Result<Self, LocalStateError> {
        std::fs::create_dir_all(dir).map_err(|source| LocalStateError::Folder {
            dir: dir.to_owned(),
            source,
        })?;
        let open = |source| LocalStateError::Open {
            what: "state",
            dir: dir.to_owned(),
            source: Box::new(source),
        };
        let state = SqliteStateStore::open(dir).map_err(open)?;
        let members = SqliteMemberSets::open(dir).map_err(open)?;
        Ok(Self {
            dir: dir.to_owned(),
            state: Arc::new(state),
            members: Arc::new(members),
        })
    }

    /// The page queue of one integration: each has its own, so two integrations can run at
    /// once in one folder and a resume requeues only its own pages.
    pub fn queue(&self, integration_id: &str) -> Result<Arc<SqliteQueue>, LocalStateError> {
        let queue = SqliteQueue::open(&self.dir).map_err(|source| LocalStateError::Open {
            what: "queue",
            dir: self.dir.clone(),
            source: Box::new(source),
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

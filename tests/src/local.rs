//! The engine run in-process the way `dynsync run` runs it, minus the CLI: the SQLite state
//! store and page queue in a folder, the live Dataverse and Insider connectors, and the
//! local worker pool ([`run_until_finished`]). Tests use it to put a wrapper between the
//! engine and the queue (duplicated deliveries); the benchmark uses it to time a full sync.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use dynsync_domain::Integration;
use dynsync_domain::execution::{Execution, Trigger};
use dynsync_domain::ports::{Definitions, PageQueue, SyncState};
use dynsync_engine::memory::MemorySecretStore;
use dynsync_engine::{EngineConfig, OnProgress, StartOutcome, run_until_finished};
use dynsync_local::{SqliteQueue, SqliteStateStore, local_owner_tag};
use dynsync_wiring::{LiveConnectors, LocalState};

use crate::stack::{DYNAMICS_SECRET, INSIDER_SECRET};

/// How one in-process run is set up.
pub struct LocalRun<'a> {
    /// The state folder (created when missing).
    pub state_dir: &'a Path,
    /// The definition's YAML.
    pub definition: &'a str,
    /// Page tasks processed at once.
    pub concurrency: usize,
    /// Subtracted from the start time for an incremental window's end.
    pub safety_lag: Duration,
    /// Called after every page task processed.
    pub on_progress: OnProgress,
}

/// Runs one execution to its end through `queue_of(the folder's SQLite queue)`; the engine
/// sends to and the workers receive from what `queue_of` returns.
pub async fn run_local(
    run: LocalRun<'_>,
    queue_of: impl FnOnce(Arc<SqliteQueue>) -> Arc<dyn PageQueue>,
) -> anyhow::Result<Execution> {
    let integration = Integration::from_yaml(run.definition)
        .map_err(|problems| anyhow::anyhow!("invalid definition: {problems:?}"))?;
    let local = LocalState::open(run.state_dir)?;
    let queue = queue_of(Arc::new(SqliteQueue::open(run.state_dir)?));
    local
        .state
        .put_definition(integration.definition())
        .await
        .context("storing the definition")?;
    let secrets = MemorySecretStore::new()
        .with(DYNAMICS_SECRET, dynsync_emulators::dataverse::CLIENT_SECRET)
        .with(INSIDER_SECRET, dynsync_emulators::insider::TOKEN);
    let config = EngineConfig {
        safety_lag: run.safety_lag,
        ..EngineConfig::default()
    };
    let engine = local.engine(
        queue.clone(),
        Arc::new(LiveConnectors::new(Arc::new(secrets)).with_concurrency(run.concurrency)),
        config,
    );
    let execution = match engine
        .start_execution(&integration, Trigger::Manual, &local_owner_tag())
        .await?
    {
        StartOutcome::Started(execution) => execution,
        StartOutcome::AlreadyRunning { execution_id } => {
            bail!("execution {execution_id} already holds the run lock")
        }
    };
    if execution.status.is_final() {
        return Ok(execution);
    }
    Ok(run_until_finished(
        engine,
        queue,
        &execution.id,
        run.concurrency,
        run.on_progress,
    )
    .await?)
}

/// [`run_local`] as the benchmarks run it: the folder's own queue, no safety lag, no
/// progress callback.
pub async fn run_local_plain(
    state_dir: &Path,
    definition: &str,
    concurrency: usize,
) -> anyhow::Result<Execution> {
    let run = LocalRun {
        state_dir,
        definition,
        concurrency,
        safety_lag: Duration::ZERO,
        on_progress: no_progress(),
    };
    run_local(run, |queue| queue).await
}

/// A progress callback that does nothing.
pub fn no_progress() -> OnProgress {
    Arc::new(|_| {})
}

/// The change-tracking token (delta link) of an integration in a state folder, as the last
/// successful run left it.
pub async fn sync_token(state_dir: &Path, integration_id: &str) -> anyhow::Result<Option<String>> {
    let state = SqliteStateStore::open(state_dir)?;
    Ok(state.sync_token(integration_id).await?)
}

//! The [`Engine`]: the ports it runs on, its configuration, and the per-execution cache of
//! what every page of an execution shares (the plan, the validated integration, the mapper).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dynsync_domain::Integration;
use dynsync_domain::execution::ExecutionPlan;
use dynsync_domain::ports::{Clock, Connectors, MemberSets, PageQueue, StateStore};

use crate::EngineError;
use dynsync_mapping::Mapper;

/// How the engine times windows, locks and stalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Subtracted from the start time for an incremental window's `to`, for transactions
    /// that commit late.
    pub safety_lag: Duration,
    /// How long a run lock holds without progress. Completed pages renew it once less than
    /// half is left, so a long backfill keeps its lock while a crashed run's lock expires
    /// at most this long after its last page.
    pub lock_ttl: Duration,
    /// A running execution with no completed page for this long is failed by
    /// [`Engine::fail_stalled`] (its pages were lost or dead-lettered).
    pub stall_after: Duration,
    /// How long a delivery's claim on its page holds without being renewed (see
    /// `claim.rs`). Longer than one page can take between renewals (the worker Lambda's
    /// timeout); a duplicate delivery waits at most this long.
    pub page_claim_ttl: Duration,
    /// The local runner admits a page only while the pages in flight hold less than this
    /// many bytes of records together, as estimated from each execution's last page
    /// (`budget.rs`); `--concurrency` still bounds their number.
    pub pages_in_flight_bytes: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            safety_lag: Duration::from_secs(5 * 60),
            lock_ttl: Duration::from_secs(2 * 60 * 60),
            stall_after: Duration::from_secs(30 * 60),
            page_claim_ttl: Duration::from_secs(10 * 60),
            pages_in_flight_bytes: 6 * 1024 * 1024,
        }
    }
}

/// At most this many executions keep their plan and mapper cached in one engine.
const CACHED_EXECUTIONS: usize = 32;

/// What all pages of one execution share, built once per engine.
pub(crate) struct Prepared {
    pub plan: ExecutionPlan,
    pub integration: Integration,
    pub mapper: Mapper,
    /// When the execution's run lock expires, as this engine last read or renewed it: while
    /// more than half of the lock's time is left, pages need not read it again.
    pub lock_expires_at: Mutex<Option<DateTime<Utc>>>,
    /// `list_mode: changes`: what the page fetches run with (no window conditions, and
    /// `modifiedon` among the fields, so changed members can be told from the others).
    pub list_fetch: Option<Box<Prepared>>,
    /// The estimated bytes of the records of this execution's last mapped page (0: none
    /// yet), for the runner's memory bound (`budget.rs`).
    pub page_bytes: AtomicUsize,
}

/// The use-cases over the ports. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Engine {
    pub(crate) state: Arc<dyn StateStore>,
    pub(crate) queue: Arc<dyn PageQueue>,
    pub(crate) connectors: Arc<dyn Connectors>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EngineConfig,
    /// The member sets of `list_mode: changes` (in memory unless [`Engine::with_members`]
    /// gives the store's).
    pub(crate) members: Arc<dyn MemberSets>,
    prepared: Mutex<HashMap<String, Arc<Prepared>>>,
}

impl Engine {
    pub fn new(
        state: Arc<dyn StateStore>,
        queue: Arc<dyn PageQueue>,
        connectors: Arc<dyn Connectors>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Self {
        Self {
            state,
            queue,
            connectors,
            clock,
            config,
            members: Arc::new(crate::memory::MemoryMemberSets::new()),
            prepared: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps `list_mode: changes` member sets in `members` (the state store's: SQLite
    /// locally, DynamoDB on AWS) instead of this process's memory.
    pub fn with_members(mut self, members: Arc<dyn MemberSets>) -> Self {
        self.members = members;
        self
    }

    pub fn members(&self) -> &Arc<dyn MemberSets> {
        &self.members
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn state(&self) -> &Arc<dyn StateStore> {
        &self.state
    }

    pub fn queue(&self) -> &Arc<dyn PageQueue> {
        &self.queue
    }

    /// The plan, integration and mapper of an execution, from the cache or the store.
    /// `Ok(None)` when the store has no plan (an execution that failed before planning).
    pub(crate) async fn prepared(
        &self,
        execution_id: &str,
    ) -> Result<Option<Arc<Prepared>>, EngineError> {
        if let Some(hit) = self.cache().get(execution_id) {
            return Ok(Some(hit.clone()));
        }
        let Some(plan) = self
            .state
            .get_plan(execution_id)
            .await
            .map_err(EngineError::State)?
        else {
            return Ok(None);
        };
        let integration = Integration::new(plan.definition.clone()).map_err(|problems| {
            EngineError::InvalidDefinition {
                id: plan.definition.id.clone(),
                problems: problems.joined("; "),
            }
        })?;
        let mapper = Mapper::new(&integration, &plan.source.labels, &plan.source.primary_id);
        let list_fetch = crate::lists::list_fetch(&plan)?;
        let prepared = Arc::new(Prepared {
            plan,
            integration,
            mapper,
            lock_expires_at: Mutex::new(None),
            list_fetch,
            page_bytes: AtomicUsize::new(0),
        });
        let mut cache = self.cache();
        if cache.len() >= CACHED_EXECUTIONS {
            cache.clear();
        }
        cache.insert(execution_id.to_owned(), prepared.clone());
        Ok(Some(prepared))
    }

    /// An execution's cached plan, integration and mapper, if this engine has them.
    pub(crate) fn cached(&self, execution_id: &str) -> Option<Arc<Prepared>> {
        self.cache().get(execution_id).cloned()
    }

    /// Drops a finished execution's cached plan.
    /// The estimated bytes of one page of the execution's records, once a page of it has
    /// been mapped by this engine.
    pub(crate) fn page_bytes_estimate(&self, execution_id: &str) -> Option<usize> {
        let bytes = self
            .cache()
            .get(execution_id)?
            .page_bytes
            .load(Ordering::Relaxed);
        (bytes > 0).then_some(bytes)
    }

    pub(crate) fn forget(&self, execution_id: &str) {
        self.cache().remove(execution_id);
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Prepared>>> {
        self.prepared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

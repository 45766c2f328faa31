//! The state ports: definitions with their schedule slots ([`Definitions`]), run locks
//! ([`RunLocks`]), executions with their plans and counters ([`Executions`]), watermarks and
//! change-tracking tokens ([`SyncState`]); the page ledger is its own port
//! ([`PageLedger`], `ledger.rs`). [`StateStore`] is all of them together: what the engine
//! and the wiring hold (`Arc<dyn StateStore>`); every adapter implements each narrow port
//! and gets `StateStore` from the blanket impl. Every method that two invocations could
//! race on is atomic (a conditional write in DynamoDB, a transaction in SQLite).

use chrono::{DateTime, Utc};

use crate::definition::Definition;
use crate::execution::{Execution, ExecutionPlan, ExecutionStatus};
use crate::ports::{PageLedger, PortError};

/// The result of trying to take an integration's run lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    Acquired,
    /// Another execution holds it and it has not expired.
    HeldBy {
        execution_id: String,
    },
}

/// Who takes a run lock and until when it holds without being renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRequest {
    pub integration_id: String,
    pub execution_id: String,
    /// Free-form owner tag (local: `pid:<n>@<host>`; AWS: the request id).
    pub owner: String,
    pub expires_at: DateTime<Utc>,
}

/// How an execution ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub status: ExecutionStatus,
    pub finished_at: DateTime<Utc>,
    pub error: Option<String>,
    /// On success or completion with failures: the watermark to store for the integration
    /// (the window's `to`).
    pub watermark: Option<DateTime<Utc>>,
}

/// Integration definitions, whether each is enabled, and the schedule slots that fired.
#[async_trait::async_trait]
pub trait Definitions: Send + Sync {
    /// Stores (or replaces) a validated definition.
    async fn put_definition(&self, definition: &Definition) -> Result<(), PortError>;
    async fn get_definition(&self, id: &str) -> Result<Option<Definition>, PortError>;
    async fn list_definitions(&self) -> Result<Vec<Definition>, PortError>;
    /// Pauses or resumes; `false` when there is no such definition.
    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<bool, PortError>;

    /// The last schedule slot that fired for the integration.
    async fn last_slot(&self, integration_id: &str) -> Result<Option<DateTime<Utc>>, PortError>;
    /// Claims `slot` if it is later than the last fired slot (compare-and-set from
    /// `previous`); `true` only for the one caller that moved it.
    async fn claim_slot(
        &self,
        integration_id: &str,
        previous: Option<DateTime<Utc>>,
        slot: DateTime<Utc>,
    ) -> Result<bool, PortError>;
}

/// One run lock per integration: at most one running execution each.
#[async_trait::async_trait]
pub trait RunLocks: Send + Sync {
    /// Takes the lock when it is free, expired, or already held by the same execution.
    async fn acquire_lock(&self, request: &LockRequest) -> Result<LockOutcome, PortError>;
    /// The current holder of an integration's lock, with its owner tag and expiry.
    async fn lock_holder(
        &self,
        integration_id: &str,
    ) -> Result<Option<(String, String, DateTime<Utc>)>, PortError>;
    /// Releases the lock if `execution_id` holds it.
    async fn release_lock(&self, integration_id: &str, execution_id: &str)
    -> Result<(), PortError>;
}

/// Executions: their records, plans and counters, and how each ends.
#[async_trait::async_trait]
pub trait Executions: Send + Sync {
    /// Records a new execution. A `running` one comes with its plan and its first pages
    /// (one per partition), registered in the ledger and counted outstanding at once. An
    /// execution that failed before it could plan (bad credentials) is recorded already
    /// `failed`, with no plan and no pages.
    async fn create_execution(
        &self,
        execution: &Execution,
        plan: Option<&ExecutionPlan>,
        first_page_keys: &[String],
    ) -> Result<(), PortError>;
    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, PortError>;
    async fn get_plan(&self, execution_id: &str) -> Result<Option<ExecutionPlan>, PortError>;
    /// Newest first; only those of one integration when given.
    async fn list_executions(
        &self,
        integration_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Execution>, PortError>;
    /// Running executions with the time of their last progress.
    async fn running_executions(&self) -> Result<Vec<(Execution, DateTime<Utc>)>, PortError>;

    /// Ends a running execution exactly once: status, finish time, error; unless it failed,
    /// the watermark moves forward and a staged sync token becomes the integration's; the
    /// run lock is released. `false` when it had already ended.
    async fn finish_execution(
        &self,
        execution_id: &str,
        finish: &Finish,
    ) -> Result<bool, PortError>;
}

/// Where an integration's next incremental read starts: the watermark of its last
/// successful window and the delta link of its last successful change-tracking read.
#[async_trait::async_trait]
pub trait SyncState: Send + Sync {
    /// The `to` of the integration's last successful incremental window.
    async fn watermark(&self, integration_id: &str) -> Result<Option<DateTime<Utc>>, PortError>;
    /// Keeps the change-tracking link a running execution's read ended with (the last
    /// page's `@odata.deltaLink`); `finish_execution` makes it the integration's sync token
    /// when the execution does not fail. A later call replaces it.
    async fn stage_sync_token(&self, execution_id: &str, token: &str) -> Result<(), PortError>;
    /// The delta link of the integration's last successful change-tracking read.
    async fn sync_token(&self, integration_id: &str) -> Result<Option<String>, PortError>;
}

/// Every state port together: what the engine and the wiring hold. Implemented for every
/// type that implements the narrow ports.
pub trait StateStore: Definitions + RunLocks + Executions + PageLedger + SyncState {}

impl<T: Definitions + RunLocks + Executions + PageLedger + SyncState> StateStore for T {}

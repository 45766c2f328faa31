//! Starting an execution: take the integration's run lock, fix the window, ask Dataverse for
//! the plan, record the execution with its first pages and queue one task per partition.
//! A plan that cannot be made (bad credentials, unknown entity, missing list) is recorded
//! as a failed execution whose error says what to fix.

use chrono::{DateTime, Duration, Utc};
use dynsync_domain::Integration;
use dynsync_domain::definition::FetchMode;
use dynsync_domain::execution::{
    Counters, Execution, ExecutionPlan, ExecutionStatus, PageTask, Trigger, Window,
};
use dynsync_domain::ports::{LockOutcome, LockRequest, PortError};
use tracing::Instrument;

use crate::window::window_for;
use crate::{Engine, EngineError};

/// What [`Engine::start_execution`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
// Made once per start and moved, never stored in bulk: boxing the execution buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum StartOutcome {
    /// A new execution: `running` with its first pages queued, or already `failed` when it
    /// could not plan (its `error` says what to fix).
    Started(Execution),
    /// Another execution of the integration holds the run lock.
    AlreadyRunning { execution_id: String },
}

impl Engine {
    /// Starts one execution of `integration`; `owner` tags the run lock (local:
    /// `pid:<n>@<host>`, AWS: the request id).
    pub async fn start_execution(
        &self,
        integration: &Integration,
        trigger: Trigger,
        owner: &str,
    ) -> Result<StartOutcome, EngineError> {
        let definition = integration.definition();
        let started_at = self.clock.now();
        let execution_id = uuid::Uuid::new_v4().to_string();
        let lock = LockRequest {
            integration_id: definition.id.clone(),
            execution_id: execution_id.clone(),
            owner: owner.to_owned(),
            expires_at: later(started_at, self.config.lock_ttl),
        };
        match self
            .state
            .acquire_lock(&lock)
            .await
            .map_err(EngineError::State)?
        {
            LockOutcome::Acquired => {}
            LockOutcome::HeldBy { execution_id } => {
                tracing::info!(integration_id = %definition.id, execution_id = %execution_id, "an execution is already running");
                return Ok(StartOutcome::AlreadyRunning { execution_id });
            }
        }
        // The execution's own lines (plan, record, first pages) are in its span.
        let span = tracing::info_span!("execution", execution_id = %execution_id, integration_id = %definition.id);
        match self
            .plan_and_record(integration, trigger, &execution_id, started_at)
            .instrument(span)
            .await
        {
            Ok(outcome) => Ok(outcome),
            Err(error) => {
                // Nothing was queued: free the lock so the next attempt can start.
                let _ = self.state.release_lock(&definition.id, &execution_id).await;
                Err(error)
            }
        }
    }

    /// Resumes a running execution after its process died (local runs): the run lock is
    /// taken again for the same execution under the new `owner` tag and renewed. Its pages
    /// stay in the queue; the caller makes in-flight ones visible again and drops the dead
    /// process's page claims (`release_page_claims` of the local and in-memory stores), or
    /// those pages wait for the claims to lapse. `Ok(None)` when the execution does not
    /// exist or has already ended.
    pub async fn resume_execution(
        &self,
        execution_id: &str,
        owner: &str,
    ) -> Result<Option<Execution>, EngineError> {
        let Some(execution) = self
            .state
            .get_execution(execution_id)
            .await
            .map_err(EngineError::State)?
            .filter(|e| !e.status.is_final())
        else {
            return Ok(None);
        };
        let lock = LockRequest {
            integration_id: execution.integration_id.clone(),
            execution_id: execution.id.clone(),
            owner: owner.to_owned(),
            expires_at: later(self.clock.now(), self.config.lock_ttl),
        };
        match self
            .state
            .acquire_lock(&lock)
            .await
            .map_err(EngineError::State)?
        {
            LockOutcome::Acquired => {
                tracing::info!(integration_id = %execution.integration_id, execution_id = %execution.id, "execution resumed");
            }
            LockOutcome::HeldBy { execution_id } => {
                // Another execution took the expired lock meanwhile; this one still owns
                // its pages and finishes them.
                tracing::warn!(integration_id = %execution.integration_id, execution_id = %execution.id, holder = %execution_id, "resumed without the run lock");
            }
        }
        Ok(Some(execution))
    }

    async fn plan_and_record(
        &self,
        integration: &Integration,
        trigger: Trigger,
        execution_id: &str,
        started_at: DateTime<Utc>,
    ) -> Result<StartOutcome, EngineError> {
        let definition = integration.definition();
        let watermark = self
            .state
            .watermark(&definition.id)
            .await
            .map_err(EngineError::State)?;
        let window = window_for(
            definition,
            started_at,
            watermark,
            duration(self.config.safety_lag),
        );
        let execution = Execution {
            id: execution_id.to_owned(),
            integration_id: definition.id.clone(),
            trigger,
            status: ExecutionStatus::Running,
            started_at,
            finished_at: None,
            window,
            counters: Counters::default(),
            failures: Vec::new(),
            error: None,
        };
        let source_plan = match self.source_plan(integration).await {
            Ok(plan) => plan,
            Err(error) => return self.record_failed_start(execution, error).await,
        };
        // A change-tracking read is one chain of links, from the last successful read's
        // delta link (none: a full read that starts tracking).
        let changes = definition.source.fetch_mode() == FetchMode::Changes;
        let (partitions, first_cursor) = if changes {
            let token = self
                .state
                .sync_token(&definition.id)
                .await
                .map_err(EngineError::State)?;
            (dynsync_fetchxml::partitions(1), token)
        } else {
            (
                dynsync_fetchxml::partitions(definition.dynamics.partitions),
                None,
            )
        };
        let tasks: Vec<PageTask> = partitions
            .iter()
            .map(|p| PageTask {
                execution_id: execution_id.to_owned(),
                integration_id: definition.id.clone(),
                partition: p.index,
                cursor: first_cursor.clone(),
            })
            .collect();
        let keys: Vec<String> = tasks.iter().map(PageTask::page_key).collect();
        let plan = ExecutionPlan {
            definition: definition.clone(),
            source: source_plan,
            window,
            partitions,
            processing_time: started_at,
        };
        self.state
            .create_execution(&execution, Some(&plan), &keys)
            .await
            .map_err(EngineError::State)?;
        if let Err(error) = self.queue.send(&tasks).await {
            let message = format!("could not queue the first pages: {error}");
            self.fail_execution(execution_id, &message).await?;
            return Err(EngineError::Queue(error));
        }
        // Debug: the Lambdas' telemetry events log this at info with its metrics, and the
        // CLI shows it in its progress line and summary.
        tracing::debug!(
            integration_id = %definition.id,
            execution_id = %execution_id,
            partitions = tasks.len(),
            window_from = ?window.and_then(|w: Window| w.from),
            window_to = ?window.and_then(|w: Window| w.to),
            "execution started"
        );
        Ok(StartOutcome::Started(execution))
    }

    /// The source plan, after checking that both connectors can be built (credentials
    /// resolve), so a misconfigured integration fails at once rather than on every page.
    async fn source_plan(
        &self,
        integration: &Integration,
    ) -> Result<dynsync_domain::execution::SourcePlan, PortError> {
        let source = self.connectors.source(integration).await?;
        self.connectors.sink(integration).await?;
        source.plan(integration).await
    }

    async fn record_failed_start(
        &self,
        mut execution: Execution,
        error: PortError,
    ) -> Result<StartOutcome, EngineError> {
        let finished_at = self.clock.now();
        execution.status = ExecutionStatus::Failed;
        execution.finished_at = Some(finished_at);
        execution.error = Some(error.to_string());
        tracing::warn!(
            integration_id = %execution.integration_id,
            execution_id = %execution.id,
            error = %error,
            "execution failed before its first page"
        );
        self.state
            .create_execution(&execution, None, &[])
            .await
            .map_err(EngineError::State)?;
        self.state
            .release_lock(&execution.integration_id, &execution.id)
            .await
            .map_err(EngineError::State)?;
        Ok(StartOutcome::Started(execution))
    }
}

/// A std duration as chrono's, saturating (configuration never comes near the limits).
pub(crate) fn duration(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

/// `t + d`, saturating at the end of representable time.
pub(crate) fn later(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    t.checked_add_signed(duration(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

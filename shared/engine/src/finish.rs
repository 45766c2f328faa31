//! Ending executions: the last page's worker finishes it exactly once (status, watermark
//! for incremental modes, lock released, all in the state store's `finish_execution`);
//! failing one that can never complete; and failing the ones whose pages stopped moving,
//! so a lock is never held forever and the watermark never passes unprocessed records.

use dynsync_domain::execution::{Execution, ExecutionStatus, PageTask};
use dynsync_domain::ports::{Finish, LockOutcome, LockRequest};

use crate::engine::Prepared;
use crate::start::{duration, later};
use crate::window::is_incremental;
use crate::{Engine, EngineError};

impl Engine {
    /// Fails a running execution with `error` (a page that can never succeed, a task that
    /// landed in the dead-letter queue). The watermark does not move; the lock is released.
    /// `false` when it had already ended.
    pub async fn fail_execution(
        &self,
        execution_id: &str,
        error: &str,
    ) -> Result<bool, EngineError> {
        let finish = Finish {
            status: ExecutionStatus::Failed,
            finished_at: self.clock.now(),
            error: Some(error.to_owned()),
            watermark: None,
        };
        let cached = self.cached(execution_id);
        let ended = self
            .state
            .finish_execution(execution_id, &finish)
            .await
            .map_err(EngineError::State)?;
        if ended && let Some(prepared) = cached {
            self.discard_members(&prepared, execution_id).await;
        }
        if ended {
            tracing::warn!(execution_id = %execution_id, error = %error, status = "failed", "execution finished");
        }
        self.forget(execution_id);
        Ok(ended)
    }

    /// Fails every running execution with no completed page for `stall_after`; returns
    /// them as they ended.
    pub async fn fail_stalled(&self) -> Result<Vec<Execution>, EngineError> {
        let now = self.clock.now();
        let limit = duration(self.config.stall_after);
        let mut failed = Vec::new();
        for (execution, last_progress) in self
            .state
            .running_executions()
            .await
            .map_err(EngineError::State)?
        {
            if now.signed_duration_since(last_progress) < limit {
                continue;
            }
            let error = format!(
                "stalled: no page completed since {} (more than {} minutes); its page tasks were lost or dead-lettered. Run it again; the watermark did not move",
                last_progress.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                limit.num_minutes()
            );
            if let Some(ended) = self.fail(&execution.id, &error).await? {
                failed.push(ended);
            }
        }
        Ok(failed)
    }

    /// [`Engine::fail_execution`] that returns the execution as it ended (`None` if it
    /// had already ended), so a caller that reports it (a page's outcome, the Lambdas'
    /// `ExecutionFinished`) need not read it again.
    pub async fn fail(
        &self,
        execution_id: &str,
        error: &str,
    ) -> Result<Option<Execution>, EngineError> {
        if !self.fail_execution(execution_id, error).await? {
            return Ok(None);
        }
        self.state
            .get_execution(execution_id)
            .await
            .map_err(EngineError::State)
    }

    /// The last outstanding page is done: succeeded, or completed with failures when any
    /// record failed. Only one caller ends it; the others get `None`.
    pub(crate) async fn finish_after_last_page(
        &self,
        prepared: &Prepared,
        execution_id: &str,
    ) -> Result<Option<Execution>, EngineError> {
        let Some(execution) = self
            .state
            .get_execution(execution_id)
            .await
            .map_err(EngineError::State)?
        else {
            return Err(EngineError::UnknownExecution(execution_id.to_owned()));
        };
        let c = execution.counters;
        // A removal not applied under a setting that applies them failed (listed in
        // failures).
        let removals_failed = !prepared.plan.definition.removals().is_ignore()
            && c.removals_applied < c.deleted + c.left;
        let status = if c.failed > 0 || removals_failed {
            ExecutionStatus::CompletedWithFailures
        } else {
            ExecutionStatus::Succeeded
        };
        let definition = &prepared.plan.definition;
        // Failed records were reported; fetching them again cannot fix them, so the
        // watermark moves on completed_with_failures too.
        let watermark = is_incremental(definition)
            .then(|| prepared.plan.window.and_then(|w| w.to))
            .flatten();
        let finish = Finish {
            status,
            finished_at: self.clock.now(),
            error: None,
            watermark,
        };
        // Every page is done: the members this execution staged become the list's set
        // (idempotent, so a finish retried after a crash promotes the same set).
        self.promote_members(prepared, execution_id).await?;
        let ended = self
            .state
            .finish_execution(execution_id, &finish)
            .await
            .map_err(EngineError::State)?;
        self.forget(execution_id);
        if !ended {
            return Ok(None);
        }
        let finished = self
            .state
            .get_execution(execution_id)
            .await
            .map_err(EngineError::State)?;
        if let Some(e) = &finished {
            // Debug: the Lambdas' telemetry events log this at info with its metrics, and the
            // CLI shows it in its progress line and summary.
            tracing::debug!(
                integration_id = %e.integration_id,
                execution_id = %e.id,
                status = ?e.status,
                records = e.counters.records_read,
                upserted = e.counters.upserted,
                failed = e.counters.failed,
                skipped = e.counters.skipped,
                events_sent = e.counters.events_sent,
                pages = e.counters.pages,
                "execution finished"
            );
        }
        Ok(finished)
    }

    /// Progress renews the run lock (once less than half of `lock_ttl` is left), so a long
    /// backfill keeps it while a crashed run's lock expires at most `lock_ttl` after its
    /// last page.
    pub(crate) async fn renew_lock(
        &self,
        task: &PageTask,
        prepared: &Prepared,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let half = duration(self.config.lock_ttl / 2);
        let known = *prepared
            .lock_expires_at
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Another execution can take the lock only once it has expired, so while this
        // engine's last look says plenty of time is left, nothing needs reading.
        if known.is_some_and(|expires_at| expires_at.signed_duration_since(now) > half) {
            return Ok(());
        }
        let remember = |expires_at| {
            *prepared
                .lock_expires_at
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(expires_at);
        };
        let holder = self
            .state
            .lock_holder(&task.integration_id)
            .await
            .map_err(EngineError::State)?;
        let Some((holder, owner, expires_at)) = holder else {
            return Ok(());
        };
        if holder == task.execution_id && expires_at.signed_duration_since(now) > half {
            // Plenty of time left: renew later, one write saved per page.
            remember(expires_at);
            return Ok(());
        }
        if holder != task.execution_id {
            tracing::warn!(
                integration_id = %task.integration_id,
                execution_id = %task.execution_id,
                holder = %holder,
                "the run lock expired and another execution took it"
            );
            return Ok(());
        }
        let request = LockRequest {
            integration_id: task.integration_id.clone(),
            execution_id: task.execution_id.clone(),
            owner,
            expires_at: later(now, self.config.lock_ttl),
        };
        if self
            .state
            .acquire_lock(&request)
            .await
            .map_err(EngineError::State)?
            != LockOutcome::Acquired
        {
            return Ok(());
        }
        remember(request.expires_at);
        // Another worker may have finished the execution (and released the lock) between
        // the read and the renewal: never leave a finished execution holding the lock.
        let ended = self
            .state
            .get_execution(&task.execution_id)
            .await
            .map_err(EngineError::State)?
            .is_none_or(|e| e.status.is_final());
        if ended {
            self.state
                .release_lock(&task.integration_id, &task.execution_id)
                .await
                .map_err(EngineError::State)?;
        }
        Ok(())
    }
}

//! One page task (ARCHITECTURE.md section 2, step 3), in the order it runs: skip a done
//! page (finishing an execution whose last page is done), claim the page, get its records
//! (fixed by the first delivery, `fetch.rs`), queue the next page's task before mapping so
//! the next fetch overlaps this upsert, map the records no answered batch holds, send and
//! record them in batches (`batches.rs`), and complete the page. The page ledger makes it
//! idempotent: a record Insider already answered is never sent again, a page is counted
//! once. The claim (`claim.rs`) keeps a second delivery from processing it at the same time.

use std::collections::HashSet;
use std::time::Instant;

use dynsync_domain::Record;
use dynsync_domain::execution::{Counters, PageTask, RecordFailure, record_failures};
use dynsync_domain::ports::PortError;
use dynsync_mapping::Outcome;

use crate::batches::{BatchTally, Unsent, send_batches};
use crate::claim::{Claimed, HeldClaim, wait_for};
use crate::engine::Prepared;
use crate::failpoints::failpoint;
use crate::fetch::FetchStop;
use crate::outcome::{PageDisposition, PageOutcome};
use crate::removals::send_removals;
use crate::{Engine, EngineError};

impl Engine {
    /// Processes one delivery of a page task. `receive_count` is the queue's (1 on the first
    /// delivery). `Err` with a transient kind: release the task for a later retry; any
    /// other result: acknowledge it.
    pub async fn process_page(
        &self,
        task: &PageTask,
        receive_count: u32,
    ) -> Result<PageOutcome, EngineError> {
        let started = Instant::now();
        let key = task.page_key();
        let Some(execution) = self
            .state
            .get_execution(&task.execution_id)
            .await
            .map_err(EngineError::State)?
        else {
            return Err(EngineError::UnknownExecution(task.execution_id.clone()));
        };
        if execution.status.is_final() {
            self.forget(&execution.id);
            return Ok(PageOutcome::skipped(
                task,
                PageDisposition::ExecutionNotRunning,
            ));
        }
        let last_page_done = match self
            .state
            .page_ledger(&task.execution_id, &key)
            .await
            .map_err(EngineError::State)?
        {
            Some(ledger) if ledger.done && ledger.outstanding > 0 => {
                return Ok(PageOutcome::skipped(task, PageDisposition::AlreadyDone));
            }
            Some(ledger) => ledger.done,
            None => {
                // Pages are registered before their task is sent; register a stray one so
                // it is counted outstanding before it completes.
                self.state
                    .register_page(&task.execution_id, &key)
                    .await
                    .map_err(EngineError::State)?;
                false
            }
        };
        let prepared = match self.prepared(&task.execution_id).await {
            Ok(Some(prepared)) => prepared,
            Ok(None) => {
                let error = "the execution has no stored plan".to_owned();
                return self.fail_from_page(task, &error).await;
            }
            Err(error @ EngineError::InvalidDefinition { .. }) => {
                return self.fail_from_page(task, &error.to_string()).await;
            }
            Err(error) => return Err(error),
        };
        if last_page_done {
            // Every page is done but the execution still runs: the delivery that completed
            // the last page died or failed before it finished the execution. Finish it
            // (only one caller ends an execution).
            let mut outcome = PageOutcome::skipped(task, PageDisposition::AlreadyDone);
            outcome.finished = self
                .finish_after_last_page(&prepared, &task.execution_id)
                .await?;
            return Ok(outcome);
        }
        let (mut claim, ledger) = match HeldClaim::take(self, &task.execution_id, &key).await? {
            Ok(held) => held,
            Err(until) => {
                return Ok(PageOutcome::held_elsewhere(task, wait_for(self, until)));
            }
        };
        let outcome = self
            .process_fetched(task, receive_count, &prepared, ledger, &mut claim)
            .await;
        if outcome.is_err() {
            // The retry is a new delivery: let it claim the page at once.
            claim.release().await;
        }
        let outcome = outcome?;
        // Debug: the Lambdas' telemetry events log this at info with its metrics, and the
        // CLI shows it in its progress line and summary.
        tracing::debug!(
            integration_id = %task.integration_id,
            execution_id = %task.execution_id,
            page = %key,
            records = outcome.counters.records_read,
            upserted = outcome.counters.upserted,
            failed = outcome.counters.failed,
            skipped = outcome.counters.skipped,
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "page processed"
        );
        Ok(outcome)
    }

    async fn process_fetched(
        &self,
        task: &PageTask,
        receive_count: u32,
        prepared: &Prepared,
        ledger: Claimed,
        claim: &mut HeldClaim<'_>,
    ) -> Result<PageOutcome, EngineError> {
        let key = task.page_key();
        let plan = &prepared.plan;
        let Some(partition) = plan.partitions.iter().find(|p| p.index == task.partition) else {
            let error = format!(
                "page task names partition {} which the plan does not have",
                task.partition
            );
            return self.fail_from_page(task, &error).await;
        };
        let source = match self.connectors.source(&prepared.integration).await {
            Ok(source) => source,
            Err(error) => return self.source_error(task, error).await,
        };
        let fetching = prepared.list_fetch.as_deref().unwrap_or(prepared);
        let mut page = match self
            .page_records(task, fetching, partition, source.as_ref(), ledger.fixed)
            .await
        {
            Ok(page) => page,
            Err(FetchStop::Error(error)) => return Err(error),
            Err(FetchStop::Fail(error)) => return self.fail_from_page(task, &error).await,
        };
        failpoint!("page.after_fetch");
        let next_page_queued = self
            .queue_next(task, page.fixed.next_cursor.as_deref(), receive_count)
            .await?;
        failpoint!("page.after_next");
        let answered: HashSet<String> = ledger
            .batches
            .iter()
            .flat_map(|b| b.record_ids.iter().cloned())
            .collect();
        // `list_mode: changes`: only joiners and changed members are sent (lists.rs).
        let records = std::mem::take(&mut page.records);
        let next_cursor = page.fixed.next_cursor.as_deref();
        let mut list = match self
            .list_delta(
                task,
                prepared,
                partition,
                next_cursor,
                records,
                &ledger.batches,
            )
            .await
        {
            Ok(Ok(delta)) => Some(delta),
            Ok(Err(records)) => {
                page.records = records;
                None
            }
            Err(FetchStop::Error(error)) => return Err(error),
            Err(FetchStop::Fail(error)) => return self.fail_from_page(task, &error).await,
        };
        let mut removed = std::mem::take(&mut page.deleted);
        let deleted = removed.len() as u64;
        // The raw records are consumed by the mapping (each freed once mapped): only the
        // users and the ids are kept while the batches are sent (issue 13, memory).
        let records = match list.as_mut() {
            Some(delta) => std::mem::take(&mut delta.send),
            None => std::mem::take(&mut page.records),
        };
        let (mut counters, mut failures, unsent) =
            self.map_unsent(task, prepared, records, &answered);
        if let Some(delta) = list {
            for id in delta.unchanged.iter().filter(|id| !answered.contains(*id)) {
                counters.skipped += 1;
                tracing::debug!(execution_id = %task.execution_id, record_id = %id, reason = crate::lists::UNCHANGED, "record skipped");
            }
            counters.joined = delta.joined;
            counters.left = delta.leavers.len() as u64;
            removed.extend(delta.leavers);
        }
        for id in page
            .filtered_out
            .iter()
            .filter(|id| !answered.contains(*id))
        {
            counters.skipped += 1;
            tracing::debug!(execution_id = %task.execution_id, record_id = %id, reason = "changed, but source.filter no longer selects it", "record skipped");
        }

        let sink = match self.connectors.sink(&prepared.integration).await {
            Ok(sink) => sink,
            Err(error) if error.kind().is_transient() => return Err(EngineError::Sink(error)),
            Err(error) => {
                return self
                    .fail_from_page(task, &format!("Insider: {error}"))
                    .await;
            }
        };
        let definition = prepared.integration.definition();
        let settings = &definition.insider;
        let mut tally: BatchTally = send_batches(
            self.state.as_ref(),
            sink.as_ref(),
            claim,
            task,
            ledger.batches,
            unsent,
            settings.skip_hook,
            settings.fast_fail,
        )
        .await?;
        if let Some(until) = tally.lost_claim {
            // Another delivery took the page over (ours had lapsed): it completes the page.
            let mut outcome = PageOutcome::held_elsewhere(task, wait_for(self, until));
            outcome.next_page_queued = next_page_queued;
            return Ok(outcome);
        }
        if tally.stop.is_none() {
            tally.stop = send_removals(
                self.state.as_ref(),
                sink.as_ref(),
                task,
                definition,
                &removed,
                &answered,
                settings.skip_hook,
                &mut tally,
            )
            .await?;
        }
        counters.deleted = deleted;
        counters.resynced = u64::from(page.resynced);
        counters.removals_applied = tally.removals_applied;
        counters.upserted += tally.upserted;
        counters.failed += tally.failed;
        counters.events_sent += tally.events_sent;
        // Every record of the page is upserted, skipped or failed, once: also those an
        // earlier delivery sent and the source no longer returns.
        counters.records_read = counters.upserted + counters.skipped + counters.failed;
        record_failures(&mut failures, tally.failures);

        // A page that stops its execution fails it before completing: a death in between
        // leaves the execution failed, never a done last page that the next delivery would
        // finish as if nothing had stopped it.
        let stopped = match &tally.stop {
            Some(message) => Some(self.fail_execution(&task.execution_id, message).await?),
            None => None,
        };
        let remaining = self
            .state
            .complete_page(
                &task.execution_id,
                &key,
                &counters,
                &failures,
                self.clock.now(),
            )
            .await
            .map_err(EngineError::State)?;
        failpoint!("page.after_complete");
        let mut outcome = PageOutcome {
            execution_id: task.execution_id.clone(),
            page_key: key,
            disposition: PageDisposition::Processed,
            counters,
            next_page_queued,
            finished: None,
            retry_after: None,
            dataverse_throttles: page.throttles,
            resynced: page.resynced,
        };
        let Some(remaining) = remaining else {
            // A concurrent delivery completed the page first; it counted it.
            outcome.disposition = PageDisposition::AlreadyDone;
            outcome.counters = Counters::default();
            return Ok(outcome);
        };
        if let Some(failed_here) = stopped {
            if failed_here {
                outcome.finished = self
                    .state
                    .get_execution(&task.execution_id)
                    .await
                    .map_err(EngineError::State)?;
            }
            return Ok(outcome);
        }
        self.renew_lock(task, prepared).await?;
        if remaining == 0 {
            outcome.finished = self
                .finish_after_last_page(prepared, &task.execution_id)
                .await?;
        }
        Ok(outcome)
    }

    /// Registers and sends the next page's task (before this page is mapped, so the next
    /// fetch overlaps this page's upsert). `true` when it was sent.
    async fn queue_next(
        &self,
        task: &PageTask,
        next_cursor: Option<&str>,
        receive_count: u32,
    ) -> Result<bool, EngineError> {
        let Some(next_cursor) = next_cursor else {
            return Ok(false);
        };
        let next = PageTask {
            cursor: Some(next_cursor.to_owned()),
            ..task.clone()
        };
        let registered = self
            .state
            .register_page(&task.execution_id, &next.page_key())
            .await
            .map_err(EngineError::State)?;
        // A redelivery may have crashed between registering and sending: send again; the
        // ledger drops the duplicate.
        if !registered && receive_count <= 1 {
            return Ok(false);
        }
        self.queue
            .send(std::slice::from_ref(&next))
            .await
            .map_err(EngineError::Queue)?;
        Ok(true)
    }

    /// Maps the page's records that no answered batch holds: the counters of the skipped
    /// and failed ones, their failures, and the users to send.
    fn map_unsent(
        &self,
        task: &PageTask,
        prepared: &Prepared,
        records: Vec<Record>,
        sent: &HashSet<String>,
    ) -> (Counters, Vec<RecordFailure>, Unsent) {
        let mut counters = Counters {
            pages: 1,
            ..Counters::default()
        };
        let mut failures = Vec::new();
        let mut events_not_sent: u64 = 0;
        let mut unsent = Unsent::default();
        for record in records {
            let mapped = prepared.mapper.map(&record, prepared.plan.processing_time);
            drop(record);
            if sent.contains(&mapped.record_id) {
                continue;
            }
            events_not_sent += u64::from(mapped.events_not_sent);
            match mapped.outcome {
                Outcome::User(user) => {
                    unsent.users.push(user);
                    unsent.record_ids.push(mapped.record_id);
                }
                Outcome::Skipped { reason } => {
                    counters.skipped += 1;
                    tracing::debug!(execution_id = %task.execution_id, record_id = %mapped.record_id, reason = %reason, "record skipped");
                }
                Outcome::Failed { reason } => {
                    counters.failed += 1;
                    record_failures(
                        &mut failures,
                        [RecordFailure {
                            record_id: mapped.record_id,
                            reason,
                        }],
                    );
                }
            }
        }
        if events_not_sent > 0 {
            tracing::info!(execution_id = %task.execution_id, page = %task.page_key(), events_not_sent, "events not sent (unmapped name or empty timestamp)");
        }
        (counters, failures, unsent)
    }

    /// A source error: transient ones are retried by the queue, permanent ones fail the
    /// execution.
    async fn source_error(
        &self,
        task: &PageTask,
        error: PortError,
    ) -> Result<PageOutcome, EngineError> {
        if error.kind().is_transient() {
            return Err(EngineError::Source(error));
        }
        self.fail_from_page(task, &format!("Dataverse: {error}"))
            .await
    }

    async fn fail_from_page(
        &self,
        task: &PageTask,
        error: &str,
    ) -> Result<PageOutcome, EngineError> {
        tracing::warn!(execution_id = %task.execution_id, page = %task.page_key(), error = %error, "page failed the execution");
        let finished = self.fail_and_read(&task.execution_id, error).await?;
        let mut outcome = PageOutcome::skipped(task, PageDisposition::ExecutionFailed);
        outcome.finished = finished;
        Ok(outcome)
    }
}

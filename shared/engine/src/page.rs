//! One page task (ARCHITECTURE.md section 2, step 3; docs/architecture.md, "The data flow
//! of one page"). [`Engine::process_page`] is the list of steps, and each step is one
//! function below, in the order they run:
//!
//! 1. [`Engine::skip_or_finish`]: drop a task of an ended execution, acknowledge a done
//!    page (finishing an execution whose last page is done);
//! 2. [`Engine::claim_page`]: one delivery at a time works on the page (`claim.rs`);
//! 3. [`Engine::records`]: the page's records, fixed by the first delivery (`fetch.rs`);
//! 4. [`Engine::queue_next`]: the next page's task, before mapping, so the next fetch
//!    overlaps this page's upsert;
//! 5. [`Engine::map`]: the records no answered batch holds, as users (`map.rs`, `lists.rs`);
//! 6. [`Engine::send_and_record`]: batches and removals, each recorded in the ledger as
//!    Insider answers it (`batches.rs`, `removals.rs`);
//! 7. [`Engine::complete`]: the page's counters (failing first an execution the page
//!    stopped), and the execution's finish when it was the last page (`finish.rs`).
//!
//! A step that ends the delivery early returns a [`Halt`]. The page ledger makes the path
//! idempotent: a record Insider already answered is never sent again, a page is counted
//! once. Failpoints (`failpoints.rs`) mark the seams: `page.after_fetch`,
//! `page.after_next`, `page.after_batch` (in batches and removals), `page.after_complete`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use dynsync_domain::execution::PageTask;
use dynsync_domain::ports::{BatchRecord, FixedPage};

use crate::batches::send_batches;
use crate::claim::{Claimed, HeldClaim, wait_for};
use crate::engine::Prepared;
use crate::failpoints::failpoint;
use crate::fetch::{FetchStop, PageRecords};
use crate::map::{Fetched, Mapped, PageCount, map_page};
use crate::outcome::{Halt, PageDisposition, PageOutcome, Step};
use crate::removals::send_removals;
use crate::{Engine, EngineError};

/// Step 6's result: the page's count with its batches, and what stopped it.
struct Sent {
    count: PageCount,
    /// The page stops its execution with this error (a refused batch, fast fail).
    stop: Option<String>,
    /// Another delivery took the page over; it holds it until then.
    lost_claim: Option<chrono::DateTime<chrono::Utc>>,
    throttles: u32,
    resynced: bool,
}

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
        let outcome = match self.page_steps(task, &key, receive_count).await {
            Ok(outcome) => outcome,
            Err(Halt::Done(outcome)) => *outcome,
            Err(Halt::Error(error)) => return Err(error),
        };
        outcome.log_processed(task, started);
        Ok(outcome)
    }

    /// The steps of one delivery, in order.
    async fn page_steps(
        &self,
        task: &PageTask,
        key: &str,
        receive_count: u32,
    ) -> Step<PageOutcome> {
        let prepared = self.skip_or_finish(task).await?;
        let (mut claim, ledger) = self.claim_page(task, key).await?;
        let claimed = async {
            let page = self.records(task, &prepared, ledger.fixed).await?;
            failpoint!("page.after_fetch");
            let next_page_queued = self.queue_next(task, &page.fixed, receive_count).await?;
            failpoint!("page.after_next");
            let mapped = self.map(task, &prepared, page, &ledger.batches).await?;
            let sent = self
                .send_and_record(task, &prepared, &mut claim, ledger.batches, mapped)
                .await?;
            self.complete(task, &prepared, sent, next_page_queued).await
        }
        .await;
        if let Err(Halt::Error(_)) = &claimed {
            // The retry is a new delivery: let it claim the page at once.
            claim.release().await;
        }
        claimed
    }

    /// 1. Skip or finish. The execution is no longer running: drop the task. The ledger
    ///    says the page is done: acknowledge it, and if every page is done while the
    ///    execution still runs (the delivery that completed the last page died before
    ///    finishing), finish it. Otherwise the execution's plan, for the next steps.
    async fn skip_or_finish(&self, task: &PageTask) -> Step<Arc<Prepared>> {
        let key = task.page_key();
        // One read of both (the execution's status and the page's row): one request on
        // DynamoDB, where both live in the execution's partition.
        let (execution, ledger) = self
            .state
            .execution_and_page(&task.execution_id, &key)
            .await
            .map_err(EngineError::State)?;
        let execution =
            execution.ok_or_else(|| EngineError::UnknownExecution(task.execution_id.clone()))?;
        if execution.status.is_final() {
            self.forget(&execution.id);
            return Err(Halt::skipped(task, PageDisposition::ExecutionNotRunning));
        }
        let last_page_done = match ledger {
            Some(ledger) if ledger.done && ledger.outstanding > 0 => {
                return Err(Halt::skipped(task, PageDisposition::AlreadyDone));
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
                return Err(self
                    .fail_page(task, "the execution has no stored plan")
                    .await);
            }
            Err(error @ EngineError::InvalidDefinition { .. }) => {
                return Err(self.fail_page(task, &error.to_string()).await);
            }
            Err(error) => return Err(error.into()),
        };
        if last_page_done {
            // Every page is done but the execution still runs: finish it (only one caller
            // ends an execution).
            let mut outcome = PageOutcome::skipped(task, PageDisposition::AlreadyDone);
            outcome.finished = self
                .finish_after_last_page(&prepared, &task.execution_id)
                .await?;
            return Err(Halt::done(outcome));
        }
        Ok(prepared)
    }

    /// 2. Claim the page: what the ledger holds of it (where it ends, its answered
    ///    batches), in the same atomic step. A page held elsewhere is handed back until
    ///    the claim lapses.
    async fn claim_page<'a>(
        &'a self,
        task: &'a PageTask,
        key: &'a str,
    ) -> Step<(HeldClaim<'a>, Claimed)> {
        match HeldClaim::take(self, &task.execution_id, key).await? {
            Ok(held) => Ok(held),
            Err(until) => Err(Halt::done(PageOutcome::held_elsewhere(
                task,
                wait_for(self, until),
            ))),
        }
    }

    /// 3. The page's records: a first delivery (`fixed` is `None`) fetches the page and
    ///    fixes where it ends before anything is sent; a later one re-reads that range.
    async fn records(
        &self,
        task: &PageTask,
        prepared: &Prepared,
        fixed: Option<FixedPage>,
    ) -> Step<PageRecords> {
        let partition = self.partition(task, prepared).await?;
        let source = match self.connectors.source(&prepared.integration).await {
            Ok(source) => source,
            Err(error) => return Err(self.stopped(task, FetchStop::source(error)).await),
        };
        // `list_mode: changes` reads the list without the window (lists.rs).
        let fetching = prepared.list_fetch.as_deref().unwrap_or(prepared);
        match self
            .page_records(task, fetching, partition, source.as_ref(), fixed)
            .await
        {
            Ok(page) => Ok(page),
            Err(stop) => Err(self.stopped(task, stop).await),
        }
    }

    /// 4. Queue the next task from the fixed next cursor: registered in the ledger first,
    ///    so it counts as outstanding before it is sent. `true` when it was sent.
    async fn queue_next(
        &self,
        task: &PageTask,
        fixed: &FixedPage,
        receive_count: u32,
    ) -> Result<bool, EngineError> {
        let Some(next_cursor) = fixed.next_cursor.as_deref() else {
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

    /// 5. Map the records no answered batch holds. `list_mode: changes` first compares the
    ///    page with the committed member set and stages its members (`lists.rs`): only
    ///    joiners and changed members are sent, leavers get removals.
    async fn map(
        &self,
        task: &PageTask,
        prepared: &Prepared,
        page: PageRecords,
        answered: &[BatchRecord],
    ) -> Step<Mapped> {
        let partition = self.partition(task, prepared).await?;
        let next_cursor = page.fixed.next_cursor.as_deref();
        let delta = self
            .list_delta(
                task,
                prepared,
                partition,
                next_cursor,
                page.records,
                answered,
            )
            .await;
        let (records, list) = match delta {
            Ok(Ok(mut delta)) => (std::mem::take(&mut delta.send), Some(delta)),
            Ok(Err(records)) => (records, None),
            Err(stop) => return Err(self.stopped(task, stop).await),
        };
        let fetched = Fetched {
            records,
            list,
            filtered_out: page.filtered_out,
            deleted: page.deleted,
            throttles: page.throttles,
            resynced: page.resynced,
        };
        let answered: HashSet<String> = answered
            .iter()
            .flat_map(|b| b.record_ids.iter().cloned())
            .collect();
        Ok(map_page(task, prepared, fetched, answered))
    }

    /// 6. Send and record: the users in batches, then the removals, each batch recorded
    ///    with the ids of its records as soon as Insider answers it; a redelivery counts
    ///    the answered batches and sends the rest.
    async fn send_and_record(
        &self,
        task: &PageTask,
        prepared: &Prepared,
        claim: &mut HeldClaim<'_>,
        answered: Vec<BatchRecord>,
        mapped: Mapped,
    ) -> Step<Sent> {
        let sink = match self.connectors.sink(&prepared.integration).await {
            Ok(sink) => sink,
            Err(error) if error.kind().is_transient() => {
                return Err(EngineError::Sink(error).into());
            }
            Err(error) => return Err(self.fail_page(task, &format!("Insider: {error}")).await),
        };
        let definition = prepared.integration.definition();
        let settings = &definition.insider;
        let Mapped {
            mut count,
            unsent,
            removed,
            answered: answered_ids,
            throttles,
            resynced,
        } = mapped;
        let (state, sink) = (self.state.as_ref(), sink.as_ref());
        let (skip_hook, fast_fail) = (settings.skip_hook, settings.fast_fail);
        let mut tally = send_batches(
            state, sink, claim, task, answered, unsent, skip_hook, fast_fail,
        )
        .await?;
        if tally.lost_claim.is_none() && tally.stop.is_none() {
            tally.stop = send_removals(
                state,
                sink,
                task,
                definition,
                &removed,
                &answered_ids,
                skip_hook,
                &mut tally,
            )
            .await?;
        }
        count.add_batches(&mut tally);
        Ok(Sent {
            count,
            stop: tally.stop,
            lost_claim: tally.lost_claim,
            throttles,
            resynced,
        })
    }

    /// 7. Complete the page (counters, failures, outstanding count, one atomic write); the
    ///    delivery that completes the last page finishes the execution. A page that stops
    ///    its execution fails it *before* completing: a death in between leaves the
    ///    execution failed, never a done last page that the next delivery would finish as
    ///    if nothing had stopped it (a redelivery reads the stop back from its batches).
    async fn complete(
        &self,
        task: &PageTask,
        prepared: &Prepared,
        sent: Sent,
        next_page_queued: bool,
    ) -> Step<PageOutcome> {
        if let Some(until) = sent.lost_claim {
            // Another delivery took the page over (ours had lapsed): it completes the page.
            let mut outcome = PageOutcome::held_elsewhere(task, wait_for(self, until));
            outcome.next_page_queued = next_page_queued;
            return Ok(outcome);
        }
        let failed_here = match &sent.stop {
            Some(message) => Some(self.fail_execution(&task.execution_id, message).await?),
            None => None,
        };
        let counters = sent.count.counters;
        let remaining = self
            .state
            .complete_page(
                &task.execution_id,
                &task.page_key(),
                &counters,
                sent.count.failures(),
                self.clock.now(),
            )
            .await
            .map_err(EngineError::State)?;
        failpoint!("page.after_complete");
        let mut outcome = PageOutcome::processed(
            task,
            counters,
            next_page_queued,
            sent.throttles,
            sent.resynced,
        );
        let Some(remaining) = remaining else {
            // A concurrent delivery completed the page first; it counted it.
            outcome.disposition = PageDisposition::AlreadyDone;
            outcome.counters = Default::default();
            return Ok(outcome);
        };
        if let Some(failed_here) = failed_here {
            if failed_here {
                // Read after the page's counters were added: the execution as it ended.
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
}

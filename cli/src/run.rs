//! `dynsync run FILE`: one execution of an integration, to the end, on this machine.
//!
//! The definition is validated and stored in the state folder; an unfinished execution of
//! the same integration whose process is gone is resumed (same id, remaining pages; the
//! decision and the take-over of its run lock are one transaction, so of two runs started
//! at once only one resumes it); otherwise a new one starts. A pool of workers then
//! processes page tasks from the local queue with the same engine the Lambdas run.
//! Progress goes to stderr; the summary (or, with `--json`, exactly one JSON object: the
//! execution record) to stdout. Exit codes: 0 succeeded, 3 completed with record failures,
//! 1 failed, 2 invalid input.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dynsync_domain::execution::{Counters, Execution, Trigger};
use dynsync_domain::ports::{Connectors, Definitions, SecretStore};
use dynsync_engine::memory::{MemoryQueue, MemoryStateStore};
use dynsync_engine::{Engine, EngineConfig, OnProgress, PageDisposition, StartOutcome};
use dynsync_local::local_owner_tag;
use dynsync_local::owner::TakeOver;
use dynsync_wiring::LiveConnectors;
use indicatif::{ProgressBar, ProgressStyle};

use crate::context::{self, CommonArgs, Context, Failure};
use crate::dry_run::DryRunConnectors;
use crate::local::exit_code_of;
use crate::report;
use tracing::Instrument;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Page tasks processed at once (each fetches from Dataverse and upserts to Insider);
    /// together they hold at most about 6 MiB of records, so large pages may go one at a time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Send nothing: write each Insider request body to this file (one per line). Reads as
    /// a first run would and records nothing in the state folder.
    #[arg(long, value_name = "PAYLOAD_FILE")]
    pub dry_run: Option<PathBuf>,
    /// Seconds subtracted from the start time for an incremental window's end, for
    /// Dataverse transactions that commit late.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub safety_lag: u64,
}

pub fn run(args: &RunArgs) -> ExitCode {
    match context::block_on(execute(args)) {
        Ok(execution) => {
            let printed = if args.common.json {
                context::print_json(&execution)
            } else {
                report::print_execution(&execution);
                Ok(())
            };
            match printed {
                Ok(()) => ExitCode::from(exit_code_of(&execution)),
                Err(failure) => failure.report(),
            }
        }
        Err(failure) => failure.report(),
    }
}

/// Runs (or resumes) one execution to its end; `dynsync demo` calls this too.
pub async fn execute(args: &RunArgs) -> Result<Execution, Failure> {
    let ctx = Context::load(&args.common)?;
    let config = EngineConfig {
        safety_lag: Duration::from_secs(args.safety_lag),
        ..EngineConfig::default()
    };
    let secrets: Arc<dyn SecretStore> = ctx.secrets.clone();
    let owner = local_owner_tag();
    if let Some(path) = &args.dry_run {
        let connectors = DryRunConnectors::create(secrets, path).map_err(Failure::Input)?;
        let execution = run_in_memory(&ctx, Arc::new(connectors), config, args, &owner).await?;
        eprintln!(
            "dry run: Insider request bodies written to {}",
            path.display()
        );
        return Ok(execution);
    }

    let definition = ctx.integration.definition();
    let lock_ttl = config.lock_ttl;
    let local = crate::local::open(&args.common.state)?;
    let queue = local.queue(&definition.id).map_err(crate::local::failure)?;
    local
        .state
        .put_definition(definition)
        .await
        .map_err(|e| Failure::Remote(format!("cannot store the definition: {e}")))?;
    let engine = local.engine(
        queue.clone(),
        Arc::new(LiveConnectors::new(secrets).with_concurrency(usize::from(args.concurrency))),
        config,
    );

    // One transaction decides: of two runs started at once on a crashed execution, one
    // takes it over and the other is told who holds it.
    let decision = local
        .state
        .take_over_execution(&definition.id, &owner, lock_ttl)
        .await
        .map_err(|e| Failure::Remote(format!("cannot read the local state: {e}")))?;
    let execution = match decision {
        TakeOver::Resume(unfinished) => {
            let execution_id = unfinished.id;
            let resumed = engine
                .resume_execution(&execution_id, &owner)
                .await
                .map_err(|e| Failure::Remote(format!("cannot resume {execution_id}: {e}")))?;
            queue
                .make_all_visible()
                .await
                .map_err(|e| Failure::Remote(format!("cannot requeue pages: {e}")))?;
            // The dead process's claims on its in-flight pages would hold them back until
            // they lapse.
            local
                .state
                .release_page_claims(&execution_id)
                .await
                .map_err(|e| Failure::Remote(format!("cannot release page claims: {e}")))?;
            match resumed {
                Some(execution) => {
                    eprintln!(
                        "resuming execution {} of '{}' (its process is gone)",
                        execution.id, definition.id
                    );
                    execution
                }
                None => start(&engine, &ctx, &owner).await?,
            }
        }
        TakeOver::Busy {
            execution_id,
            owner: holder,
        } => {
            return Err(Failure::Remote(format!(
                "execution {execution_id} of '{}' holds the run lock: a live process ({holder}) runs or resumes it; wait for it to finish",
                definition.id
            )));
        }
        TakeOver::Nothing => start(&engine, &ctx, &owner).await?,
    };
    if execution.status.is_final() {
        return Ok(execution);
    }
    drive(engine, queue, &execution, args.concurrency).await
}

/// A dry run: in-memory state and queue, so nothing is recorded and no watermark moves.
async fn run_in_memory(
    ctx: &Context,
    connectors: Arc<dyn Connectors>,
    config: EngineConfig,
    args: &RunArgs,
    owner: &str,
) -> Result<Execution, Failure> {
    let clock = Arc::new(dynsync_domain::ports::SystemClock);
    let state = Arc::new(MemoryStateStore::new(clock.clone()));
    crate::dry_run::seed_sync_token(&state, &ctx.integration, &args.common.state).await?;
    let queue = Arc::new(MemoryQueue::new(crate::local::VISIBILITY_TIMEOUT));
    let engine = Arc::new(Engine::new(state, queue.clone(), connectors, clock, config));
    let execution = start(&engine, ctx, owner).await?;
    if execution.status.is_final() {
        return Ok(execution);
    }
    drive(engine, queue, &execution, args.concurrency).await
}

async fn start(engine: &Engine, ctx: &Context, owner: &str) -> Result<Execution, Failure> {
    let outcome = engine
        .start_execution(&ctx.integration, Trigger::Manual, owner)
        .await
        .map_err(|e| Failure::Remote(format!("cannot start the execution: {e}")))?;
    match outcome {
        StartOutcome::Started(execution) => Ok(execution),
        StartOutcome::AlreadyRunning { execution_id } => Err(Failure::Remote(format!(
            "execution {execution_id} of '{}' holds the run lock; wait for it to finish",
            ctx.integration.definition().id
        ))),
    }
}

/// Runs the execution's page tasks to the end with a progress line on a terminal.
async fn drive(
    engine: Arc<Engine>,
    queue: Arc<dyn dynsync_domain::ports::PageQueue>,
    execution: &Execution,
    concurrency: u16,
) -> Result<Execution, Failure> {
    let progress = Progress::new(&execution.counters);
    let bar = progress.bar.clone();
    let on_progress: OnProgress = {
        let progress = progress.clone();
        Arc::new(move |outcome| {
            if outcome.disposition == PageDisposition::Processed {
                progress.add(&outcome.counters);
            }
        })
    };
    let span = tracing::info_span!(
        "execution",
        execution_id = %execution.id,
        integration_id = %execution.integration_id
    );
    let result = dynsync_engine::run_until_finished(
        engine,
        queue,
        &execution.id,
        usize::from(concurrency),
        on_progress,
    )
    .instrument(span)
    .await;
    bar.finish_and_clear();
    result.map_err(|e| Failure::Remote(format!("execution {}: {e}", execution.id)))
}

/// Counters shown while a run goes, from the pages processed by this process (plus what a
/// resumed execution had done before).
#[derive(Clone)]
struct Progress {
    bar: ProgressBar,
    read: Arc<AtomicU64>,
    upserted: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    pages: Arc<AtomicU64>,
    started: Instant,
}

impl Progress {
    fn new(before: &Counters) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        let progress = Self {
            bar,
            read: Arc::new(AtomicU64::new(before.records_read)),
            upserted: Arc::new(AtomicU64::new(before.upserted)),
            failed: Arc::new(AtomicU64::new(before.failed)),
            pages: Arc::new(AtomicU64::new(before.pages)),
            started: Instant::now(),
        };
        progress.show();
        progress
    }

    fn add(&self, page: &Counters) {
        self.read.fetch_add(page.records_read, Ordering::Relaxed);
        self.upserted.fetch_add(page.upserted, Ordering::Relaxed);
        self.failed.fetch_add(page.failed, Ordering::Relaxed);
        self.pages.fetch_add(page.pages, Ordering::Relaxed);
        self.show();
    }

    fn show(&self) {
        let read = self.read.load(Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        self.bar.set_message(format!(
            "read {read} · upserted {} · failed {} · pages {} · {:.0} records/s",
            self.upserted.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.pages.load(Ordering::Relaxed),
            read as f64 / seconds,
        ));
    }
}

//! Dataverse-limit aware throughput (issue 13): 1,000,000 contacts from the Dataverse
//! emulator to the Insider emulator through the real engine, the SQLite state store and
//! queue and the live connectors (`dynsync_tests::run_local`, what `dynsync run` does minus
//! the CLI), with 100 ms per Dataverse request and Dataverse's service protection limits
//! emulated per user (6,000 requests per 5-minute sliding window, 52 concurrent requests;
//! 429 + `Retry-After` past them), id-range partitions fetched in parallel.
//!
//! Three scenarios: `dop-hint` (every reply carries `x-ms-dop-hint: 8`, 8 partitions, 16
//! page workers: the client's gate follows the hint), `no-hint` (64 partitions and 64 page
//! workers, more than the concurrency limit: only the step-down on 429 protects) and
//! `no-hint-limit8` (the same against an organization whose concurrent-requests limit is
//! 8, so the limit is reached and the step-down is seen at work). With the engine's default
//! bound on the bytes of pages in flight (6 MiB) about 15 pages of 500 of these contacts
//! are in flight at once, under Dataverse's 52, and smaller pages would need more requests
//! than 6,000 per 5 minutes allow for 1,000,000 records in 10 minutes. Each
//! prints records/s, wall time, Dataverse requests, the 429s served by reason, the peak of
//! requests in flight the emulator saw, and the targets: the records in under 10 minutes,
//! and no concurrency 429 with the dop hint.
//!
//! Run: `cargo bench -p dynsync-tests --bench dataverse_limits` (add a scenario name, e.g.
//! `-- no-hint`, to run only that one; `DYNSYNC_BENCH_RECORDS=20000` for a smoke run,
//! `DYNSYNC_BENCH_PAGE_SIZE` to change the page size from 500).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use dynsync_emulators::dataverse::{Seed, ServiceProtection};
use dynsync_tests::Stack;
use dynsync_tests::bench::CONTACT_MAPPING;
use dynsync_tests::local::run_local_plain;

const DEFAULT_RECORDS: usize = 1_000_000;
const DEFAULT_PAGE_SIZE: u32 = 500;
const LATENCY: Duration = Duration::from_millis(100);
const TARGET: Duration = Duration::from_secs(600);

struct Scenario {
    name: &'static str,
    /// `x-ms-dop-hint` on every reply.
    dop_hint: Option<u32>,
    /// `dynamics.partitions`.
    partitions: u32,
    /// Page workers (`dynsync run --concurrency`), where the client's gate starts.
    concurrency: usize,
    /// The concurrent-requests limit per user (Dataverse's default is 52).
    concurrent_limit: u64,
}

const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "dop-hint",
        dop_hint: Some(8),
        partitions: 8,
        concurrency: 16,
        concurrent_limit: 52,
    },
    Scenario {
        name: "no-hint",
        dop_hint: None,
        partitions: 64,
        concurrency: 64,
        concurrent_limit: 52,
    },
    Scenario {
        name: "no-hint-limit8",
        dop_hint: None,
        partitions: 64,
        concurrency: 64,
        concurrent_limit: 8,
    },
];

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace(['_', ','], "").parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let records: usize = env_number("DYNSYNC_BENCH_RECORDS", DEFAULT_RECORDS).max(1);
    let page_size: u32 = env_number("DYNSYNC_BENCH_PAGE_SIZE", DEFAULT_PAGE_SIZE).clamp(1, 5_000);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let limits = ServiceProtection::DATAVERSE;
    println!(
        "Dataverse-limit aware sync of {records} contacts, page size {page_size}, {} ms per Dataverse request, service protection per user: {} requests / {} s and the scenario's concurrent-requests limit (Dataverse's is {}), in one process on {} CPUs",
        LATENCY.as_millis(),
        limits.requests,
        limits.window.as_secs(),
        limits.concurrent,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<14} {:>5} {:>4} {:>5} {:>5} {:>9} {:>10} {:>9} {:>10} {:>10} {:>7} {:>6}",
        "scenario",
        "limit",
        "hint",
        "parts",
        "conc",
        "seconds",
        "records/s",
        "requests",
        "429 conc",
        "429 reqs",
        "429 inj",
        "peak"
    );
    let mut missed = false;
    for scenario in SCENARIOS
        .iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.name.contains(f.as_str())))
    {
        match runtime.block_on(run(scenario, records, page_size)) {
            Ok(held) => missed |= !held,
            Err(error) => {
                eprintln!("{}: {error:#}", scenario.name);
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "limit = the concurrent-requests limit per user; peak = the most Web API requests the emulator had in flight at once (refused ones included)."
    );
    if missed {
        println!("a target was missed");
    }
    ExitCode::SUCCESS
}

/// Runs one scenario; whether its targets hold.
async fn run(scenario: &Scenario, records: usize, page_size: u32) -> anyhow::Result<bool> {
    let stack = Stack::start(Seed::contacts(records, 7)).await?;
    let faults = stack.dataverse.faults();
    faults.set_latency(LATENCY);
    faults.service_protection(ServiceProtection {
        concurrent: scenario.concurrent_limit,
        ..ServiceProtection::DATAVERSE
    });
    faults.dop_hint(scenario.dop_hint);
    let definition = stack.definition(page_size, CONTACT_MAPPING, "").replace(
        "  page_size:",
        &format!("  partitions: {}\n  page_size:", scenario.partitions),
    );
    let started = Instant::now();
    let execution = run_local_plain(&stack.state_dir(), &definition, scenario.concurrency).await?;
    let elapsed = started.elapsed();
    let c = &execution.counters;
    anyhow::ensure!(
        c.records_read == records as u64 && c.upserted == records as u64,
        "the sync did not move every contact: {:?} (status {:?}, error {:?})",
        c,
        execution.status,
        execution.error
    );
    let accepted: u64 = stack.insider.profiles().iter().map(|p| p.upserts).sum();
    anyhow::ensure!(
        accepted == records as u64,
        "Insider accepted {accepted} users, not {records}"
    );
    let throttled = faults.throttled();
    let seconds = elapsed.as_secs_f64();
    println!(
        "{:<14} {:>5} {:>4} {:>5} {:>5} {:>9.2} {:>10.0} {:>9} {:>10} {:>10} {:>7} {:>6}",
        scenario.name,
        scenario.concurrent_limit,
        scenario
            .dop_hint
            .map_or_else(|| "-".to_owned(), |h| h.to_string()),
        scenario.partitions,
        scenario.concurrency,
        seconds,
        c.records_read as f64 / seconds.max(0.001),
        stack.dataverse.requests(),
        throttled.concurrency,
        throttled.requests,
        throttled.injected,
        faults.peak_concurrent_requests(),
    );
    let in_time = elapsed < TARGET;
    println!(
        "  target: {records} records in under {} minutes: {} ({seconds:.1} s)",
        TARGET.as_secs() / 60,
        verdict(in_time)
    );
    let mut held = in_time;
    if scenario.dop_hint.is_some() {
        let untripped = throttled.concurrency == 0;
        println!(
            "  target: the concurrency limit never tripped with the dop hint (0 concurrency 429s): {} ({} served)",
            verdict(untripped),
            throttled.concurrency
        );
        held &= untripped;
    } else {
        println!(
            "  no hint: the step-down on 429 kept the run going: {} concurrency 429s, {} window 429s, peak {} against a limit of {}, all {records} records arrived",
            throttled.concurrency,
            throttled.requests,
            faults.peak_concurrent_requests(),
            scenario.concurrent_limit
        );
    }
    Ok(held)
}

fn verdict(held: bool) -> &'static str {
    if held { "holds" } else { "missed" }
}

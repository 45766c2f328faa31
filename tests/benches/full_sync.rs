//! The full-sync benchmark: 100,000 contacts from the Dataverse emulator to the Insider
//! emulator over loopback, through the real engine, the SQLite state store and queue, and
//! the live connectors (`dynsync_tests::run_local`, what `dynsync run` does minus the CLI).
//! Prints records/s, pages/s and the peak memory (VmHWM of this process, which also holds
//! both emulators and their 100k rows/profiles), for page size 500 and 5,000, concurrency
//! 1 and 4, and with 100 ms added to every Dataverse request (what pipelining buys, and
//! what four id-range partitions buy on top).
//!
//! Run: `cargo bench -p dynsync-tests --bench full_sync` (add a scenario name, e.g.
//! `-- latency`, to run only the scenarios whose name contains it).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use dynsync_emulators::dataverse::Seed;
use dynsync_tests::bench::{CONTACT_MAPPING, status_kb};
use dynsync_tests::{LocalRun, Stack, no_progress, run_local};

const CONTACTS: usize = 100_000;

struct Scenario {
    name: &'static str,
    page_size: u32,
    concurrency: usize,
    latency: Duration,
    /// `dynamics.partitions`: id ranges fetched in parallel.
    partitions: u32,
}

const SCENARIOS: [Scenario; 6] = [
    Scenario {
        name: "page500-c4",
        page_size: 500,
        concurrency: 4,
        latency: Duration::ZERO,
        partitions: 1,
    },
    Scenario {
        name: "page500-c1",
        page_size: 500,
        concurrency: 1,
        latency: Duration::ZERO,
        partitions: 1,
    },
    Scenario {
        name: "page5000-c4",
        page_size: 5000,
        concurrency: 4,
        latency: Duration::ZERO,
        partitions: 1,
    },
    Scenario {
        name: "latency100ms-page500-c1",
        page_size: 500,
        concurrency: 1,
        latency: Duration::from_millis(100),
        partitions: 1,
    },
    Scenario {
        name: "latency100ms-page500-c4",
        page_size: 500,
        concurrency: 4,
        latency: Duration::from_millis(100),
        partitions: 1,
    },
    Scenario {
        name: "latency100ms-page500-c4-p4",
        page_size: 500,
        concurrency: 4,
        latency: Duration::from_millis(100),
        partitions: 4,
    },
];

fn main() -> ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
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
    println!(
        "full sync of {CONTACTS} contacts, Dataverse emulator -> engine (SQLite state + queue, live connectors) -> Insider emulator, in one process on {} CPUs",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<26} {:>6} {:>5} {:>9} {:>10} {:>8} {:>9} {:>9}",
        "scenario", "page", "conc", "seconds", "records/s", "pages/s", "VmHWM MB", "VmRSS MB"
    );
    for scenario in SCENARIOS
        .iter()
        .filter(|s| filters.is_empty() || filters.iter().any(|f| s.name.contains(f.as_str())))
    {
        if let Err(error) = runtime.block_on(run(scenario)) {
            eprintln!("{}: {error:#}", scenario.name);
            return ExitCode::FAILURE;
        }
    }
    println!(
        "VmHWM is the whole process's high-water mark so far (emulators with their 100k rows and profiles included)."
    );
    ExitCode::SUCCESS
}

async fn run(scenario: &Scenario) -> anyhow::Result<()> {
    let stack = Stack::start(Seed::contacts(CONTACTS, 7)).await?;
    stack.dataverse.faults().set_latency(scenario.latency);
    let definition = stack
        .definition(scenario.page_size, CONTACT_MAPPING, "")
        .replace(
            "  page_size:",
            &format!("  partitions: {}\n  page_size:", scenario.partitions),
        );
    let started = Instant::now();
    let execution = run_local(
        LocalRun {
            state_dir: &stack.state_dir(),
            definition: &definition,
            concurrency: scenario.concurrency,
            safety_lag: Duration::ZERO,
            on_progress: no_progress(),
        },
        |queue| queue,
    )
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let c = &execution.counters;
    anyhow::ensure!(
        c.records_read == CONTACTS as u64 && c.upserted == CONTACTS as u64,
        "the sync did not move every contact: {:?} (status {:?}, error {:?})",
        c,
        execution.status,
        execution.error
    );
    // Users merge into profiles by any shared identifier (the seed's random phones collide
    // now and then), so count accepted users rather than profiles.
    let accepted: u64 = stack.insider.profiles().iter().map(|p| p.upserts).sum();
    anyhow::ensure!(
        accepted == CONTACTS as u64,
        "Insider accepted {accepted} users, not {CONTACTS}"
    );
    println!(
        "{:<26} {:>6} {:>5} {:>9.2} {:>10.0} {:>8.1} {:>9.1} {:>9.1}",
        scenario.name,
        scenario.page_size,
        scenario.concurrency,
        seconds,
        c.records_read as f64 / seconds,
        c.pages as f64 / seconds,
        status_kb("VmHWM") as f64 / 1024.0,
        status_kb("VmRSS") as f64 / 1024.0,
    );
    Ok(())
}

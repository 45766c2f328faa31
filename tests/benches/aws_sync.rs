//! The AWS benchmark: a full sync through the deployed path on this machine. The dispatcher
//! and worker Lambda handlers run over the AWS adapters (DynamoDB, SQS and Secrets Manager
//! on moto) and the live connectors (Dataverse and Insider emulators over loopback); SQS
//! batches are received from moto and handed to the worker as Lambda's event source does,
//! in a child process of its own (`--sync-worker`: a warm worker container, its memory
//! apart from the emulators'). Reports records/s, AWS requests per 1,000 records by service
//! (from `AwsRequestCounter`) and by operation against issue 13's target (<= 15 at page
//! size 500), the worker's memory high-water mark after a tenth of the records and at the
//! end (flat: within 10%), its cold start and its memory per page (each in a fresh child),
//! and the cost per million records at us-east-1 list prices.
//!
//! Run: `cargo bench -p dynsync-tests --bench aws_sync` (moto from `AWS_ENDPOINT_URL`, or
//! started from the tools venv of infra/scripts/test.sh). `DYNSYNC_BENCH_RECORDS` sets the
//! records (default 100,000 at page size 500; 2000 for a smoke test). At 1,000,000 moto
//! itself is the limit: its `TransactWriteItems` deep-copies the whole table per call, so
//! it slows as the ledger grows and its RSS passed 10 GB near 870,000 records on the
//! 2-core, 24 GB machine. The member set of incremental lists is measured first
//! (`aws_sync/members.rs`; `DYNSYNC_BENCH_ONLY_MEMBERS=1` stops after it,
//! `DYNSYNC_BENCH_MEMBERS_1M=1` adds a 1,000,000-member set).

#[path = "aws_sync/children.rs"]
mod children;
#[path = "aws_sync/cost.rs"]
mod cost;
#[path = "aws_sync/event_source.rs"]
mod event_source;
#[path = "aws_sync/members.rs"]
mod members;
#[path = "aws_sync/moto.rs"]
mod moto;
#[path = "aws_sync/report.rs"]
mod report;
#[path = "../src/sqs_event.rs"]
mod sqs_event;
#[path = "aws_sync/sync.rs"]
mod sync;
#[path = "aws_sync/tally.rs"]
mod tally;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, ensure};
use dynsync_aws::AwsRequestCounter;
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator};

/// Records in the sync unless `DYNSYNC_BENCH_RECORDS` says otherwise.
const DEFAULT_RECORDS: usize = 100_000;
/// The sync's page size (the definition default).
const PAGE_SIZE: u32 = 500;
/// Page sizes whose memory high-water mark is measured (the first is the target's).
const MEMORY_PAGE_SIZES: [u32; 2] = [5000, 500];
/// Fresh processes timed for the cold start.
const COLD_STARTS: usize = 5;

fn main() -> ExitCode {
    let main_started = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.iter().any(|a| a == children::COLD_START) {
        children::cold_start(main_started).map(|()| ExitCode::SUCCESS)
    } else if args.iter().any(|a| a == children::SYNC_WORKER) {
        sync::sync_worker().map(|()| ExitCode::SUCCESS)
    } else if args.iter().any(|a| a == children::PAGE_MEMORY) {
        children::page_memory().map(|()| ExitCode::SUCCESS)
    } else if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        with_moto(&args)
    } else {
        bench().map(|()| ExitCode::SUCCESS)
    };
    result.unwrap_or_else(|error| {
        eprintln!("aws_sync: {error:#}");
        ExitCode::FAILURE
    })
}

/// Starts moto and runs the benchmark again pointed at it.
fn with_moto(args: &[String]) -> anyhow::Result<ExitCode> {
    let moto = moto::Moto::start()?;
    eprintln!(
        "AWS_ENDPOINT_URL is not set: started moto on {}",
        moto.endpoint
    );
    let status = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .envs(moto.sdk_env())
        .status()
        .context("cannot run the benchmark against moto")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn bench() -> anyhow::Result<()> {
    let records = match std::env::var("DYNSYNC_BENCH_RECORDS") {
        Ok(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| {
                format!("DYNSYNC_BENCH_RECORDS must be a positive whole number, not '{text}'")
            })?,
        Err(_) => DEFAULT_RECORDS,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(records))
}

async fn run(records: usize) -> anyhow::Result<()> {
    println!(
        "AWS benchmark: {records} contacts, page size {PAGE_SIZE}; dispatcher + worker handlers over the AWS adapters on moto ({}), Dataverse and Insider emulators on loopback; {} CPUs",
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_default(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let seeding = Instant::now();
    let dataverse = DataverseEmulator::start(Seed::contacts(records, 7)).await?;
    let insider = InsiderEmulator::start(InsiderConfig::default()).await?;
    let sdk = dynsync_aws::infra::moto_sdk_config()
        .await
        .ok_or_else(|| anyhow::anyhow!("AWS_ENDPOINT_URL is not set"))?;
    members::report(&sdk).await?;
    if std::env::var_os("DYNSYNC_BENCH_ONLY_MEMBERS").is_some() {
        return Ok(());
    }
    let res = sync::Resources::create(sdk, dataverse, insider).await?;
    println!(
        "set-up (emulators seeded, table, secrets): {:.1} s",
        seeding.elapsed().as_secs_f64()
    );

    let integration = res.integration("sync", PAGE_SIZE)?;
    let expected = u64::try_from(records)?;
    let sync = sync::run(&res, &integration, expected).await?;
    // Every record was upserted (checked in `sync::run`); the seed's random phone numbers
    // collide now and then, and Insider merges users that share an identifier.
    let profiles = res.insider.profiles().len();
    ensure!(
        profiles > 0 && profiles <= records,
        "Insider holds {profiles} profiles after upserting {records} users"
    );
    println!("Insider holds {profiles} profiles (users sharing a phone number merge)");
    let items = report::item_sizes(&res).await?;

    let mut cold = Vec::new();
    let queue_url = res.create_queue("cold").await?;
    for _ in 0..COLD_STARTS {
        let env = [
            ("DYNSYNC_TABLE", res.table.as_str()),
            ("DYNSYNC_QUEUE_URL", queue_url.as_str()),
        ];
        cold.push(children::spawn(children::COLD_START, &env).await?);
    }

    let mut memory = Vec::new();
    for page_size in MEMORY_PAGE_SIZES {
        let suffix = format!("mem{page_size}");
        let queue_url = res.create_queue(&suffix).await?;
        let integration = res.integration(&suffix, page_size)?;
        let (counter, tally) = (AwsRequestCounter::new(), tally::OperationTally::default());
        res.start(&integration, &queue_url, &counter, &tally)
            .await?;
        let env = [
            ("DYNSYNC_TABLE", res.table.as_str()),
            ("DYNSYNC_QUEUE_URL", queue_url.as_str()),
        ];
        memory.push((
            page_size,
            children::spawn(children::PAGE_MEMORY, &env).await?,
        ));
    }

    report::print(
        &sync,
        &items,
        &cold,
        &memory,
        dynsync_tests::bench::status_kb("VmHWM"),
    )
}

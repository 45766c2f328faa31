//! The benchmark's output: the sync, AWS requests per 1,000 records by service and by
//! operation against the target, the state table's item sizes (for request units), the
//! cold starts, the memory per page, and the cost per million records with its prices.

use std::collections::BTreeMap;

use crate::children::ChildReport;
use crate::cost::{self, ItemUnits, US_EAST_1};
use crate::sync::{BATCH_SIZE, Resources, SyncReport};
use crate::tally::OperationCount;

/// AWS requests per 1,000 records at page size 500 (issue 13's target; 16.2 measured
/// before a page's execution check and ledger read became one request).
const TARGET_PER_THOUSAND: f64 = 15.0;
/// "Flat" memory: the worker's high-water mark at the end of the sync within this share
/// above the one after the first tenth of its records.
const FLAT_MEMORY_MARGIN: f64 = 0.10;
/// Worker cold start target, ms.
const TARGET_COLD_MS: f64 = 50.0;
/// Memory of a worker processing one 5,000-record page, MB (issue 13's target).
const TARGET_PAGE_MB: f64 = 32.0;
/// The partition key of stored definitions (shared/aws's schema).
const DEFINITION_PK: &str = "DEFINITION";
/// Item kinds written once per execution or push, not per page.
const ONCE_PER_EXECUTION: [&str; 3] = [DEFINITION_PK, "PLAN", "LOCK"];
/// The kind of the page ledger's items.
const PAGE: &str = "PAGE";
/// template.yaml's worker MemorySize, GB.
const WORKER_MEMORY_GB: f64 = 0.5;

/// Largest item and item count per kind (the sort key up to its first `#`).
pub async fn item_sizes(res: &Resources) -> anyhow::Result<BTreeMap<String, (usize, usize)>> {
    let client = aws_sdk_dynamodb::Client::new(&res.sdk);
    let mut pages = client
        .scan()
        .table_name(&res.table)
        .into_paginator()
        .items()
        .send();
    let mut kinds: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    while let Some(item) = pages.next().await {
        let item = item?;
        let text = |key: &str| {
            item.get(key)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
        };
        let kind = match (text("pk"), text("sk")) {
            (Some(DEFINITION_PK), _) => DEFINITION_PK,
            (_, Some(sk)) => sk.split('#').next().unwrap_or(sk),
            _ => "?",
        }
        .to_owned();
        let entry = kinds.entry(kind).or_default();
        entry.0 = entry.0.max(cost::item_size(&item));
        entry.1 += 1;
    }
    Ok(kinds)
}

fn per_thousand(count: u64, records: u64) -> f64 {
    count as f64 * 1000.0 / records.max(1) as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn operations(title: &str, ops: &BTreeMap<String, OperationCount>, records: u64) {
    println!("  {title}:");
    for (name, c) in ops {
        println!(
            "    {name:<34} {:>7} requests {:>6.2} /1k records   {:>7} items",
            c.requests,
            per_thousand(c.requests, records),
            c.units
        );
    }
}

fn verdict(holds: bool) -> &'static str {
    if holds { "holds" } else { "MISSED" }
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

pub fn print(
    sync: &SyncReport,
    items: &BTreeMap<String, (usize, usize)>,
    cold: &[ChildReport],
    memory: &[(u32, ChildReport)],
    bench_kb: u64,
) -> anyhow::Result<()> {
    let n = sync.records;
    println!(
        "\nsync: {n} records, {} pages in {:.1} s ({:.0} records/s); {} worker invocations (batches of up to {BATCH_SIZE}), {:.1} s in the handler",
        sync.pages,
        sync.seconds,
        n as f64 / sync.seconds,
        sync.invocations,
        sync.handler_seconds
    );

    let r = sync.requests;
    let total = per_thousand(r.total(), n);
    println!(
        "\nAWS requests of the functions (AwsRequestCounter; dispatcher start included), per 1,000 records:"
    );
    println!(
        "  DynamoDB        {:>7} requests  {:>6.2}",
        r.dynamodb,
        per_thousand(r.dynamodb, n)
    );
    println!(
        "  SQS             {:>7} requests  {:>6.2}",
        r.sqs,
        per_thousand(r.sqs, n)
    );
    println!(
        "  Secrets Manager {:>7} requests  {:>6.2}",
        r.secretsmanager,
        per_thousand(r.secretsmanager, n)
    );
    println!(
        "  total           {:>7} requests  {total:>6.2}   target <= {TARGET_PER_THOUSAND} (page size 500): {}",
        r.total(),
        verdict(total <= TARGET_PER_THOUSAND)
    );
    operations("by operation (functions)", &sync.operations, n);
    let source: u64 = sync.event_source.values().map(|c| c.requests).sum();
    operations(
        "by operation (Lambda's SQS event source, not in the total above)",
        &sync.event_source,
        n,
    );
    println!(
        "  functions + event source: {:.2} per 1,000 records",
        per_thousand(r.total() + source, n)
    );

    println!(
        "\nstate table items (largest size per kind, DynamoDB's size rules; request units in the cost below):"
    );
    for (kind, (size, count)) in items {
        println!("  {kind:<12} {count:>6} items, largest {size:>6} bytes");
    }
    // Per page: the ledger item (large once it holds a batch's record ids) and the execution
    // item; the plan and the definition are written once per execution (or push).
    let largest = |keep: &dyn Fn(&str) -> bool| {
        items
            .iter()
            .filter(|(kind, _)| keep(kind))
            .map(|(_, (size, _))| *size)
            .max()
            .unwrap_or(0)
    };
    let units_of =
        |bytes: usize, unit: usize| u64::try_from(bytes.div_ceil(unit)).unwrap_or(1).max(1);
    let units = ItemUnits {
        write_kb: units_of(
            largest(&|k| k != PAGE && !ONCE_PER_EXECUTION.contains(&k)),
            1024,
        ),
        batch_write_kb: units_of(largest(&|k| k == PAGE), 1024),
        read_4kb: units_of(largest(&|k| k != PAGE), 4096),
    };

    println!(
        "\nworker cold start ({} fresh processes; in-process from main's first line: tokio runtime, AwsConfig::from_env, AwsPorts::build, Worker::new):",
        cold.len()
    );
    let mut ready = Vec::new();
    let mut spawn = Vec::new();
    let mut first = Vec::new();
    for c in cold {
        ready.push(c.get("ready_us")? / 1000.0);
        first.push(c.get("first_request_us")? / 1000.0);
        spawn.push(c.spawn_to_line.as_secs_f64() * 1000.0);
    }
    let show = |name: &str, v: &[f64]| {
        let list: Vec<String> = v.iter().map(|x| format!("{x:.1}")).collect();
        println!(
            "  {name:<52} median {:>7.1} ms  [{}]",
            median(v.to_vec()),
            list.join(", ")
        );
    };
    show("handler ready (in-process wiring)", &ready);
    show(
        "first DynamoDB request after ready (connect + creds)",
        &first,
    );
    show(
        "spawn to ready line (exec, loader, wiring, request)",
        &spawn,
    );
    let cold_median = median(ready);
    println!(
        "  target < {TARGET_COLD_MS} ms (in-process wiring): {}",
        verdict(cold_median < TARGET_COLD_MS)
    );

    let (early, end) = (sync.worker_early_kb, sync.worker_end_kb);
    let growth = end as f64 / early.max(1) as f64 - 1.0;
    println!("\nmemory of the sync (VmHWM, the process's RSS high-water mark):");
    println!(
        "  worker process (one child handling every invocation, as a warm Lambda container): {:.1} MB after {} records, {:.1} MB after all {n} ({:+.1}%); flat (within {:.0}%): {}",
        mb(early),
        sync.worker_early_records,
        mb(end),
        growth * 100.0,
        FLAT_MEMORY_MARGIN * 100.0,
        verdict(growth <= FLAT_MEMORY_MARGIN)
    );
    println!(
        "  benchmark process: {:.1} MB (both emulators, which hold every record and profile, and the dispatcher; grows with the records by the emulators' design)",
        mb(bench_kb)
    );

    println!(
        "\nworker memory per page (VmHWM of a fresh child process that wires the worker and handles one page task; emulators and moto in other processes):"
    );
    for (page_size, m) in memory {
        let page_mb = m.get("page_kb")? / 1024.0;
        let target = if *page_size == 5000 {
            format!(
                "  target < {TARGET_PAGE_MB} MB: {}",
                verdict(page_mb < TARGET_PAGE_MB)
            )
        } else {
            String::new()
        };
        println!(
            "  page size {page_size:>5}: {:>5.0} records in {:>6.0} ms; VmHWM ready {:>5.1} MB, after the page {page_mb:>5.1} MB{target}",
            m.get("records")?,
            m.get("page_ms")?,
            m.get("ready_kb")? / 1024.0,
        );
    }

    let p = &US_EAST_1;
    let c = cost::per_million(sync, WORKER_MEMORY_GB, &units, p);
    println!(
        "\ncost per 1,000,000 records (us-east-1 list prices, no free tier; scaled from this run):"
    );
    println!(
        "  Lambda duration  ${:>8.4}  handler time x {WORKER_MEMORY_GB} GB (template MemorySize) x ${}/GB-s (arm64)",
        c.lambda_duration, p.lambda_gb_second
    );
    println!(
        "  Lambda requests  ${:>8.4}  worker invocations + 1 dispatcher x $0.20/million",
        c.lambda_requests
    );
    println!(
        "  SQS              ${:>8.4}  function + event-source requests x $0.40/million (page tasks < 64 KB: 1 request each)",
        c.sqs
    );
    println!(
        "  DynamoDB writes  ${:>8.4}  batch records x {} WRU (largest page item) + other items written x {} WRU, x $0.625/million WRU (on-demand; a transaction's items count twice)",
        c.dynamodb_writes, units.batch_write_kb, units.write_kb
    );
    println!(
        "  DynamoDB reads   ${:>8.4}  items read x {} RRU (strongly consistent; a first delivery reads its page before any batch) x $0.125/million RRU",
        c.dynamodb_reads, units.read_4kb
    );
    println!(
        "  Secrets Manager  ${:>8.4}  API calls x $0.05/10,000",
        c.secrets
    );
    println!("  total            ${:>8.4}", c.total());
    println!(
        "  not included: secret storage ($0.40/secret-month), CloudWatch Logs/metrics, GSI writes at an execution's start and finish (a few WRU per execution), idle SQS polling by the event source, data transfer; handler time here is loopback, real Dataverse/Insider latency lengthens it"
    );
    Ok(())
}

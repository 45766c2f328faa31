//! Benchmark: mapping a 5,000-record page of 20-field contacts (3 identifiers, 8 attributes
//! with 2 label conversions and one inverted boolean, one event with 3 parameters) from the
//! page's JSON bytes into upsert bodies, against a baseline that parses the same bytes into
//! `serde_json::Value` and serialises them back. Prints records/s for both, the ratio and
//! whether it holds (target, issue 13: mapping at least 0.7x the baseline). Run with
//! `cargo bench -p dynsync-mapping --bench mapping`.
//!
//! With `DYNSYNC_MAPPING_BENCH_SIDE=mapping` (or `baseline`) only that side runs, once to
//! warm up and then `DYNSYNC_MAPPING_BENCH_ITERATIONS` times (default 1), untimed: this is
//! what `infra/scripts/bench-mapping-callgrind.sh` counts instructions of. The definition and
//! the page are the test fixtures' (`tests/support`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use dynsync_domain::batch::{self, upsert_body};
use dynsync_mapping::{Mapper, Outcome};
use serde_json::Value;

#[path = "../tests/support/mod.rs"]
mod support;

const RECORDS: usize = 5_000;
const ROUNDS: usize = 12;
/// Mapping's records/s at least this share of the baseline's (issue 13).
const TARGET_RATIO: f64 = 0.7;

/// Parse the page, map every record (freeing it once mapped), split into batches and write
/// every upsert body.
fn map_page(bytes: &[u8], mapper: &Mapper) -> (usize, usize) {
    let processing_time = support::now();
    // The Dataverse client's own page decoder.
    let Ok(page) = dynsync_dynamics::decode_page(bytes) else {
        return (0, 0);
    };
    // As the engine does (`map_unsent`): each record is consumed by its mapping and freed.
    let mut users = Vec::with_capacity(page.records.len());
    for record in page.records {
        if let Outcome::User(user) = mapper.map(&record, processing_time).outcome {
            users.push(user);
        }
    }
    let bytes: usize = batch::split(&users, false)
        .into_iter()
        .map(|range| upsert_body(users.get(range).unwrap_or_default(), false).len())
        .sum();
    (users.len(), bytes)
}

fn baseline(bytes: &[u8]) -> usize {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|value| serde_json::to_vec(&value).ok())
        .map_or(0, |out| out.len())
}

/// Times `a` and `b` alternately for `ROUNDS` rounds after one warm-up each, so load on a
/// shared machine hits both alike; returns the median of each.
fn medians(mut a: impl FnMut(), mut b: impl FnMut()) -> (Duration, Duration) {
    a();
    b();
    let mut times_a = Vec::with_capacity(ROUNDS);
    let mut times_b = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        a();
        times_a.push(start.elapsed());
        let start = Instant::now();
        b();
        times_b.push(start.elapsed());
    }
    times_a.sort();
    times_b.sort();
    let median = |times: &[Duration]| times.get(ROUNDS / 2).copied().unwrap_or_default();
    (median(&times_a), median(&times_b))
}

/// Runs one side alone (`DYNSYNC_MAPPING_BENCH_SIDE`), a warm-up and then
/// `DYNSYNC_MAPPING_BENCH_ITERATIONS` times, for instruction counting.
fn run_side(side: &str, bytes: &[u8], mapper: &Mapper) {
    let iterations: usize = std::env::var("DYNSYNC_MAPPING_BENCH_ITERATIONS")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(1);
    let run = || match side {
        "mapping" => map_page(black_box(bytes), mapper).1,
        _ => baseline(black_box(bytes)),
    };
    let out = black_box(run());
    for _ in 0..iterations {
        black_box(run());
    }
    println!("side: {side}, {iterations} iterations after one warm-up, {out} bytes out");
}

fn main() {
    let bytes = support::bench_page(RECORDS);
    let Some(mapper) = support::bench_mapper() else {
        eprintln!("benchmark definition is invalid");
        std::process::exit(2);
    };
    if let Ok(side) = std::env::var("DYNSYNC_MAPPING_BENCH_SIDE") {
        if side != "mapping" && side != "baseline" {
            eprintln!("DYNSYNC_MAPPING_BENCH_SIDE must be mapping or baseline, not {side:?}");
            std::process::exit(2);
        }
        run_side(&side, &bytes, &mapper);
        return;
    }
    let (users, body_bytes) = map_page(&bytes, &mapper);
    if users != RECORDS {
        eprintln!("only {users} of {RECORDS} records mapped to users");
        std::process::exit(1);
    }

    let (base, mapping) = medians(
        || {
            black_box(baseline(black_box(&bytes)));
        },
        || {
            black_box(map_page(black_box(&bytes), &mapper));
        },
    );
    let rate = |d: Duration| RECORDS as f64 / d.as_secs_f64().max(f64::EPSILON);
    println!(
        "page: {RECORDS} records, {} bytes of JSON; upsert bodies: {body_bytes} bytes",
        bytes.len()
    );
    println!(
        "baseline (parse to Value + serialise): {:>12.0} records/s ({base:?} per page)",
        rate(base)
    );
    println!(
        "mapping  (parse + map + upsert body):  {:>12.0} records/s ({mapping:?} per page)",
        rate(mapping)
    );
    let ratio = rate(mapping) / rate(base);
    println!(
        "ratio mapping/baseline: {ratio:.2}x (target >= {TARGET_RATIO}x: {})",
        if ratio >= TARGET_RATIO {
            "holds"
        } else {
            "MISSED"
        }
    );
}

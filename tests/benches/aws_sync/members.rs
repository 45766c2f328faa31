//! The member-set part of the AWS benchmark (`list_mode: changes`, issue 12): a list's
//! member set staged page by page, committed and read back by page ranges on the
//! DynamoDB adapter over moto, as a run of an incremental list does. Prints the requests
//! and the bytes stored per 1,000 members; with `DYNSYNC_BENCH_MEMBERS_1M=1`, also the time
//! to write and to read a 1,000,000-member set (pages of 5,000, the largest page size).

use std::time::Instant;

use anyhow::ensure;
use aws_config::SdkConfig;
use dynsync_aws::{AwsRequestCounter, DynamoDbStateStore, infra};
use dynsync_domain::ports::{MemberKey, MemberRange, MemberSets};

/// Members of the always-run part, and its page size (the definition default).
const MEMBERS: usize = 20_000;
const PAGE: usize = 500;
const MILLION: usize = 1_000_000;
const MILLION_PAGE: usize = 5_000;

/// Spread member keys, ascending.
fn keys(n: usize) -> Vec<MemberKey> {
    let step = u128::MAX / (n as u128 + 1);
    (1..=n as u128).map(|i| i * step).collect()
}

/// Page ranges over `keys` in pages of `page`: `(after, until]`, the last open.
fn ranges(keys: &[MemberKey], page: usize) -> Vec<(MemberRange, &[MemberKey])> {
    let chunks: Vec<&[MemberKey]> = keys.chunks(page).collect();
    let mut after = None;
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let until = if i + 1 == chunks.len() {
            None
        } else {
            chunk.last().copied()
        };
        out.push((MemberRange { after, until }, *chunk));
        after = until;
    }
    out
}

struct Figures {
    write_requests: u64,
    read_requests: u64,
    write_seconds: f64,
    read_seconds: f64,
}

async fn round(sdk: &SdkConfig, n: usize, page: usize) -> anyhow::Result<Figures> {
    let counter = AwsRequestCounter::new();
    let table = format!("dynsync-bench-members-{}", uuid::Uuid::new_v4().simple());
    let store = DynamoDbStateStore::from_client(counter.dynamodb_client(sdk, &[]), &table);
    infra::create_table(store.client(), &table).await?;
    let all = keys(n);
    let pages = ranges(&all, page);
    let (integration, first, second) = ("bench-list", "exec-1", "exec-2");
    // A previous run's set, so the reads below are a second run's.
    for (range, ids) in &pages {
        store.stage_members(integration, first, *range, ids).await?;
    }
    store.promote_members(integration, first).await?;

    let before = counter.total();
    let started = Instant::now();
    let mut read = 0;
    for (range, _) in &pages {
        read += store
            .committed_members(integration, *range)
            .await?
            .map_or(0, |v| v.len());
    }
    let read_seconds = started.elapsed().as_secs_f64();
    let read_requests = counter.total() - before;
    ensure!(read == n, "read {read} members back, staged {n}");

    let before = counter.total();
    let started = Instant::now();
    for (range, ids) in &pages {
        store
            .stage_members(integration, second, *range, ids)
            .await?;
    }
    store.promote_members(integration, second).await?;
    let write_seconds = started.elapsed().as_secs_f64();
    // The promotion's clean-up of the previous generation is counted too.
    let write_requests = counter.total() - before;
    Ok(Figures {
        write_requests,
        read_requests,
        write_seconds,
        read_seconds,
    })
}

/// Bytes of one chunk item as DynamoDB sizes it (names + values).
fn chunk_bytes(integration: &str, ids: usize) -> usize {
    let pk = "pk".len() + "MEMBERS#".len() + integration.len();
    let sk = "sk".len() + 36 + 1 + 32;
    pk + sk + "ids".len() + 16 * ids
}

pub async fn report(sdk: &SdkConfig) -> anyhow::Result<()> {
    let f = round(sdk, MEMBERS, PAGE).await?;
    let per_k = |requests: u64| requests as f64 * 1_000.0 / MEMBERS as f64;
    let stored = (MEMBERS / PAGE) * chunk_bytes("bench-list", PAGE);
    println!(
        "member set ({MEMBERS} members, pages of {PAGE}): per 1,000 members {:.1} DynamoDB requests to read a run's previous set by page range, {:.1} to stage and commit the new one; {:.0} bytes stored per 1,000 members ({} bytes of ids); read {:.2} s, write {:.2} s",
        per_k(f.read_requests),
        per_k(f.write_requests),
        stored as f64 * 1_000.0 / MEMBERS as f64,
        16_000,
        f.read_seconds,
        f.write_seconds,
    );
    if std::env::var_os("DYNSYNC_BENCH_MEMBERS_1M").is_some() {
        let f = round(sdk, MILLION, MILLION_PAGE).await?;
        println!(
            "member set of {MILLION} members (pages of {MILLION_PAGE}): write (stage + commit) {:.1} s in {} requests, read by page range {:.1} s in {} requests",
            f.write_seconds, f.write_requests, f.read_seconds, f.read_requests
        );
    } else {
        println!("(set DYNSYNC_BENCH_MEMBERS_1M=1 to time a 1,000,000-member set)");
    }
    Ok(())
}

//! Incremental marketing lists (`source.list_mode: changes`, issue 12) on the in-memory
//! ports: joiners and changed members upserted, unchanged ones skipped, leavers given the
//! `removals`, exact at page and partition boundaries whatever moved between runs, and a
//! failed run leaving the member set for the next one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use dynsync_domain::Integration;
use dynsync_domain::execution::{Execution, ExecutionStatus};
use dynsync_domain::ports::MemberRange;
use dynsync_engine::memory::MemoryQueue;
use support::source::{Row, contact, contacts};
use support::{DuplicatingQueue, Harness, ScriptedSource, Spec, assert_counters_add_up, at};

fn spec(page_size: u32, partitions: u32, removals: &'static str) -> Spec {
    Spec {
        id: "vip".into(),
        list: Some("VIP"),
        page_size,
        partitions,
        removals: Some(removals),
        ..Spec::default()
    }
}

/// The spec's list read incrementally.
fn incremental(spec: &Spec) -> Integration {
    let yaml = spec.yaml().replace(
        "  list: \"VIP\"\n",
        "  list: \"VIP\"\n  list_mode: changes\n",
    );
    assert!(yaml.contains("list_mode: changes"));
    match Integration::from_yaml(&yaml) {
        Ok(integration) => integration,
        Err(problems) => panic!("test definition is invalid: {:?}", problems.0),
    }
}

/// The primary ids of the users upserted since `from` (an index into `received`).
fn upserted_since(h: &Harness, from: usize) -> BTreeSet<String> {
    h.sink.received()[from..]
        .iter()
        .filter_map(|u| u.identifiers.uuid.clone())
        .collect()
}

fn ids(rows: &[Row]) -> BTreeSet<String> {
    rows.iter().map(|r| r.id.clone()).collect()
}

fn edited(row: &Row, at: chrono::DateTime<chrono::Utc>) -> Row {
    let mut row = row.clone();
    row.modified = at;
    row.record
        .insert("modifiedon".into(), at.to_rfc3339().into());
    row.record.insert("firstname".into(), "Edited".into());
    row
}

async fn run(h: &Harness, integration: &Integration) -> Execution {
    let execution = h.run(integration).await;
    assert_counters_add_up(&execution);
    execution
}

/// Run 1 (full), then joiners, leavers and edits, run 2, and run 3 with no change, with
/// `h` over `members` (the list as run 1 sees it).
async fn three_runs(page_size: u32, partitions: u32, seed: u64) {
    let t0 = at("2026-11-27T09:00:00Z");
    let members = contacts(1, 40, t0);
    let h = Harness::new(ScriptedSource::new(members.clone()));
    let integration = incremental(&spec(page_size, partitions, "delete_profile"));

    let first = run(&h, &integration).await;
    assert_eq!(first.status, ExecutionStatus::Succeeded, "{first:?}");
    assert_eq!(first.counters.upserted, 40);
    assert_eq!((first.counters.joined, first.counters.left), (0, 0));
    let after_first = h.sink.received().len();

    // Between the runs (the engine's window for run 2 is [09:55, 10:55)).
    h.advance(Duration::hours(1));
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut leavers = Vec::new();
    let mut edits = Vec::new();
    for row in &members {
        match next() % 6 {
            0 => {
                h.source.remove(&row.id);
                leavers.push(row.clone());
            }
            1 => {
                let row = edited(row, at("2026-11-27T10:30:00Z"));
                h.source.put(vec![row.clone()]);
                edits.push(row);
            }
            _ => {}
        }
    }
    let joiners: Vec<Row> = (0..(next() % 9 + 1))
        .map(|i| {
            let n = 1_000 + seed * 100 + i;
            contact(
                n,
                Some(&format!("new{n}@example.com")),
                at("2026-11-27T10:20:00Z"),
                at("2026-11-27T10:20:00Z"),
            )
        })
        .collect();
    h.source.put(joiners.clone());

    let second = run(&h, &integration).await;
    assert_eq!(second.status, ExecutionStatus::Succeeded, "{second:?}");
    let mut expected = ids(&joiners);
    expected.extend(ids(&edits));
    assert_eq!(
        upserted_since(&h, after_first),
        expected,
        "run 2 upserts exactly the joiners and the edited (seed {seed}, page {page_size}, partitions {partitions})"
    );
    let c = second.counters;
    assert_eq!(c.upserted as usize, expected.len());
    assert_eq!(c.joined as usize, joiners.len());
    assert_eq!(c.left as usize, leavers.len());
    assert_eq!(c.removals_applied as usize, leavers.len());
    assert_eq!(
        c.skipped as usize,
        40 - leavers.len() - edits.len(),
        "every other member is skipped as unchanged"
    );
    let deleted: BTreeSet<String> = h.sink.deleted().keys().cloned().collect();
    assert_eq!(deleted, ids(&leavers), "removals go to exactly the leavers");
    assert!(h.sink.deleted().values().all(|n| *n == 1));
    let after_second = h.sink.received().len();

    h.advance(Duration::hours(1));
    let third = run(&h, &integration).await;
    assert_eq!(third.status, ExecutionStatus::Succeeded);
    assert_eq!(upserted_since(&h, after_second), BTreeSet::new());
    assert_eq!(
        (
            third.counters.upserted,
            third.counters.joined,
            third.counters.left
        ),
        (0, 0, 0)
    );
    assert_eq!(
        third.counters.skipped as usize,
        40 - leavers.len() + joiners.len()
    );
    assert_eq!(h.sink.delete_calls() as usize, leavers.len());
}

#[tokio::test]
async fn joiners_and_edited_members_are_upserted_leavers_removed_the_rest_skipped() {
    three_runs(7, 1, 1).await;
}

#[tokio::test]
async fn members_moving_across_page_and_partition_boundaries_are_never_both_or_missed() {
    // Page ends shift between runs as members join and leave: every combination of page
    // size and partitions, several change patterns.
    for (page_size, partitions) in [(1, 1), (3, 1), (5, 2), (4, 3), (8, 4), (100, 2)] {
        for seed in 2..6 {
            three_runs(page_size, partitions, seed).await;
        }
    }
}

#[tokio::test]
async fn a_failed_run_leaves_the_member_set_so_the_next_run_sees_the_same_changes() {
    let t0 = at("2026-11-27T09:00:00Z");
    let members = contacts(1, 12, t0);
    let h = Harness::new(ScriptedSource::new(members.clone()));
    let integration = incremental(&spec(5, 1, "delete_profile"));
    run(&h, &integration).await;
    let committed = |h: &Harness| {
        let members = h.engine.members().clone();
        async move {
            members
                .committed_members("vip", MemberRange::default())
                .await
                .unwrap()
                .map(|v| v.len())
        }
    };
    assert_eq!(committed(&h).await, Some(12));

    h.advance(Duration::hours(1));
    h.source.remove(&members[0].id);
    h.source.remove(&members[11].id);
    let joiners = contacts(50, 3, at("2026-11-27T10:10:00Z"));
    h.source.put(joiners.clone());
    h.sink.fail_permanently("401 the token is refused");
    let failed = run(&h, &integration).await;
    assert_eq!(failed.status, ExecutionStatus::Failed, "{failed:?}");
    assert_eq!(committed(&h).await, Some(12), "a failed run leaves the set");

    h.sink.heal();
    h.advance(Duration::hours(1));
    let before = h.sink.received().len();
    let retried = run(&h, &integration).await;
    assert_eq!(retried.status, ExecutionStatus::Succeeded, "{retried:?}");
    assert_eq!(upserted_since(&h, before), ids(&joiners));
    assert_eq!((retried.counters.joined, retried.counters.left), (3, 2));
    let deleted: BTreeSet<String> = h.sink.deleted().keys().cloned().collect();
    assert_eq!(deleted, ids(&[members[0].clone(), members[11].clone()]));
    assert_eq!(committed(&h).await, Some(13));
}

#[tokio::test]
async fn redelivered_list_pages_apply_each_removal_once_and_send_nobody_twice() {
    let t0 = at("2026-11-27T09:00:00Z");
    let members = contacts(1, 20, t0);
    let queue = Arc::new(MemoryQueue::new(std::time::Duration::from_secs(30)));
    let h = Harness::wired(
        ScriptedSource::new(members.clone()),
        queue.clone(),
        Arc::new(DuplicatingQueue(queue)),
    );
    let integration = incremental(&spec(
        3,
        2,
        "{ attribute: custom.vip_segment, value: false }",
    ));
    run(&h, &integration).await;
    h.advance(Duration::hours(1));
    for row in members.iter().step_by(4) {
        h.source.remove(&row.id);
    }
    let joiners = contacts(70, 4, at("2026-11-27T10:10:00Z"));
    h.source.put(joiners.clone());
    let before = h.sink.received().len();
    let second = run(&h, &integration).await;
    assert_eq!(second.status, ExecutionStatus::Succeeded, "{second:?}");
    assert_eq!((second.counters.joined, second.counters.left), (4, 5));
    assert_eq!(second.counters.removals_applied, 5);
    // Upserts with the attribute (leavers, by uuid only) and joiners (with email), each once.
    let sent = &h.sink.received()[before..];
    let leavers: Vec<_> = sent
        .iter()
        .filter(|u| u.identifiers.email.is_none())
        .collect();
    assert_eq!(leavers.len(), 5);
    assert!(leavers.iter().all(|u| {
        u.attributes.custom().collect::<Vec<_>>() == [("vip_segment", &serde_json::json!(false))]
    }));
    let joined: Vec<_> = sent
        .iter()
        .filter(|u| u.identifiers.email.is_some())
        .collect();
    assert_eq!(joined.len(), 4);
    assert_eq!(
        upserted_since(&h, before).len(),
        9,
        "nobody twice: {sent:?}"
    );
}

#[tokio::test]
async fn removals_ignore_counts_leavers_and_sends_them_nothing() {
    let members = contacts(1, 9, at("2026-11-27T09:00:00Z"));
    let h = Harness::new(ScriptedSource::new(members.clone()));
    let integration = incremental(&spec(4, 1, "ignore"));
    run(&h, &integration).await;
    h.advance(Duration::hours(1));
    h.source.remove(&members[3].id);
    let before = h.sink.received().len();
    let second = run(&h, &integration).await;
    assert_eq!(second.status, ExecutionStatus::Succeeded);
    assert_eq!(
        (second.counters.left, second.counters.removals_applied),
        (1, 0)
    );
    assert_eq!(h.sink.received().len(), before);
    assert_eq!(h.sink.delete_calls(), 0);
}

//! Property: whatever the data, page size, partitions, rejections, transient errors and
//! duplicated deliveries, every record read is upserted, skipped or failed exactly once,
//! and no user is sent to Insider twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use dynsync_domain::execution::{ExecutionStatus, MAX_RECORDED_FAILURES};
use dynsync_domain::ports::PageQueue;
use dynsync_engine::memory::MemoryQueue;
use proptest::prelude::*;
use support::source::contact;
use support::{DuplicatingQueue, Harness, ScriptedSource, Spec, assert_counters_add_up, at};

#[derive(Debug, Clone)]
struct Script {
    /// Per record: (has an email, Insider rejects it).
    records: Vec<(bool, bool)>,
    page_size: u32,
    partitions: u32,
    sink_failures: Vec<u32>,
    fetch_failures: u32,
    duplicate: bool,
}

fn scripts() -> impl Strategy<Value = Script> {
    (
        prop::collection::vec(
            (prop::bool::weighted(0.85), prop::bool::weighted(0.15)),
            0..60,
        ),
        1u32..12,
        1u32..4,
        prop::collection::vec(1u32..12, 0..3),
        0u32..3,
        any::<bool>(),
    )
        .prop_map(
            |(records, page_size, partitions, sink_failures, fetch_failures, duplicate)| Script {
                records,
                page_size,
                partitions,
                sink_failures,
                fetch_failures,
                duplicate,
            },
        )
}

async fn run(script: &Script) {
    let old = at("2020-01-01T00:00:00Z");
    let rows = script
        .records
        .iter()
        .enumerate()
        .map(|(i, (email, _))| {
            let address = format!("user{i}@example.com");
            contact(i as u64, email.then_some(address.as_str()), old, old)
        })
        .collect();
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
    let engine_queue: Arc<dyn PageQueue> = if script.duplicate {
        Arc::new(DuplicatingQueue(queue.clone()))
    } else {
        queue.clone()
    };
    let harness = Harness::wired(ScriptedSource::new(rows), queue, engine_queue);
    for (i, (_, rejected)) in script.records.iter().enumerate() {
        if *rejected {
            harness.sink.reject_email(&format!("user{i}@example.com"));
        }
    }
    for call in &script.sink_failures {
        harness.sink.fail_call(*call);
    }
    harness
        .source
        .fail_fetches_transiently(script.fetch_failures);
    let integration = Spec {
        page_size: script.page_size,
        partitions: script.partitions,
        ..Spec::default()
    }
    .integration();

    let execution = harness.run(&integration).await;

    let n = script.records.len() as u64;
    let skipped = script.records.iter().filter(|(email, _)| !email).count() as u64;
    let failed = script
        .records
        .iter()
        .filter(|(email, rejected)| *email && *rejected)
        .count() as u64;
    let c = execution.counters;
    assert_counters_add_up(&execution);
    assert_eq!(c.records_read, n);
    assert_eq!(c.skipped, skipped);
    assert_eq!(c.failed, failed);
    assert_eq!(c.upserted, n - skipped - failed);
    assert_eq!(c.events_sent, c.upserted);
    assert_eq!(
        execution.failures.len() as u64,
        failed.min(MAX_RECORDED_FAILURES as u64)
    );
    let expected = if failed == 0 {
        ExecutionStatus::Succeeded
    } else {
        ExecutionStatus::CompletedWithFailures
    };
    assert_eq!(execution.status, expected);
    assert_eq!(harness.sink.accepted_users() as u64, c.upserted);
    assert!(harness.sink.accepted().values().all(|times| *times == 1));
    assert_eq!(harness.sink.total_events(), c.events_sent);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn counters_always_add_up_and_no_user_is_sent_twice(script in scripts()) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(run(&script));
    }
}

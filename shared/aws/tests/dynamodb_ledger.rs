//! The DynamoDB page ledger against moto: a page registered once under racing workers,
//! answered batches remembered, a page completed once with counters that add up, and the
//! failure cap under racing completions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use dynsync_aws::AwsRequestCounter;
use dynsync_domain::execution::{Counters, MAX_RECORDED_FAILURES};
use dynsync_domain::ports::{BatchRecord, Executions, PageLedger, PageRecord};

use common::{at, failures, running};

fn page_counters(records: u64, failed: u64) -> Counters {
    Counters {
        records_read: records,
        upserted: records - failed,
        failed,
        skipped: 0,
        events_sent: records,
        pages: 1,
        ..Counters::default()
    }
}

#[tokio::test]
async fn a_page_is_registered_once_even_when_eight_workers_race() {
    let config = aws_or_skip!();
    let store = Arc::new(common::state_store(&config, &AwsRequestCounter::new()).await);
    running(&store, "e1", "i", &["0:start"]).await;
    let tries = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.register_page("e1", "0:abc").await.unwrap() })
    });
    let mut registered = 0;
    for attempt in tries {
        registered += usize::from(attempt.await.unwrap());
    }
    assert_eq!(registered, 1);
    // Two pages outstanding: completing both leaves none.
    assert_eq!(
        store
            .complete_page("e1", "0:start", &page_counters(1, 0), &[], at(10, 1))
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        store
            .complete_page("e1", "0:abc", &page_counters(1, 0), &[], at(10, 2))
            .await
            .unwrap(),
        Some(0)
    );
    assert!(
        store.register_page("missing", "0:start").await.is_err(),
        "no such execution"
    );
}

#[tokio::test]
async fn answered_batches_are_remembered_in_the_ledger() {
    let config = aws_or_skip!();
    let store = common::state_store(&config, &AwsRequestCounter::new()).await;
    running(&store, "e1", "i", &["0:start"]).await;
    let batch = |index| BatchRecord {
        index,
        upserted: 999,
        failed: 1,
        events_sent: 5,
        failures: failures("b", 1),
        record_ids: vec!["00000000-0000-0000-0000-000000000001".into()],
        removal: false,
        stop: None,
    };
    store
        .record_batch("e1", "0:start", &batch(1))
        .await
        .unwrap();
    store
        .record_batch("e1", "0:start", &batch(0))
        .await
        .unwrap();
    store
        .record_batch("e1", "0:start", &batch(1))
        .await
        .unwrap();
    assert_eq!(
        store.page_ledger("e1", "0:start").await.unwrap(),
        Some(PageRecord {
            done: false,
            fixed: None,
            batches: vec![batch(0), batch(1)],
            outstanding: 1,
        })
    );
    assert!(
        store
            .record_batch("e1", "0:never", &batch(0))
            .await
            .is_err(),
        "unregistered page"
    );
}

#[tokio::test]
async fn a_page_completes_once_and_its_counters_add_up() {
    let config = aws_or_skip!();
    let store = common::state_store(&config, &AwsRequestCounter::new()).await;
    running(&store, "e1", "i", &["0:start", "1:start"]).await;
    let done = store
        .complete_page(
            "e1",
            "0:start",
            &page_counters(500, 2),
            &failures("p0", 2),
            at(10, 3),
        )
        .await
        .unwrap();
    assert_eq!(done, Some(1));
    let redelivered = store
        .complete_page(
            "e1",
            "0:start",
            &page_counters(500, 2),
            &failures("p0", 2),
            at(10, 4),
        )
        .await
        .unwrap();
    assert_eq!(redelivered, None, "a redelivered page adds nothing");
    assert!(
        store
            .complete_page("e1", "0:never", &page_counters(1, 0), &[], at(10, 4))
            .await
            .is_err()
    );

    let execution = store.get_execution("e1").await.unwrap().unwrap();
    assert_eq!(execution.counters, page_counters(500, 2));
    assert_eq!(execution.failures, failures("p0", 2));
    assert!(
        store
            .page_ledger("e1", "0:start")
            .await
            .unwrap()
            .unwrap()
            .done
    );
    let (_, progress) = store.running_executions().await.unwrap().pop().unwrap();
    assert_eq!(progress, at(10, 3));
}

#[tokio::test]
async fn racing_completions_never_keep_more_than_the_failure_cap() {
    let config = aws_or_skip!();
    let store = Arc::new(common::state_store(&config, &AwsRequestCounter::new()).await);
    let pages: Vec<String> = (0..10).map(|p| format!("0:page{p}")).collect();
    let keys: Vec<&str> = pages.iter().map(String::as_str).collect();
    running(&store, "e1", "i", &keys).await;
    let completions = pages.clone().into_iter().map(|page| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .complete_page(
                    "e1",
                    &page,
                    &page_counters(30, 15),
                    &failures(&page, 15),
                    at(10, 5),
                )
                .await
                .unwrap()
        })
    });
    let mut remaining = Vec::new();
    for completion in completions {
        remaining.push(completion.await.unwrap().unwrap());
    }
    assert!(
        remaining.contains(&0),
        "the last completion sees no page outstanding"
    );
    let execution = store.get_execution("e1").await.unwrap().unwrap();
    assert_eq!(
        execution.counters.failed, 150,
        "failed counts every failure"
    );
    assert_eq!(execution.counters.pages, 10);
    assert_eq!(
        execution.failures.len(),
        MAX_RECORDED_FAILURES,
        "the list holds exactly the cap"
    );
    // Whole pages' failures first, then part of one page: never duplicates.
    let mut ids: Vec<&str> = execution
        .failures
        .iter()
        .map(|f| f.record_id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), MAX_RECORDED_FAILURES);

    // Once full, further failures are counted but not kept.
    store.register_page("e1", "0:late").await.unwrap();
    store
        .complete_page(
            "e1",
            "0:late",
            &page_counters(3, 3),
            &failures("late", 3),
            at(10, 6),
        )
        .await
        .unwrap();
    let execution = store.get_execution("e1").await.unwrap().unwrap();
    assert_eq!(
        (execution.counters.failed, execution.failures.len()),
        (153, MAX_RECORDED_FAILURES)
    );
}

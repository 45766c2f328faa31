//! The DynamoDB state store against moto: executions with plans, listings newest first,
//! the page ledger (register once, batches, complete once), the failure cap under racing
//! completions, and the exactly-once finish that moves the watermark and frees the lock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::Duration;
use dynsync_aws::AwsRequestCounter;
use dynsync_domain::execution::{Counters, ExecutionStatus, MAX_RECORDED_FAILURES};
use dynsync_domain::ports::{
    BatchRecord, Executions, Finish, LockOutcome, LockRequest, PageLedger, PageRecord, RunLocks,
    SyncState,
};

use common::{at, execution, failures, plan, running};

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
async fn an_execution_is_stored_with_its_plan_and_first_pages() {
    let config = aws_or_skip!();
    let store = common::state_store(&config, &AwsRequestCounter::new()).await;
    let started = execution("e1", "i", at(10, 0), ExecutionStatus::Running);
    store
        .create_execution(
            &started,
            Some(&plan("i", 2)),
            &["0:start".into(), "1:start".into()],
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_execution("e1").await.unwrap(),
        Some(started.clone())
    );
    assert_eq!(store.get_plan("e1").await.unwrap(), Some(plan("i", 2)));
    assert_eq!(
        store.page_ledger("e1", "0:start").await.unwrap(),
        Some(PageRecord {
            outstanding: 2,
            ..PageRecord::default()
        })
    );
    assert_eq!(store.page_ledger("e1", "1:later").await.unwrap(), None);

    let again = store
        .create_execution(&started, Some(&plan("i", 2)), &[])
        .await
        .unwrap_err();
    assert!(
        again.message.contains("already exists"),
        "{}",
        again.message
    );

    let failed = execution("e2", "i", at(10, 5), ExecutionStatus::Failed);
    store
        .create_execution(&failed, None, &["0:start".into()])
        .await
        .unwrap();
    assert_eq!(store.get_execution("e2").await.unwrap(), Some(failed));
    assert_eq!(store.get_plan("e2").await.unwrap(), None);
    assert_eq!(
        store.page_ledger("e2", "0:start").await.unwrap(),
        None,
        "no pages for a failed start"
    );
    assert_eq!(store.get_execution("missing").await.unwrap(), None);
}

#[tokio::test]
async fn executions_are_listed_newest_first_and_running_ones_found_by_index() {
    let config = aws_or_skip!();
    let store = common::state_store(&config, &AwsRequestCounter::new()).await;
    for (id, integration, minute) in [
        ("a1", "a", 0),
        ("b1", "b", 5),
        ("a2", "a", 10),
        ("a3", "a", 10),
    ] {
        store
            .create_execution(
                &execution(id, integration, at(9, minute), ExecutionStatus::Running),
                None,
                &[],
            )
            .await
            .unwrap();
    }
    let ids = |list: Vec<dynsync_domain::execution::Execution>| {
        list.into_iter().map(|e| e.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(store.list_executions(Some("a"), 10).await.unwrap()),
        ["a3", "a2", "a1"]
    );
    assert_eq!(
        ids(store.list_executions(None, 3).await.unwrap()),
        ["a3", "a2", "b1"]
    );
    assert_eq!(
        ids(store.list_executions(Some("c"), 10).await.unwrap()),
        Vec::<String>::new()
    );
    assert!(store.list_executions(None, 0).await.unwrap().is_empty());

    let finish = Finish {
        status: ExecutionStatus::Succeeded,
        finished_at: at(9, 30),
        error: None,
        watermark: None,
    };
    assert!(store.finish_execution("a2", &finish).await.unwrap());
    let running: Vec<(String, chrono::DateTime<chrono::Utc>)> = store
        .running_executions()
        .await
        .unwrap()
        .into_iter()
        .map(|(e, p)| (e.id, p))
        .collect();
    assert_eq!(
        running,
        [
            ("a1".into(), at(9, 0)),
            ("b1".into(), at(9, 5)),
            ("a3".into(), at(9, 10))
        ]
    );
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

#[tokio::test]
async fn an_execution_finishes_exactly_once_moving_the_watermark_and_freeing_the_lock() {
    let config = aws_or_skip!();
    let store = Arc::new(common::state_store(&config, &AwsRequestCounter::new()).await);
    let lock = |e: &str| LockRequest {
        integration_id: "i".into(),
        execution_id: e.into(),
        owner: "o".into(),
        expires_at: at(23, 0) + Duration::days(365),
    };
    assert_eq!(
        store.acquire_lock(&lock("e1")).await.unwrap(),
        LockOutcome::Acquired
    );
    running(&store, "e1", "i", &["0:start"]).await;
    let finish = Finish {
        status: ExecutionStatus::Succeeded,
        finished_at: at(11, 0),
        error: None,
        watermark: Some(at(9, 55)),
    };
    let racers = (0..6).map(|_| {
        let (store, finish) = (store.clone(), finish.clone());
        tokio::spawn(async move { store.finish_execution("e1", &finish).await.unwrap() })
    });
    let mut finished = 0;
    for racer in racers {
        finished += usize::from(racer.await.unwrap());
    }
    assert_eq!(finished, 1);
    let execution = store.get_execution("e1").await.unwrap().unwrap();
    assert_eq!(
        (execution.status, execution.finished_at),
        (ExecutionStatus::Succeeded, Some(at(11, 0)))
    );
    assert_eq!(store.watermark("i").await.unwrap(), Some(at(9, 55)));
    assert_eq!(store.lock_holder("i").await.unwrap(), None);
    assert!(store.running_executions().await.unwrap().is_empty());

    // An older watermark never moves it back; another execution's lock stays.
    assert_eq!(
        store.acquire_lock(&lock("e3")).await.unwrap(),
        LockOutcome::Acquired
    );
    running(&store, "e2", "i", &["0:start"]).await;
    let older = Finish {
        watermark: Some(at(8, 0)),
        ..finish.clone()
    };
    assert!(store.finish_execution("e2", &older).await.unwrap());
    assert_eq!(store.watermark("i").await.unwrap(), Some(at(9, 55)));
    assert_eq!(
        store.lock_holder("i").await.unwrap().map(|h| h.0),
        Some("e3".to_owned())
    );

    // A failed execution records its error and leaves the watermark alone.
    running(&store, "e4", "i", &["0:start"]).await;
    let failed = Finish {
        status: ExecutionStatus::Failed,
        finished_at: at(12, 0),
        error: Some("token expired".into()),
        watermark: Some(at(11, 55)),
    };
    assert!(store.finish_execution("e4", &failed).await.unwrap());
    assert_eq!(
        store
            .get_execution("e4")
            .await
            .unwrap()
            .unwrap()
            .error
            .as_deref(),
        Some("token expired")
    );
    assert_eq!(store.watermark("i").await.unwrap(), Some(at(9, 55)));
    assert!(
        !store.finish_execution("e4", &finish).await.unwrap(),
        "already ended"
    );
    assert!(store.finish_execution("missing", &finish).await.is_err());
}

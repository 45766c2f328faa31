//! The DynamoDB state store against moto: executions with plans, listings newest first,
//! and the exactly-once finish that moves the watermark and frees the lock (the page
//! ledger's tests are in dynamodb_ledger.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::Duration;
use dynsync_aws::AwsRequestCounter;
use dynsync_domain::execution::ExecutionStatus;
use dynsync_domain::ports::{
    Executions, Finish, LockOutcome, LockRequest, PageLedger, PageRecord, RunLocks, SyncState,
};

use common::{at, execution, plan, running};

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

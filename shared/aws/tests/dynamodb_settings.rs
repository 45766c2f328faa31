//! The DynamoDB state store against moto: definitions and their enabled flag, schedule
//! slots (compare-and-set under concurrency), run locks (expiry, same execution, holder-only
//! release) and the errors a missing table gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use chrono::Duration;
use dynsync_aws::{AwsRequestCounter, AwsService, DynamoDbStateStore};
use dynsync_domain::ErrorKind;
use dynsync_domain::ports::{Definitions, LockOutcome, LockRequest, RunLocks};

use common::{ManualClock, at, definition};

#[tokio::test]
async fn definitions_are_stored_listed_and_paused() {
    let config = aws_or_skip!();
    let store = common::state_store(&config, &AwsRequestCounter::new()).await;
    assert_eq!(store.get_definition("contacts").await.unwrap(), None);
    store.put_definition(&definition("contacts")).await.unwrap();
    store.put_definition(&definition("leads")).await.unwrap();
    assert_eq!(
        store.get_definition("contacts").await.unwrap(),
        Some(definition("contacts"))
    );
    let ids: Vec<String> = store
        .list_definitions()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, ["contacts", "leads"]);

    assert!(store.set_enabled("contacts", false).await.unwrap());
    assert!(
        !store
            .get_definition("contacts")
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    assert!(
        !store.set_enabled("missing", false).await.unwrap(),
        "no such definition"
    );
    assert_eq!(
        store.get_definition("missing").await.unwrap(),
        None,
        "set_enabled created nothing"
    );

    // Storing the definition again replaces it, flag included.
    store.put_definition(&definition("contacts")).await.unwrap();
    assert!(
        store
            .get_definition("contacts")
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
}

#[tokio::test]
async fn a_slot_is_claimed_only_from_the_previous_slot_and_only_forward() {
    let config = aws_or_skip!();
    let store = common::state_store(&config, &AwsRequestCounter::new()).await;
    assert_eq!(store.last_slot("i").await.unwrap(), None);
    assert!(store.claim_slot("i", None, at(10, 0)).await.unwrap());
    assert!(
        !store.claim_slot("i", None, at(11, 0)).await.unwrap(),
        "previous is stale"
    );
    assert!(
        !store
            .claim_slot("i", Some(at(10, 0)), at(10, 0))
            .await
            .unwrap(),
        "not later"
    );
    assert!(
        !store
            .claim_slot("i", Some(at(9, 0)), at(11, 0))
            .await
            .unwrap(),
        "wrong previous"
    );
    assert!(
        store
            .claim_slot("i", Some(at(10, 0)), at(11, 0))
            .await
            .unwrap()
    );
    assert_eq!(store.last_slot("i").await.unwrap(), Some(at(11, 0)));
}

#[tokio::test]
async fn of_eight_concurrent_ticks_exactly_one_claims_the_slot() {
    let config = aws_or_skip!();
    let store = Arc::new(common::state_store(&config, &AwsRequestCounter::new()).await);
    assert!(store.claim_slot("i", None, at(10, 0)).await.unwrap());
    let claims = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_slot("i", Some(at(10, 0)), at(11, 0))
                .await
                .unwrap()
        })
    });
    let mut won = 0;
    for claim in claims {
        won += usize::from(claim.await.unwrap());
    }
    assert_eq!(won, 1);
}

fn lock(execution_id: &str, expires_at: chrono::DateTime<chrono::Utc>) -> LockRequest {
    LockRequest {
        integration_id: "i".into(),
        execution_id: execution_id.into(),
        owner: format!("request-{execution_id}"),
        expires_at,
    }
}

#[tokio::test]
async fn a_lock_is_held_until_it_expires_and_released_only_by_its_holder() {
    let config = aws_or_skip!();
    let clock = ManualClock::at(at(10, 0));
    let store = common::state_store(&config, &AwsRequestCounter::new())
        .await
        .with_clock(clock.clone());
    assert_eq!(
        store.acquire_lock(&lock("e1", at(10, 15))).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(
        store.acquire_lock(&lock("e2", at(10, 30))).await.unwrap(),
        LockOutcome::HeldBy {
            execution_id: "e1".into()
        }
    );
    assert_eq!(
        store.acquire_lock(&lock("e1", at(10, 45))).await.unwrap(),
        LockOutcome::Acquired,
        "same execution renews"
    );
    assert_eq!(
        store.lock_holder("i").await.unwrap(),
        Some(("e1".to_owned(), "request-e1".to_owned(), at(10, 45)))
    );

    store.release_lock("i", "e2").await.unwrap();
    assert!(
        store.lock_holder("i").await.unwrap().is_some(),
        "e2 cannot release e1's lock"
    );

    clock.advance(Duration::minutes(45));
    assert_eq!(
        store.acquire_lock(&lock("e2", at(12, 0))).await.unwrap(),
        LockOutcome::Acquired,
        "expired"
    );
    store.release_lock("i", "e2").await.unwrap();
    assert_eq!(store.lock_holder("i").await.unwrap(), None);
    assert_eq!(
        store.acquire_lock(&lock("e3", at(12, 0))).await.unwrap(),
        LockOutcome::Acquired
    );
}

#[tokio::test]
async fn of_eight_executions_racing_for_a_lock_exactly_one_gets_it() {
    let config = aws_or_skip!();
    let store = Arc::new(common::state_store(&config, &AwsRequestCounter::new()).await);
    let tries = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .acquire_lock(&lock(&format!("e{i}"), at(23, 0) + Duration::days(365)))
                .await
                .unwrap()
        })
    });
    let mut acquired = 0;
    let mut holders = Vec::new();
    for attempt in tries {
        match attempt.await.unwrap() {
            LockOutcome::Acquired => acquired += 1,
            LockOutcome::HeldBy { execution_id } => holders.push(execution_id),
        }
    }
    assert_eq!(acquired, 1);
    let (holder, _, _) = store.lock_holder("i").await.unwrap().unwrap();
    assert!(
        holders.iter().all(|h| *h == holder),
        "losers are told the holder"
    );
}

#[tokio::test]
async fn a_missing_table_is_a_permanent_error_that_names_it() {
    let config = aws_or_skip!();
    let counter = AwsRequestCounter::new();
    let store =
        DynamoDbStateStore::from_client(counter.dynamodb_client(&config, &[]), "no-such-table");
    let error = store.get_definition("x").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert!(
        error.message.contains("table 'no-such-table'"),
        "{}",
        error.message
    );
    assert!(
        counter.get(AwsService::DynamoDb) >= 1,
        "requests are counted"
    );
}

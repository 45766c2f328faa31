//! State store checks, part one: definitions, schedule slots, run locks, absent ids.
//! `make` returns a store that judges lock expiry by the system clock; it may be shared
//! with other runs (every check uses ids of its own).

use std::sync::Arc;

use chrono::{Duration, Utc};
use dynsync_domain::ports::{LockOutcome, LockRequest, StateStore};

use crate::Fut;
use crate::fixtures::{at, definition, unique};
use crate::race::{RACERS, race};

/// Builds a state store for one check.
pub trait MakeStateStore: Fn() -> Fut<Arc<dyn StateStore>> {}
impl<F: Fn() -> Fut<Arc<dyn StateStore>>> MakeStateStore for F {}

pub async fn definitions_are_stored_replaced_listed_and_paused(make: &impl MakeStateStore) {
    let store = make().await;
    let id = unique("def");
    assert_eq!(store.get_definition(&id).await.unwrap(), None);
    let mut def = definition(&id);
    store.put_definition(&def).await.unwrap();
    assert_eq!(store.get_definition(&id).await.unwrap(), Some(def.clone()));

    def.name = Some("Renamed".to_owned());
    store.put_definition(&def).await.unwrap();
    assert_eq!(store.get_definition(&id).await.unwrap(), Some(def.clone()));
    let listed: Vec<_> = store
        .list_definitions()
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.id == id)
        .collect();
    assert_eq!(listed, vec![def.clone()], "listed once, as last stored");

    assert!(store.set_enabled(&id, false).await.unwrap());
    let paused = store.get_definition(&id).await.unwrap().unwrap();
    assert!(!paused.enabled);
    assert_eq!(paused.name, def.name, "pausing changes nothing else");
    assert!(store.set_enabled(&id, true).await.unwrap());
    assert!(store.get_definition(&id).await.unwrap().unwrap().enabled);
    assert!(!store.set_enabled(&unique("def"), false).await.unwrap());
}

pub async fn a_schedule_slot_is_claimed_once_by_concurrent_claimers(make: &impl MakeStateStore) {
    let store = make().await;
    let integration = unique("slot");
    assert_eq!(store.last_slot(&integration).await.unwrap(), None);

    let claims = race(|_| {
        let (store, integration) = (Arc::clone(&store), integration.clone());
        async move { store.claim_slot(&integration, None, at(60)).await.unwrap() }
    })
    .await;
    assert_eq!(claims.iter().filter(|c| **c).count(), 1, "{claims:?}");
    assert_eq!(store.last_slot(&integration).await.unwrap(), Some(at(60)));

    let previous = Some(at(60));
    assert!(
        !store
            .claim_slot(&integration, previous, at(60))
            .await
            .unwrap(),
        "same slot"
    );
    assert!(
        !store
            .claim_slot(&integration, previous, at(0))
            .await
            .unwrap(),
        "earlier slot"
    );
    assert!(
        !store.claim_slot(&integration, None, at(120)).await.unwrap(),
        "stale previous"
    );
    assert_eq!(store.last_slot(&integration).await.unwrap(), Some(at(60)));
    assert!(
        store
            .claim_slot(&integration, previous, at(120))
            .await
            .unwrap()
    );
    assert_eq!(store.last_slot(&integration).await.unwrap(), Some(at(120)));
}

fn lock(integration: &str, execution: &str, expires_in: Duration) -> LockRequest {
    LockRequest {
        integration_id: integration.to_owned(),
        execution_id: execution.to_owned(),
        owner: format!("owner-of-{execution}"),
        expires_at: Utc::now() + expires_in,
    }
}

pub async fn a_run_lock_is_exclusive_and_shows_its_holder(make: &impl MakeStateStore) {
    let store = make().await;
    let integration = unique("lock");
    assert_eq!(store.lock_holder(&integration).await.unwrap(), None);

    let requests: Vec<LockRequest> = (0..RACERS)
        .map(|n| lock(&integration, &format!("exec-{n}"), Duration::minutes(10)))
        .collect();
    let outcomes = race(|n| {
        let (store, request) = (Arc::clone(&store), requests[n].clone());
        async move { store.acquire_lock(&request).await.unwrap() }
    })
    .await;
    let winners: Vec<usize> = (0..RACERS)
        .filter(|n| outcomes[*n] == LockOutcome::Acquired)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = &requests[winners[0]];
    for outcome in &outcomes {
        if *outcome != LockOutcome::Acquired {
            assert_eq!(
                *outcome,
                LockOutcome::HeldBy {
                    execution_id: winner.execution_id.clone()
                }
            );
        }
    }
    assert_eq!(
        store.lock_holder(&integration).await.unwrap(),
        Some((
            winner.execution_id.clone(),
            winner.owner.clone(),
            winner.expires_at
        ))
    );
}

pub async fn the_holder_of_a_run_lock_can_take_it_again_to_renew_it(make: &impl MakeStateStore) {
    let store = make().await;
    let integration = unique("lock");
    let first = lock(&integration, "exec-a", Duration::minutes(10));
    assert_eq!(
        store.acquire_lock(&first).await.unwrap(),
        LockOutcome::Acquired
    );
    let renewed = LockRequest {
        owner: "pid:2@resumed".to_owned(),
        ..lock(&integration, "exec-a", Duration::minutes(20))
    };
    assert_eq!(
        store.acquire_lock(&renewed).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(
        store.lock_holder(&integration).await.unwrap(),
        Some((
            "exec-a".to_owned(),
            renewed.owner.clone(),
            renewed.expires_at
        ))
    );
    let other = lock(&integration, "exec-b", Duration::minutes(10));
    assert_eq!(
        store.acquire_lock(&other).await.unwrap(),
        LockOutcome::HeldBy {
            execution_id: "exec-a".to_owned()
        }
    );
}

pub async fn an_expired_run_lock_can_be_taken_by_another_execution(make: &impl MakeStateStore) {
    let store = make().await;
    let integration = unique("lock");
    let stale = lock(&integration, "exec-a", Duration::minutes(-1));
    assert_eq!(
        store.acquire_lock(&stale).await.unwrap(),
        LockOutcome::Acquired
    );
    let fresh = lock(&integration, "exec-b", Duration::minutes(10));
    assert_eq!(
        store.acquire_lock(&fresh).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(
        store.lock_holder(&integration).await.unwrap().map(|h| h.0),
        Some("exec-b".to_owned())
    );
}

pub async fn a_run_lock_is_released_only_by_its_holder(make: &impl MakeStateStore) {
    let store = make().await;
    let integration = unique("lock");
    let holder = lock(&integration, "exec-a", Duration::minutes(10));
    store.acquire_lock(&holder).await.unwrap();
    store.release_lock(&integration, "exec-b").await.unwrap();
    assert_eq!(
        store.lock_holder(&integration).await.unwrap().map(|h| h.0),
        Some("exec-a".to_owned()),
        "another execution cannot release it"
    );
    let other = lock(&integration, "exec-b", Duration::minutes(10));
    assert_eq!(
        store.acquire_lock(&other).await.unwrap(),
        LockOutcome::HeldBy {
            execution_id: "exec-a".to_owned()
        }
    );
    store.release_lock(&integration, "exec-a").await.unwrap();
    assert_eq!(store.lock_holder(&integration).await.unwrap(), None);
    assert_eq!(
        store.acquire_lock(&other).await.unwrap(),
        LockOutcome::Acquired
    );
}

pub async fn unknown_ids_read_as_absent(make: &impl MakeStateStore) {
    let store = make().await;
    let id = unique("unknown");
    assert_eq!(store.get_definition(&id).await.unwrap(), None);
    assert_eq!(store.last_slot(&id).await.unwrap(), None);
    assert_eq!(store.lock_holder(&id).await.unwrap(), None);
    assert_eq!(store.get_execution(&id).await.unwrap(), None);
    assert_eq!(store.get_plan(&id).await.unwrap(), None);
    assert_eq!(store.page_ledger(&id, "0:start").await.unwrap(), None);
    assert_eq!(store.watermark(&id).await.unwrap(), None);
    assert!(
        store
            .list_executions(Some(&id), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

//! State store checks, part three: how executions end (exactly once, releasing the run
//! lock, moving the watermark forward only) and how they are listed.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use dynsync_domain::execution::ExecutionStatus;
use dynsync_domain::ports::{Finish, LockOutcome, LockRequest};

use crate::fixtures::{at, counters, first_pages, plan, running_execution, unique};
use crate::race::race;
use crate::state::MakeStateStore;

fn finish(
    status: ExecutionStatus,
    error: &str,
    watermark: Option<chrono::DateTime<Utc>>,
) -> Finish {
    Finish {
        status,
        finished_at: at(30),
        error: (!error.is_empty()).then(|| error.to_owned()),
        watermark,
    }
}

pub async fn an_execution_finishes_exactly_once_under_concurrent_finishers(
    make: &impl MakeStateStore,
) {
    let store = make().await;
    let integration = unique("int");
    let execution = running_execution(&integration, at(0));
    let lock = LockRequest {
        integration_id: integration.clone(),
        execution_id: execution.id.clone(),
        owner: "pid:1@host".to_owned(),
        expires_at: Utc::now() + Duration::minutes(10),
    };
    assert_eq!(
        store.acquire_lock(&lock).await.unwrap(),
        LockOutcome::Acquired
    );
    store
        .create_execution(&execution, Some(&plan(&execution, 1)), &first_pages(1))
        .await
        .unwrap();

    let finished = race(|n| {
        let (store, id) = (Arc::clone(&store), execution.id.clone());
        async move {
            let f = finish(ExecutionStatus::Failed, &format!("finisher {n}"), None);
            store.finish_execution(&id, &f).await.unwrap()
        }
    })
    .await;
    let winners: Vec<usize> = (0..finished.len()).filter(|n| finished[*n]).collect();
    assert_eq!(winners.len(), 1, "{finished:?}");

    let stored = store.get_execution(&execution.id).await.unwrap().unwrap();
    assert_eq!(stored.status, ExecutionStatus::Failed);
    assert_eq!(stored.finished_at, Some(at(30)));
    assert_eq!(
        stored.error,
        Some(format!("finisher {}", winners[0])),
        "the winner's finish"
    );
    assert_eq!(
        store.lock_holder(&integration).await.unwrap(),
        None,
        "lock released"
    );
    let running = store.running_executions().await.unwrap();
    assert!(running.iter().all(|(e, _)| e.id != execution.id));
    let again = finish(ExecutionStatus::Succeeded, "", Some(at(25)));
    assert!(!store.finish_execution(&execution.id, &again).await.unwrap());
    assert_eq!(store.watermark(&integration).await.unwrap(), None);
}

pub async fn the_watermark_moves_only_forward_and_only_by_a_successful_finish(
    make: &impl MakeStateStore,
) {
    let store = make().await;
    let integration = unique("int");
    let run = |minutes: i64| {
        let execution = running_execution(&integration, at(minutes));
        let store = Arc::clone(&store);
        async move {
            let pages = first_pages(1);
            store
                .create_execution(&execution, Some(&plan(&execution, 1)), &pages)
                .await
                .unwrap();
            store
                .complete_page(
                    &execution.id,
                    &pages[0],
                    &counters(1, 0),
                    &[],
                    at(minutes + 1),
                )
                .await
                .unwrap();
            execution.id
        }
    };
    let first = run(0).await;
    assert_eq!(
        store.watermark(&integration).await.unwrap(),
        None,
        "only a finish moves it"
    );
    let done = finish(ExecutionStatus::Succeeded, "", Some(at(-5)));
    assert!(store.finish_execution(&first, &done).await.unwrap());
    assert_eq!(store.watermark(&integration).await.unwrap(), Some(at(-5)));

    let late = run(1).await;
    let older = finish(ExecutionStatus::Succeeded, "", Some(at(-10)));
    assert!(store.finish_execution(&late, &older).await.unwrap());
    assert_eq!(
        store.watermark(&integration).await.unwrap(),
        Some(at(-5)),
        "never backwards"
    );

    let failed = run(2).await;
    let failure = finish(ExecutionStatus::Failed, "Insider is down", Some(at(55)));
    assert!(store.finish_execution(&failed, &failure).await.unwrap());
    assert_eq!(
        store.watermark(&integration).await.unwrap(),
        Some(at(-5)),
        "not by a failure"
    );

    let next = run(3).await;
    let forward = finish(ExecutionStatus::Succeeded, "", Some(at(55)));
    assert!(store.finish_execution(&next, &forward).await.unwrap());
    assert_eq!(store.watermark(&integration).await.unwrap(), Some(at(55)));
}

pub async fn a_staged_sync_token_becomes_the_integrations_only_when_its_execution_does_not_fail(
    make: &impl MakeStateStore,
) {
    let store = make().await;
    let integration = unique("int");
    let run = |minutes: i64, token: Option<&'static str>| {
        let execution = running_execution(&integration, at(minutes));
        let store = Arc::clone(&store);
        async move {
            store
                .create_execution(&execution, Some(&plan(&execution, 1)), &first_pages(1))
                .await
                .unwrap();
            if let Some(token) = token {
                store
                    .stage_sync_token(&execution.id, "an older link")
                    .await
                    .unwrap();
                store.stage_sync_token(&execution.id, token).await.unwrap();
            }
            execution.id
        }
    };
    assert_eq!(store.sync_token(&integration).await.unwrap(), None);
    let first = run(0, Some("https://org/api/data/v9.2/contacts?$deltatoken=1")).await;
    assert_eq!(
        store.sync_token(&integration).await.unwrap(),
        None,
        "only a finish moves it"
    );
    let done = finish(ExecutionStatus::CompletedWithFailures, "", None);
    assert!(store.finish_execution(&first, &done).await.unwrap());
    let first_token = Some("https://org/api/data/v9.2/contacts?$deltatoken=1".to_owned());
    assert_eq!(store.sync_token(&integration).await.unwrap(), first_token);
    assert!(
        store.stage_sync_token(&first, "late").await.is_err(),
        "a finished execution's token cannot change"
    );

    let failed = run(1, Some("https://org/api/data/v9.2/contacts?$deltatoken=2")).await;
    let failure = finish(ExecutionStatus::Failed, "Insider is down", None);
    assert!(store.finish_execution(&failed, &failure).await.unwrap());
    assert_eq!(
        store.sync_token(&integration).await.unwrap(),
        first_token,
        "not by a failure"
    );

    let without = run(2, None).await;
    let done = finish(ExecutionStatus::Succeeded, "", None);
    assert!(store.finish_execution(&without, &done).await.unwrap());
    assert_eq!(
        store.sync_token(&integration).await.unwrap(),
        first_token,
        "an execution that staged none leaves it"
    );

    let next = run(3, Some("https://org/api/data/v9.2/contacts?$deltatoken=3")).await;
    assert!(store.finish_execution(&next, &done).await.unwrap());
    assert_eq!(
        store.sync_token(&integration).await.unwrap().as_deref(),
        Some("https://org/api/data/v9.2/contacts?$deltatoken=3")
    );
}

pub async fn executions_are_listed_newest_first(make: &impl MakeStateStore) {
    let store = make().await;
    let integration = unique("int");
    // Far in the future, so that other runs sharing the store list after these.
    let base = Utc.with_ymd_and_hms(2300, 1, 1, 0, 0, 0).single().unwrap()
        + Duration::seconds(i64::from(uuid::Uuid::new_v4().as_fields().1));
    let older = running_execution(&integration, base);
    let middle = running_execution(&integration, base + Duration::minutes(1));
    let newest = running_execution(&integration, base + Duration::minutes(2));
    let elsewhere = running_execution(&unique("int"), base + Duration::minutes(3));
    for execution in [&middle, &newest, &older, &elsewhere] {
        store
            .create_execution(execution, Some(&plan(execution, 1)), &first_pages(1))
            .await
            .unwrap();
    }
    let ids = |list: Vec<dynsync_domain::execution::Execution>| {
        list.into_iter().map(|e| e.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(store.list_executions(Some(&integration), 10).await.unwrap()),
        vec![newest.id.clone(), middle.id.clone(), older.id.clone()]
    );
    assert_eq!(
        ids(store.list_executions(Some(&integration), 2).await.unwrap()),
        vec![newest.id.clone(), middle.id.clone()]
    );
    let ours = [&elsewhere.id, &newest.id, &middle.id, &older.id];
    let all: Vec<String> = ids(store.list_executions(None, 50).await.unwrap())
        .into_iter()
        .filter(|id| ours.contains(&id))
        .collect();
    assert_eq!(all, ours.map(String::clone).to_vec());
}

pub async fn running_executions_show_their_last_progress(make: &impl MakeStateStore) {
    let store = make().await;
    let integration = unique("int");
    let execution = running_execution(&integration, at(0));
    let pages = first_pages(2);
    store
        .create_execution(&execution, Some(&plan(&execution, 2)), &pages)
        .await
        .unwrap();
    let progress = |list: Vec<(dynsync_domain::execution::Execution, _)>| {
        list.into_iter()
            .find(|(e, _)| e.id == execution.id)
            .map(|(_, at)| at)
    };
    let started = progress(store.running_executions().await.unwrap()).expect("listed as running");
    assert!(started >= at(0), "{started}");
    store
        .complete_page(&execution.id, &pages[0], &counters(5, 0), &[], at(7))
        .await
        .unwrap();
    let moved = progress(store.running_executions().await.unwrap()).expect("still running");
    assert!(moved >= at(7), "a completed page is progress: {moved}");

    let done = finish(ExecutionStatus::Failed, "stalled", None);
    store.finish_execution(&execution.id, &done).await.unwrap();
    assert_eq!(progress(store.running_executions().await.unwrap()), None);
}

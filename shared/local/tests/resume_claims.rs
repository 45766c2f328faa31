//! Resuming a local run after its process died: an execution is resumable only when no live
//! process holds its run lock, and the resumed run drops the dead process's page claims.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use chrono::{Duration as Span, Utc};
use dynsync_contract::fixtures::{at, first_pages, plan, running_execution, unique};
use dynsync_domain::ports::{
    ClaimOutcome, Executions, LockOutcome, LockRequest, PageClaim, PageLedger, RunLocks,
};
use dynsync_local::SqliteStateStore;

fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("dynsync-local-resume")
        .join(uuid::Uuid::new_v4().simple().to_string())
}

fn lock_for(
    execution: &dynsync_domain::execution::Execution,
    owner: String,
    minutes: i64,
) -> LockRequest {
    LockRequest {
        integration_id: execution.integration_id.clone(),
        execution_id: execution.id.clone(),
        owner,
        expires_at: Utc::now() + Span::minutes(minutes),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_is_resumable_only_when_no_live_process_holds_its_lock() {
    let store = SqliteStateStore::open(&state_dir()).unwrap();
    let integration = unique("int");
    assert_eq!(store.resumable_execution(&integration).await.unwrap(), None);
    let execution = running_execution(&integration, at(0));
    store
        .create_execution(&execution, Some(&plan(&execution, 1)), &first_pages(1))
        .await
        .unwrap();

    let alive = lock_for(&execution, dynsync_local::local_owner_tag(), 10);
    store.acquire_lock(&alive).await.unwrap();
    assert_eq!(
        store.resumable_execution(&integration).await.unwrap(),
        None,
        "this process runs it"
    );

    let mut child = Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let host = alive.owner.split_once('@').unwrap().1.to_owned();
    let dead = lock_for(&execution, format!("pid:{dead_pid}@{host}"), 10);
    store.acquire_lock(&dead).await.unwrap();
    let resumable = store.resumable_execution(&integration).await.unwrap();
    assert_eq!(
        resumable.map(|e| e.id),
        Some(execution.id.clone()),
        "its process is gone"
    );

    let elsewhere = lock_for(&execution, "pid:1@another-host.invalid".to_owned(), -1);
    store.acquire_lock(&elsewhere).await.unwrap();
    let resumable = store.resumable_execution(&integration).await.unwrap();
    assert_eq!(
        resumable.map(|e| e.id),
        Some(execution.id.clone()),
        "its lock expired"
    );

    let resumed = lock_for(&execution, dynsync_local::local_owner_tag(), 10);
    assert_eq!(
        store.acquire_lock(&resumed).await.unwrap(),
        LockOutcome::Acquired
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_execution_drops_the_page_claims_of_the_dead_process() {
    let dir = state_dir();
    let execution = running_execution(&unique("int"), at(0));
    let other = running_execution(&unique("int"), at(0));
    let pages = first_pages(2);
    let held = PageClaim {
        claimant: "delivery-dead".into(),
        until: Utc::now() + Span::minutes(10),
    };
    {
        let crashed = SqliteStateStore::open(&dir).unwrap();
        for e in [&execution, &other] {
            crashed
                .create_execution(e, Some(&plan(e, 2)), &pages)
                .await
                .unwrap();
            for page in &pages {
                crashed.claim_page(&e.id, page, &held).await.unwrap();
            }
        }
    }
    let resumed = SqliteStateStore::open(&dir).unwrap();
    assert_eq!(resumed.release_page_claims(&execution.id).await.unwrap(), 2);
    let mine = PageClaim {
        claimant: "delivery-resumed".into(),
        until: Utc::now() + Span::minutes(10),
    };
    for page in &pages {
        assert!(matches!(
            resumed
                .claim_page(&execution.id, page, &mine)
                .await
                .unwrap(),
            ClaimOutcome::Acquired { .. }
        ));
        assert!(
            matches!(
                resumed.claim_page(&other.id, page, &mine).await.unwrap(),
                ClaimOutcome::HeldBy { .. }
            ),
            "another execution's claims are kept"
        );
    }
}

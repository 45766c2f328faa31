//! Two `dynsync run`s started at once on a state folder whose last run died: exactly one
//! resumes the execution, the others are told it is being resumed (ARCHITECTURE.md
//! section 8, "Local resume"). Each racer has its own connection, as a process would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as Span, Utc};
use dynsync_contract::fixtures::{at, first_pages, plan, running_execution, unique};
use dynsync_contract::race::{RACERS, race};
use dynsync_domain::execution::Execution;
use dynsync_domain::ports::{Executions, LockRequest, RunLocks};
use dynsync_local::SqliteStateStore;
use dynsync_local::owner::TakeOver;

const TTL: Duration = Duration::from_secs(2 * 60 * 60);

fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("dynsync-local-resume-race")
        .join(uuid::Uuid::new_v4().simple().to_string())
}

/// The tag of a process of this host that has ended.
fn dead_owner() -> String {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let tag = dynsync_local::local_owner_tag();
    let host = tag.split_once('@').unwrap().1.split(';').next().unwrap();
    format!("pid:{pid}@{host}")
}

/// A running execution whose run lock a dead process holds.
async fn crashed_run(dir: &Path) -> Execution {
    let store = SqliteStateStore::open(dir).unwrap();
    let execution = running_execution(&unique("int"), at(0));
    store
        .create_execution(&execution, Some(&plan(&execution, 1)), &first_pages(1))
        .await
        .unwrap();
    let lock = LockRequest {
        integration_id: execution.integration_id.clone(),
        execution_id: execution.id.clone(),
        owner: dead_owner(),
        expires_at: Utc::now() + Span::minutes(100),
    };
    store.acquire_lock(&lock).await.unwrap();
    execution
}

/// A live owner tag no check can declare gone (another host's process).
fn live_owner(n: usize) -> String {
    format!("pid:{}@resumer-{n}.invalid", 1000 + n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_resumes_at_once_exactly_one_takes_over_the_execution() {
    let dir = state_dir();
    let execution = crashed_run(&dir).await;
    let stores: Vec<Arc<SqliteStateStore>> = (0..RACERS)
        .map(|_| Arc::new(SqliteStateStore::open(&dir).unwrap()))
        .collect();
    let outcomes = race(|n| {
        let store = Arc::clone(&stores[n]);
        let integration = execution.integration_id.clone();
        async move {
            store
                .take_over_execution(&integration, &live_owner(n), TTL)
                .await
                .unwrap()
        }
    })
    .await;
    let winners: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o, TakeOver::Resume(_)))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let winner = winners[0];
    for (n, outcome) in outcomes.iter().enumerate() {
        match outcome {
            TakeOver::Resume(resumed) => assert_eq!(resumed.id, execution.id),
            TakeOver::Busy {
                execution_id,
                owner,
            } => {
                assert_eq!(execution_id, &execution.id, "racer {n}");
                assert_eq!(owner, &live_owner(winner), "racer {n}");
            }
            TakeOver::Nothing => panic!("racer {n} found nothing to resume"),
        }
    }
    let (holder, owner, _) = stores[0]
        .lock_holder(&execution.integration_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(holder, execution.id);
    assert_eq!(owner, live_owner(winner));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_over_waits_for_a_live_owner_and_follows_a_dead_one() {
    let dir = state_dir();
    let store = SqliteStateStore::open(&dir).unwrap();
    assert_eq!(
        store
            .take_over_execution(&unique("int"), &live_owner(0), TTL)
            .await
            .unwrap(),
        TakeOver::Nothing,
        "nothing runs"
    );

    let execution = crashed_run(&dir).await;
    let integration = &execution.integration_id;
    let first = store
        .take_over_execution(integration, &live_owner(1), TTL)
        .await
        .unwrap();
    assert_eq!(first, TakeOver::Resume(execution.clone()));
    let second = store
        .take_over_execution(integration, &live_owner(2), TTL)
        .await
        .unwrap();
    assert_eq!(
        second,
        TakeOver::Busy {
            execution_id: execution.id.clone(),
            owner: live_owner(1),
        }
    );

    // The resumer dies too: the next run takes over again.
    let lock = LockRequest {
        integration_id: integration.clone(),
        execution_id: execution.id.clone(),
        owner: dead_owner(),
        expires_at: Utc::now() + Span::minutes(100),
    };
    store.acquire_lock(&lock).await.unwrap();
    let third = store
        .take_over_execution(integration, &live_owner(3), TTL)
        .await
        .unwrap();
    assert_eq!(third, TakeOver::Resume(execution.clone()));

    // A live lock of another execution: busy with that one.
    store
        .release_lock(integration, &execution.id)
        .await
        .unwrap();
    let other = LockRequest {
        integration_id: integration.clone(),
        execution_id: "another-execution".into(),
        owner: live_owner(4),
        expires_at: Utc::now() + Span::minutes(10),
    };
    store.acquire_lock(&other).await.unwrap();
    assert_eq!(
        store
            .take_over_execution(integration, &live_owner(5), TTL)
            .await
            .unwrap(),
        TakeOver::Busy {
            execution_id: "another-execution".into(),
            owner: live_owner(4),
        }
    );
}

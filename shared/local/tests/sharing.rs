//! What the local adapters promise beyond the port contract: two processes (here, two
//! connections, and for the queue two real processes) sharing a state folder race safely;
//! state and queued tasks survive a restart; a resumed queue gets the tasks a dead process
//! had in flight (resuming an execution: resume_claims.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Duration as Span, Utc};
use dynsync_contract::fixtures::{
    at, counters, first_pages, plan, running_execution, tasks, unique,
};
use dynsync_contract::race::race;
use dynsync_domain::execution::PageTask;
use dynsync_domain::ports::{
    Executions, LockOutcome, LockRequest, PageLedger, PageQueue, StateStore,
};
use dynsync_local::{SqliteQueue, SqliteStateStore};

fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("dynsync-local-sharing")
        .join(uuid::Uuid::new_v4().simple().to_string())
}

/// Two stores on one folder, as two `dynsync run` processes would have.
fn two_stores(dir: &Path) -> [Arc<dyn StateStore>; 2] {
    [
        Arc::new(SqliteStateStore::open(dir).unwrap()),
        Arc::new(SqliteStateStore::open(dir).unwrap()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_connections_claim_a_slot_and_a_lock_once_between_them() {
    let dir = state_dir();
    let stores = two_stores(&dir);
    let integration = unique("int");
    let claims = race(|n| {
        let (store, integration) = (Arc::clone(&stores[n % 2]), integration.clone());
        async move { store.claim_slot(&integration, None, at(60)).await.unwrap() }
    })
    .await;
    assert_eq!(claims.iter().filter(|c| **c).count(), 1, "{claims:?}");

    let locks = race(|n| {
        let store = Arc::clone(&stores[n % 2]);
        let request = LockRequest {
            integration_id: integration.clone(),
            execution_id: format!("exec-{n}"),
            owner: format!("pid:{n}@host"),
            expires_at: Utc::now() + Span::minutes(10),
        };
        async move { store.acquire_lock(&request).await.unwrap() }
    })
    .await;
    let acquired = locks
        .iter()
        .filter(|o| **o == LockOutcome::Acquired)
        .count();
    assert_eq!(acquired, 1, "{locks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_connections_complete_a_page_and_finish_an_execution_once_between_them() {
    let dir = state_dir();
    let stores = two_stores(&dir);
    let execution = running_execution(&unique("int"), at(0));
    let pages = first_pages(1);
    stores[0]
        .create_execution(&execution, Some(&plan(&execution, 1)), &pages)
        .await
        .unwrap();
    let completions = race(|n| {
        let (store, id, page) = (
            Arc::clone(&stores[n % 2]),
            execution.id.clone(),
            pages[0].clone(),
        );
        async move {
            store
                .complete_page(&id, &page, &counters(10, 1), &[], at(1))
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(
        completions.iter().filter(|c| c.is_some()).count(),
        1,
        "{completions:?}"
    );
    let stored = stores[1]
        .get_execution(&execution.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.counters, counters(10, 1));

    let finished = race(|n| {
        let (store, id) = (Arc::clone(&stores[n % 2]), execution.id.clone());
        let finish = dynsync_domain::ports::Finish {
            status: dynsync_domain::execution::ExecutionStatus::Succeeded,
            finished_at: at(2),
            error: None,
            watermark: Some(at(-5)),
        };
        async move { store.finish_execution(&id, &finish).await.unwrap() }
    })
    .await;
    assert_eq!(finished.iter().filter(|f| **f).count(), 1, "{finished:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn state_survives_closing_and_reopening_the_folder() {
    let dir = state_dir();
    let integration = unique("int");
    let execution = running_execution(&integration, at(0));
    let pages = first_pages(3);
    {
        let store = SqliteStateStore::open(&dir).unwrap();
        store
            .create_execution(&execution, Some(&plan(&execution, 3)), &pages)
            .await
            .unwrap();
        store
            .complete_page(&execution.id, &pages[1], &counters(4, 0), &[], at(1))
            .await
            .unwrap();
    }
    let store = SqliteStateStore::open(&dir).unwrap();
    assert_eq!(store.path(), dir.join(dynsync_local::STATE_FILE));
    let stored = store.get_execution(&execution.id).await.unwrap().unwrap();
    assert_eq!(stored.counters, counters(4, 0));
    assert_eq!(
        store
            .running_execution_of(&integration)
            .await
            .unwrap()
            .map(|e| e.id),
        Some(execution.id.clone())
    );
    assert_eq!(
        store.pending_pages(&execution.id).await.unwrap(),
        vec![pages[0].clone(), pages[2].clone()]
    );
    assert_eq!(
        store.running_execution_of(&unique("int")).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_queue_gets_the_dead_processes_in_flight_tasks_back_at_once() {
    let dir = state_dir();
    let sent = tasks(2);
    let stale_receipt = {
        let crashed = SqliteQueue::open(&dir).unwrap();
        crashed.send(&sent).await.unwrap();
        let got = crashed.receive(10, Duration::from_secs(5)).await.unwrap();
        assert_eq!(got.len(), 2);
        got[0].receipt.clone()
    };
    let resumed = SqliteQueue::open(&dir).unwrap();
    assert_eq!(resumed.len().await.unwrap(), 2, "tasks are kept on disk");
    assert!(
        resumed
            .receive(10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "still in flight"
    );
    assert_eq!(resumed.make_all_visible().await.unwrap(), 2);
    let again = resumed.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|d| d.receive_count == 2));
    resumed.ack(&stale_receipt).await.unwrap();
    assert_eq!(
        resumed.len().await.unwrap(),
        2,
        "the dead process's receipt acks nothing"
    );
    for delivery in &again {
        resumed.ack(&delivery.receipt).await.unwrap();
    }
    assert!(resumed.is_empty().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn named_queues_in_one_folder_do_not_share_tasks() {
    let dir = state_dir();
    let first = SqliteQueue::open(&dir).unwrap().named("first");
    let second = SqliteQueue::open(&dir).unwrap().named("second");
    first.send(&tasks(1)).await.unwrap();
    assert!(
        second
            .receive(10, Duration::from_millis(200))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(first.receive(10, Duration::ZERO).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_connections_never_receive_the_same_task() {
    let dir = state_dir();
    let queues = [
        SqliteQueue::open(&dir).unwrap(),
        SqliteQueue::open(&dir).unwrap(),
    ];
    let sent = tasks(40);
    queues[0].send(&sent).await.unwrap();
    let batches = race(|n| {
        let queue = queues[n % 2].clone();
        async move { drain(&queue).await }
    })
    .await;
    let received: Vec<PageTask> = batches.into_iter().flatten().collect();
    assert_eq!(received.len(), sent.len());
    assert_eq!(
        received.into_iter().collect::<HashSet<_>>(),
        sent.into_iter().collect()
    );
}

/// Receives (and acknowledges) until the queue stays empty for a moment.
async fn drain(queue: &SqliteQueue) -> Vec<PageTask> {
    let mut mine = Vec::new();
    loop {
        let got = queue.receive(3, Duration::from_millis(300)).await.unwrap();
        if got.is_empty() {
            return mine;
        }
        for delivery in got {
            queue.ack(&delivery.receipt).await.unwrap();
            mine.push(delivery.task);
        }
    }
}

const CHILD_DIR: &str = "DYNSYNC_TEST_CHILD_QUEUE_DIR";
const CHILD_START: &str = "DYNSYNC_TEST_CHILD_START_MS";

fn unix_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    u64::try_from(now.unwrap().as_millis()).unwrap()
}

/// Sleeps until the shared start instant, so that all processes drain at once.
async fn wait_for_start(start_ms: u64) {
    let wait = start_ms.saturating_sub(unix_ms());
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// Not a test of its own: the child process of
/// `two_processes_never_receive_the_same_task`, run by it through this test binary.
#[tokio::test]
#[ignore = "run as a child process by two_processes_never_receive_the_same_task"]
async fn child_process_drains_the_shared_queue() {
    let (Ok(dir), Ok(start)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_START)) else {
        return;
    };
    let queue = SqliteQueue::open(Path::new(&dir)).unwrap();
    wait_for_start(start.parse().unwrap()).await;
    for task in drain(&queue).await {
        println!("received {}", task.cursor.unwrap_or_default());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_receive_the_same_task() {
    let dir = state_dir();
    let queue = SqliteQueue::open(&dir).unwrap();
    let sent = tasks(200);
    queue.send(&sent).await.unwrap();
    // Far enough ahead for both children to start on a busy machine.
    let start = unix_ms() + 1500;
    let spawn_child = || {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_process_drains_the_shared_queue",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_DIR, &dir)
            .env(CHILD_START, start.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children = [spawn_child(), spawn_child()];
    wait_for_start(start).await;
    let mine = drain(&queue).await;
    let mut received: Vec<String> = mine.into_iter().map(|t| t.cursor.unwrap()).collect();
    let outputs = tokio::task::spawn_blocking(move || children.map(|c| c.wait_with_output()));
    for output in outputs.await.unwrap() {
        let output = output.unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        received.extend(
            stdout
                .lines()
                .filter_map(|line| line.strip_prefix("received "))
                .map(str::to_owned),
        );
    }
    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(
        unique.len(),
        received.len(),
        "no task went to two processes"
    );
    assert_eq!(received.len(), sent.len(), "every task was received");
}

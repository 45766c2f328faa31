//! At-least-once delivery: duplicated tasks, a run killed and resumed, concurrent
//! deliveries of the last page. No record is lost, no answered batch is sent again, the
//! execution is finished once, and the counters add up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dynsync_domain::execution::{ExecutionStatus, PageTask};
use dynsync_domain::ports::{Executions, PageQueue, RunLocks};
use dynsync_engine::memory::MemoryQueue;
use dynsync_engine::{OnProgress, PageDisposition, run_until_finished};
use support::source::contacts;
use support::{
    DuplicatingQueue, FlakySendQueue, Harness, ScriptedSource, Spec, assert_counters_add_up, at,
};

fn old() -> chrono::DateTime<chrono::Utc> {
    at("2020-01-01T00:00:00Z")
}

#[tokio::test(start_paused = true)]
async fn every_task_delivered_twice_gives_the_same_counts_and_no_duplicate_events() {
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
    let harness = Harness::wired(
        ScriptedSource::new(contacts(0, 47, old())),
        queue.clone(),
        Arc::new(DuplicatingQueue(queue.clone())),
    );
    harness.sink.reject_email("user5@example.com");
    let integration = Spec {
        page_size: 5,
        partitions: 2,
        ..Spec::default()
    }
    .integration();

    let execution = harness.run(&integration).await;

    assert_eq!(execution.status, ExecutionStatus::CompletedWithFailures);
    let c = execution.counters;
    assert_eq!((c.records_read, c.upserted, c.failed), (47, 46, 1));
    assert_eq!(c.events_sent, 46);
    assert_counters_add_up(&execution);
    assert_eq!(execution.failures.len(), 1);
    assert!(harness.sink.accepted().values().all(|n| *n == 1));
    assert_eq!(harness.sink.max_events_per_user(), 1);
    assert_eq!(harness.sink.total_events(), 46);
    // Every page was sent twice.
    assert_eq!(queue.sent(), 2 * c.pages);
}

#[tokio::test(start_paused = true)]
async fn a_run_killed_after_a_few_pages_resumes_and_upserts_every_record_once() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 50, old())));
    // Fetches yield, so the runner can be dropped while pages are in flight.
    harness.source.yield_in_fetch();
    let integration = Spec {
        page_size: 5,
        ..Spec::default()
    }
    .integration();
    let started = harness.start(&integration).await;

    // Kill the runner after three pages: in-flight work is dropped mid-way.
    let processed = Arc::new(AtomicU32::new(0));
    let killed = Arc::new(tokio::sync::Notify::new());
    let progress: OnProgress = {
        let processed = processed.clone();
        let killed = killed.clone();
        Arc::new(move |_| {
            if processed.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                killed.notify_one();
            }
        })
    };
    tokio::select! {
        result = run_until_finished(harness.engine.clone(), harness.queue.clone(), &started.id, 2, progress) => {
            panic!("the run should have been killed, it ended: {result:?}");
        }
        () = killed.notified() => {}
    }
    let midway = harness
        .state
        .get_execution(&started.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(midway.status, ExecutionStatus::Running);
    assert!(midway.counters.pages >= 3 && midway.counters.pages < 10);

    // The process is gone: its in-flight tasks come back at once, and its page claims go
    // (as `dynsync run` does when it resumes).
    harness.queue.make_all_visible();
    harness.state.release_page_claims(&started.id);
    let execution = harness.finish(&started.id).await;

    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    let c = execution.counters;
    assert_eq!((c.records_read, c.upserted, c.pages), (50, 50, 10));
    assert_counters_add_up(&execution);
    assert_eq!(harness.sink.accepted_users(), 50);
    assert_eq!(harness.sink.max_events_per_user(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_page_delivered_again_after_it_completed_is_skipped() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 8, old())));
    let integration = Spec::default().integration();
    let started = harness.start(&integration).await;
    let task = PageTask {
        execution_id: started.id.clone(),
        integration_id: "contacts".into(),
        partition: 0,
        cursor: None,
    };

    let first = harness.engine.process_page(&task, 1).await.unwrap();
    let again = harness.engine.process_page(&task, 2).await.unwrap();

    assert_eq!(first.disposition, PageDisposition::Processed);
    assert!(first.finished.is_some());
    assert_eq!(again.disposition, PageDisposition::ExecutionNotRunning);
    assert_eq!(harness.sink.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_redelivery_sends_the_next_page_task_that_a_crash_between_register_and_send_lost() {
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
    let flaky = Arc::new(FlakySendQueue {
        inner: queue.clone(),
        fail_on: 2, // send 1: the first page at start; send 2: the first page's next task
        sends: AtomicU32::new(0),
    });
    let harness = Harness::wired(
        ScriptedSource::new(contacts(0, 15, old())),
        queue.clone(),
        flaky,
    );
    let started = harness.start(&Spec::default().integration()).await;
    let delivery = queue.receive(1, Duration::ZERO).await.unwrap().remove(0);

    let crashed = harness.engine.process_page(&delivery.task, 1).await;
    assert!(crashed.is_err_and(|e| e.is_transient()));
    assert!(queue.receive(1, Duration::ZERO).await.unwrap().is_empty());
    assert_eq!(
        harness.sink.calls(),
        0,
        "nothing was upserted before the next task was queued"
    );

    let redelivered = harness
        .engine
        .process_page(&delivery.task, 2)
        .await
        .unwrap();
    assert_eq!(redelivered.disposition, PageDisposition::Processed);
    assert!(redelivered.next_page_queued);
    queue.ack(&delivery.receipt).await.ok();
    let execution = harness.finish(&started.id).await;
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.counters.records_read, 15);
    assert_eq!(harness.sink.accepted_users(), 15);
}

#[tokio::test(start_paused = true)]
async fn two_concurrent_deliveries_of_the_last_page_finish_the_execution_once() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 4, old())));
    harness.source.yield_in_fetch();
    let started = harness.start(&Spec::default().integration()).await;
    let task = PageTask {
        execution_id: started.id.clone(),
        integration_id: "contacts".into(),
        partition: 0,
        cursor: None,
    };

    let (a, b) = tokio::join!(
        harness.engine.process_page(&task, 1),
        harness.engine.process_page(&task, 2)
    );
    let (a, b) = (a.unwrap(), b.unwrap());

    assert_eq!(
        [a.finished.is_some(), b.finished.is_some()]
            .iter()
            .filter(|f| **f)
            .count(),
        1
    );
    let execution = harness
        .state
        .get_execution(&started.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.counters.records_read, 4);
    assert_eq!(execution.counters.pages, 1);
    assert_counters_add_up(&execution);
    // The second delivery found the page claimed by the first (or already done): sent once.
    assert_eq!(harness.sink.calls(), 1);
    assert_eq!(harness.sink.max_events_per_user(), 1);
}

#[tokio::test(start_paused = true)]
async fn two_concurrent_failures_end_the_execution_once() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 4, old())));
    let started = harness.start(&Spec::default().integration()).await;

    let (a, b) = tokio::join!(
        harness.engine.fail_execution(&started.id, "first"),
        harness.engine.fail_execution(&started.id, "second")
    );

    assert!(a.unwrap() ^ b.unwrap());
    let execution = harness
        .state
        .get_execution(&started.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(execution.status, ExecutionStatus::Failed);
    assert_eq!(harness.state.lock_holder("contacts").await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn a_resumed_execution_takes_its_lock_again_under_the_new_owner_and_finishes() {
    let harness = Harness::new(ScriptedSource::new(contacts(0, 12, old())));
    let started = harness.start(&Spec::default().integration()).await;
    // The first process received the first page and died.
    let lost = harness.queue.receive(1, Duration::ZERO).await.unwrap();
    assert_eq!(lost.len(), 1);

    let resumed = harness
        .engine
        .resume_execution(&started.id, "pid:2@host")
        .await
        .unwrap()
        .unwrap();
    harness.queue.make_all_visible();

    assert_eq!(resumed.id, started.id);
    let (holder, owner, _) = harness
        .state
        .lock_holder("contacts")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((holder, owner.as_str()), (started.id.clone(), "pid:2@host"));
    let execution = harness.finish(&started.id).await;
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(execution.counters.records_read, 12);
    assert!(
        harness
            .engine
            .resume_execution(&started.id, "pid:3@host")
            .await
            .unwrap()
            .is_none()
    );
}

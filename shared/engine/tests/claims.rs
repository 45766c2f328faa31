//! Page claims: a delivery of a page that another delivery is processing sends nothing and
//! is held back until the other's claim lapses; a failed delivery gives its claim up so the
//! retry goes ahead; a slow page renews its claim; a delivery whose lapsed claim was taken
//! over stops sending and leaves the page to the new holder, which sends only what the
//! ledger lacks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use dynsync_domain::execution::{ExecutionStatus, PageTask};
use dynsync_domain::ports::{ClaimOutcome, Clock, Executions, PageClaim, PageLedger};
use dynsync_engine::PageDisposition;
use support::source::contacts;
use support::{Harness, ScriptedSource, Spec, assert_counters_add_up, at};

const MINUTE: Duration = Duration::from_secs(60);

fn old() -> chrono::DateTime<chrono::Utc> {
    at("2020-01-01T00:00:00Z")
}

/// A harness with `records` contacts on one page (batches of at most 1,000 users) and the
/// started execution's only page task.
async fn one_page(records: u64) -> (Harness, PageTask) {
    let harness = Harness::new(ScriptedSource::new(contacts(0, records, old())));
    let integration = Spec {
        page_size: u32::try_from(records).unwrap(),
        ..Spec::default()
    }
    .integration();
    let started = harness.start(&integration).await;
    let task = PageTask {
        execution_id: started.id.clone(),
        integration_id: "contacts".into(),
        partition: 0,
        cursor: None,
    };
    (harness, task)
}

/// Another delivery's claim on the task's page, lasting `minutes` from the harness's now.
fn other_claim(harness: &Harness, minutes: u32) -> PageClaim {
    PageClaim {
        claimant: "delivery-other".into(),
        until: harness.clock.now() + MINUTE * minutes,
    }
}

#[tokio::test(start_paused = true)]
async fn a_page_held_by_another_delivery_is_left_alone_until_the_claim_lapses() {
    let (harness, task) = one_page(8).await;
    let claim = other_claim(&harness, 4);
    let claimed = harness
        .state
        .claim_page(&task.execution_id, &task.page_key(), &claim)
        .await
        .unwrap();
    assert!(matches!(claimed, ClaimOutcome::Acquired { .. }));

    let held = harness.engine.process_page(&task, 2).await.unwrap();
    assert_eq!(held.disposition, PageDisposition::HeldElsewhere);
    assert_eq!(held.retry_after, Some(MINUTE * 4));
    assert_eq!(harness.source.fetches(), 0, "nothing fetched");
    assert_eq!(harness.sink.calls(), 0, "nothing sent");

    // The other delivery died: once its claim lapses, this one takes the page over.
    harness.advance(chrono::Duration::minutes(4));
    let taken = harness.engine.process_page(&task, 3).await.unwrap();
    assert_eq!(taken.disposition, PageDisposition::Processed);
    assert_eq!(taken.retry_after, None);
    let execution = taken
        .finished
        .expect("the only page finishes the execution");
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert_eq!(harness.sink.accepted_users(), 8);
}

#[tokio::test(start_paused = true)]
async fn a_delivery_that_fails_gives_its_claim_up_so_the_retry_goes_ahead_at_once() {
    let (harness, task) = one_page(8).await;
    harness.sink.fail_next_transiently(1);

    let failed = harness.engine.process_page(&task, 1).await;
    assert!(failed.is_err_and(|e| e.is_transient()));

    let retried = harness.engine.process_page(&task, 2).await.unwrap();
    assert_eq!(retried.disposition, PageDisposition::Processed);
    assert_eq!(harness.sink.accepted_users(), 8);
}

#[tokio::test(start_paused = true)]
async fn a_slow_page_renews_its_claim_before_sending_more() {
    let (harness, task) = one_page(2_500).await;
    // The first batch takes six minutes: more than half of the ten-minute claim.
    let clock = harness.clock.clone();
    harness.sink.after_call(Arc::new(move |call| {
        if call == 1 {
            clock.advance(chrono::Duration::minutes(6));
        }
        Box::pin(async {})
    }));

    let outcome = harness.engine.process_page(&task, 1).await.unwrap();
    assert_eq!(outcome.disposition, PageDisposition::Processed);
    assert_eq!(harness.sink.batch_sizes(), [1_000, 1_000, 500]);

    // The claim was renewed at minute six, so it holds until minute sixteen.
    let probe = harness
        .state
        .claim_page(
            &task.execution_id,
            &task.page_key(),
            &other_claim(&harness, 10),
        )
        .await
        .unwrap();
    match probe {
        ClaimOutcome::HeldBy { until, .. } => {
            assert_eq!(until, harness.clock.now() + MINUTE * 10);
        }
        ClaimOutcome::Acquired { .. } => panic!("the renewed claim should still hold"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_delivery_whose_lapsed_claim_was_taken_over_stops_and_the_new_holder_sends_the_rest() {
    let (harness, task) = one_page(2_500).await;
    // The first batch outlasts the claim and another delivery takes the page over.
    let (clock, state) = (harness.clock.clone(), harness.state.clone());
    let (execution_id, page_key) = (task.execution_id.clone(), task.page_key());
    harness.sink.after_call(Arc::new(move |call| {
        let (clock, state) = (clock.clone(), state.clone());
        let (execution_id, page_key) = (execution_id.clone(), page_key.clone());
        Box::pin(async move {
            if call == 1 {
                clock.advance(chrono::Duration::minutes(11));
                let other = PageClaim {
                    claimant: "delivery-other".into(),
                    until: clock.now() + MINUTE * 10,
                };
                let taken = state
                    .claim_page(&execution_id, &page_key, &other)
                    .await
                    .unwrap();
                assert!(matches!(taken, ClaimOutcome::Acquired { .. }));
            }
        })
    }));

    let stopped = harness.engine.process_page(&task, 1).await.unwrap();
    assert_eq!(stopped.disposition, PageDisposition::HeldElsewhere);
    assert_eq!(stopped.retry_after, Some(MINUTE * 10));
    assert_eq!(
        harness.sink.calls(),
        1,
        "no batch sent after the claim was lost"
    );
    let running = harness
        .state
        .get_execution(&task.execution_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.status, ExecutionStatus::Running);
    assert_eq!(running.counters.pages, 0, "the page was not counted");

    // The new holder died too; the next delivery sends the two batches the ledger lacks.
    harness.advance(chrono::Duration::minutes(10));
    let finished = harness.engine.process_page(&task, 2).await.unwrap();
    assert_eq!(finished.disposition, PageDisposition::Processed);
    assert_eq!(harness.sink.batch_sizes(), [1_000, 1_000, 500]);
    assert!(harness.sink.accepted().values().all(|n| *n == 1));
    assert_eq!(harness.sink.accepted_users(), 2_500);
    let execution = finished
        .finished
        .expect("the only page finishes the execution");
    assert_eq!(execution.counters.upserted, 2_500);
    assert_eq!(execution.counters.events_sent, 2_500);
    assert_counters_add_up(&execution);
}

//! Issue 6's end-to-end acceptance on this machine, the schedule and manual side: the real
//! dispatcher and worker handlers over DynamoDB, SQS and Secrets Manager on moto and the
//! Dataverse and Insider emulators. Schedule ticks at chosen times, duplicate and concurrent
//! ticks that start nothing more, and the manual event's answers. The pages side (the queue
//! drained with the payloads SQS really delivers, redeliveries, the page claim, dead letters
//! and the stall check, racing workers) is `aws_acceptance_pages.rs`; a transient page coming
//! back through SQS is in `aws_end_to_end.rs`. Skips without `AWS_ENDPOINT_URL` (fails in CI).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/aws_fixtures.rs"]
mod fixtures;
#[path = "support/aws_stack.rs"]
mod stack;

use chrono::Timelike;
use dynsync_dispatcher::Dispatcher;
use dynsync_domain::execution::{ExecutionStatus, Trigger};
use dynsync_telemetry::Metrics;
use fixtures::{Spec, aws, ids, metric, minutes, scheduled_event};
use serde_json::json;
use stack::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_tick_starts_the_due_integration_but_neither_a_paused_nor_a_not_yet_due_one() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    let base = stack.base;
    let every_five = "*/5 * * * *";
    let due = stack.define(&Spec::named("due").schedule(every_five)).await;
    let paused = Spec::named("paused").schedule(every_five).paused();
    let paused = stack.define(&paused).await;
    // Fires once an hour, at base + 8 minutes: not due at the second tick, due at the third.
    let hourly = format!("{} * * * *", (base + minutes(8)).minute());
    let later = stack.define(&Spec::named("later").schedule(hourly)).await;

    let first = stack.tick(base + minutes(1)).await;
    let mut expected = vec![due.clone(), later.clone()];
    expected.sort();
    assert_eq!(ids(&first, "initialised"), expected, "{first}");
    assert_eq!(ids(&first, "started"), Vec::<String>::new(), "{first}");

    let second = stack.tick(base + minutes(6)).await;
    let started = ids(&second, "started");
    assert_eq!(started.len(), 1, "{second}");
    assert!(ids(&second, "initialised").is_empty(), "{second}");
    let execution = stack.execution(&started[0]).await;
    assert_eq!(execution.integration_id, due);
    assert_eq!(execution.trigger, Trigger::Schedule);
    assert_eq!(execution.status, ExecutionStatus::Running);
    assert_eq!(execution.started_at, base + minutes(6));
    assert!(stack.executions_of(&paused).await.is_empty());
    assert!(stack.executions_of(&later).await.is_empty());
    let state = stack.state();
    assert_eq!(
        state.last_slot(&due).await.unwrap(),
        Some(base + minutes(5))
    );
    assert_eq!(state.last_slot(&paused).await.unwrap(), None);

    let third = stack.tick(base + minutes(9)).await;
    let started = ids(&third, "started");
    assert_eq!(started.len(), 1, "{third}");
    assert_eq!(stack.execution(&started[0]).await.integration_id, later);
    assert_eq!(stack.executions_of(&due).await.len(), 1);
    assert!(stack.executions_of(&paused).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_tick_and_two_concurrent_ticks_start_nothing_more() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    let id = stack.define(&Spec::default().schedule("*/5 * * * *")).await;
    let base = stack.base;
    stack.tick(base + minutes(1)).await;
    let fired = stack.tick(base + minutes(6)).await;
    assert_eq!(ids(&fired, "started").len(), 1, "{fired}");

    let again = stack.tick(base + minutes(6)).await;
    for key in ["started", "already_running", "initialised", "errors"] {
        assert!(ids(&again, key).is_empty(), "{again}");
    }
    assert_eq!(stack.executions_of(&id).await.len(), 1);
    stack.drain().await;

    // Two dispatcher containers fire for the same slot at once: one execution starts.
    let other = Dispatcher::new(stack.another_engine());
    let now = base + minutes(11);
    stack.clock.set(now);
    let (metrics_a, metrics_b) = (Metrics::new("a"), Metrics::new("b"));
    let event = scheduled_event(now);
    let (a, b) = tokio::join!(
        stack.dispatcher.handle(&event, "lambda:a", now, &metrics_a),
        other.handle(&event, "lambda:b", now, &metrics_b),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut started = ids(&a, "started");
    started.extend(ids(&b, "started"));
    assert_eq!(started.len(), 1, "{a} {b}");
    // A slot is recorded only after its start (issue 10, defect 8), so the container that
    // loses the race may try the start too and find the run lock held: it starts nothing.
    let mut refused = ids(&a, "already_running");
    refused.extend(ids(&b, "already_running"));
    assert!(refused.len() <= 1, "{a} {b}");
    let executions = stack.executions_of(&id).await;
    assert_eq!(executions.len(), 2);
    assert_eq!(executions[0].id, started[0]);
    let starts = metric(&metrics_a.take_documents(0), "ExecutionsStarted")
        + metric(&metrics_b.take_documents(0), "ExecutionsStarted");
    assert_eq!(starts, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_event_answers_with_its_execution_and_a_second_one_names_the_running_execution() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    let id = stack.define(&Spec::default()).await;

    let answer = stack.manual(&id).await;
    let execution_id = answer["execution_id"].as_str().unwrap().to_owned();
    assert_eq!(
        answer,
        json!({ "integration_id": id, "execution_id": execution_id, "status": "running",
                "started": true, "error": null })
    );
    let execution = stack.execution(&execution_id).await;
    assert_eq!(
        (execution.trigger, execution.status),
        (Trigger::Manual, ExecutionStatus::Running)
    );

    let again = stack.manual(&id).await;
    assert_eq!(
        again,
        json!({ "integration_id": id, "execution_id": execution_id, "status": "running",
                "started": false, "error": null })
    );
    assert_eq!(stack.executions_of(&id).await.len(), 1);

    stack.drain().await;
    assert_eq!(
        stack.status(&execution_id).await,
        ExecutionStatus::Succeeded
    );
    let next = stack.manual(&id).await;
    assert_eq!(next["started"], true, "{next}");
    assert_ne!(next["execution_id"], json!(execution_id));
}

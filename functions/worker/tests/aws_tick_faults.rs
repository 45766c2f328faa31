//! A schedule tick over DynamoDB on moto where one integration's state cannot be read: the
//! tick goes on with the others (the healthy integration's due slot starts), reports the
//! failing one in its summary and the log, and only then fails the invocation, naming it.
//! Skips without `AWS_ENDPOINT_URL` (fails in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/aws_fixtures.rs"]
mod fixtures;
#[path = "support/aws_stack.rs"]
mod stack;

use aws_sdk_dynamodb::types::AttributeValue;
use dynsync_dispatcher::DispatcherError;
use dynsync_telemetry::Metrics;
use fixtures::{Spec, aws, ids, metric, minutes, scheduled_event};
use stack::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_integration_s_state_error_does_not_stop_the_tick_for_the_others() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    let every_five = "*/5 * * * *";
    // Definitions are listed by id: the broken one comes first.
    let broken = stack
        .define(&Spec::named("a-broken").schedule(every_five))
        .await;
    let healthy = stack
        .define(&Spec::named("b-healthy").schedule(every_five))
        .await;
    let first = stack.tick(stack.base + minutes(1)).await;
    assert_eq!(ids(&first, "initialised").len(), 2, "{first}");

    // The broken integration's slot item no longer decodes (a state error on every read).
    aws_sdk_dynamodb::Client::new(&sdk)
        .put_item()
        .table_name(&stack.table)
        .item("pk", AttributeValue::S(format!("INTEGRATION#{broken}")))
        .item("sk", AttributeValue::S("SLOT".into()))
        .item("slot", AttributeValue::S("not a time".into()))
        .send()
        .await
        .unwrap();

    let now = stack.base + minutes(6);
    stack.clock.set(now);
    let metrics = Metrics::new("dispatcher");
    let error = stack
        .dispatcher
        .handle(&scheduled_event(now), "lambda:tick", now, &metrics)
        .await
        .expect_err("a tick that could not schedule an integration fails its invocation");

    // The healthy integration's slot started all the same.
    let executions = stack.executions_of(&healthy).await;
    assert_eq!(
        executions.len(),
        1,
        "the tick stopped at the broken integration"
    );
    assert_eq!(metric(&metrics.take_documents(0), "ExecutionsStarted"), 1.0);
    let DispatcherError::TickIncomplete { summary, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(summary.started, [executions[0].id.clone()]);
    assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
    assert!(
        summary.errors[0].starts_with(&format!("{broken}: ")),
        "{:?}",
        summary.errors
    );
    let message = error.to_string();
    assert!(message.contains(&broken), "{message}");
    assert!(!message.contains(&healthy), "{message}");
    assert!(stack.executions_of(&broken).await.is_empty());
}

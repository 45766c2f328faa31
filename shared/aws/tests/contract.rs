//! The shared port contract suite (`dynsync-contract`) against the AWS adapters on moto:
//! each check gets a fresh table, queue, or secret store. The state and secret suites run
//! through their all-in-one runners, so checks added to them run here without edits; the
//! queue checks are listed (see `queue_checks!` for the one left out on moto). Skips (or fails in CI) without
//! `AWS_ENDPOINT_URL`, like the other moto tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use dynsync_aws::{AwsRequestCounter, SecretsManagerSecretStore};
use dynsync_contract::Fut;
use dynsync_domain::ports::{MemberSets, PageQueue, SecretStore, StateStore};

fn make_state_store() -> Fut<Arc<dyn StateStore>> {
    Box::pin(async {
        let config = common::aws().await.expect("checked by the test");
        Arc::new(common::state_store(&config, &AwsRequestCounter::new()).await) as _
    })
}

fn make_queue(visibility_timeout: Duration) -> Fut<Arc<dyn PageQueue>> {
    Box::pin(async move {
        let config = common::aws().await.expect("checked by the test");
        Arc::new(common::page_queue(&config, visibility_timeout, &AwsRequestCounter::new()).await)
            as _
    })
}

fn make_secret_store() -> Fut<Arc<dyn SecretStore>> {
    Box::pin(async {
        let config = common::aws().await.expect("checked by the test");
        Arc::new(SecretsManagerSecretStore::new(&config, None)) as _
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dynamodb_state_store_keeps_the_state_store_contract() {
    let _ = aws_or_skip!();
    dynsync_contract::state_store_contract(make_state_store).await;
}

/// Every queue check but `a_stale_receipt_neither_acknowledges_nor_releases`: AWS documents
/// that a `DeleteMessage` with a superseded receipt handle "succeeds, but the message will
/// not be deleted", while moto 5.2.5 deletes the message given any receipt handle it ever
/// had (`Queue.delete_message`, `had_receipt_handle`). The adapter passes the handle through
/// unchanged, so that check tests the emulator, not this code. (The engine acks only after
/// the page ledger says done, so a stale ack deletes nothing still needed either way.)
macro_rules! queue_checks {
    ($($check:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $check() {
            let _ = aws_or_skip!();
            dynsync_contract::queue::$check(&make_queue).await;
        }
    )+};
}

queue_checks!(
    sent_tasks_are_received_once_each_then_acknowledged_away,
    a_receive_returns_at_most_max_tasks,
    an_unacknowledged_task_comes_back_after_the_visibility_timeout,
    a_released_task_comes_back_after_its_delay,
    concurrent_receivers_never_get_the_same_visible_task,
    a_waiting_receive_returns_a_task_sent_meanwhile,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_secrets_manager_store_keeps_the_secret_store_contract() {
    let _ = aws_or_skip!();
    dynsync_contract::secret_store_contract(make_secret_store).await;
}

fn make_member_sets() -> Fut<Arc<dyn MemberSets>> {
    Box::pin(async {
        let config = common::aws().await.expect("checked by the test");
        Arc::new(common::state_store(&config, &AwsRequestCounter::new()).await) as _
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dynamodb_state_store_keeps_the_member_set_contract() {
    let _ = aws_or_skip!();
    dynsync_contract::member_sets_contract(make_member_sets).await;
}

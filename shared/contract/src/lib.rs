//! The port contract suite: the behaviour every implementation of a port must show, so
//! that the in-memory, local (SQLite, files) and AWS adapters are interchangeable.
//!
//! Each check is a public async function taking a `make` closure that builds the adapter,
//! and panics on a broken promise. Modules, by port: `state` (`Definitions`: definitions
//! and schedule slots; `RunLocks`), `ledger` (`Executions` with their plans and the
//! `PageLedger`'s registration and completion), `claims` (`PageLedger` claims), `pages`
//! (`PageLedger`: a page's end fixed once, batches with their record ids), `lifecycle`
//! (`Executions`' finish and listing, `SyncState`: watermarks and sync tokens), `queue`
//! (SQS semantics), `hand_back` (a task put back
//! without using up a receive), `members` (member sets: committed by promotion, read by
//! id range), `secrets`; `fixtures` and `race` help them. Checks use ids of their own, so
//! runs may share one server (moto). The macros [`state_store_tests!`], [`queue_tests!`] and
//! [`secret_store_tests!`] turn every check into a `#[tokio::test]` of the calling test
//! crate; [`state_store_contract`], [`queue_contract`] and [`secret_store_contract`] run
//! them all in one go.
//!
//! This crate is test code, used only as a dev-dependency: a failed expectation panics,
//! as a test must, so `unwrap`/`expect` are allowed here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod claims;
pub mod fixtures;
pub mod hand_back;
pub mod ledger;
pub mod lifecycle;
pub mod members;
pub mod pages;
pub mod queue;
pub mod race;
pub mod secrets;
pub mod state;

use std::future::Future;
use std::pin::Pin;

pub use members::MakeMemberSets;
pub use queue::MakeQueue;
pub use secrets::MakeSecretStore;
pub use state::MakeStateStore;

/// What a `make` closure returns.
pub type Fut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Defines one `#[tokio::test]` per check of a list (used by the public macros).
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests {
    ($module:ident, $make:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                $crate::$module::$check(&$make).await;
            }
        )+
    };
}

/// Every state store check as a test: `dynsync_contract::state_store_tests!(make);`
/// where `make: Fn() -> Fut<Arc<dyn StateStore>>`.
#[macro_export]
macro_rules! state_store_tests {
    ($make:expr) => {
        $crate::__contract_tests!(state, $make;
            definitions_are_stored_replaced_listed_and_paused,
            a_schedule_slot_is_claimed_once_by_concurrent_claimers,
            a_run_lock_is_exclusive_and_shows_its_holder,
            the_holder_of_a_run_lock_can_take_it_again_to_renew_it,
            an_expired_run_lock_can_be_taken_by_another_execution,
            a_run_lock_is_released_only_by_its_holder,
            unknown_ids_read_as_absent,
        );
        $crate::__contract_tests!(ledger, $make;
            a_new_execution_registers_its_first_pages_as_outstanding,
            an_execution_that_failed_before_planning_has_no_plan_and_no_pages,
            an_execution_id_is_recorded_only_once,
            a_page_is_registered_once_under_concurrent_registrars,
            a_page_is_completed_once_under_concurrent_completers,
            sent_batches_are_remembered_by_index,
            recorded_failures_are_capped_while_failed_counts_all,
            the_execution_and_its_page_read_together_as_apart,
        );
        $crate::__contract_tests!(claims, $make;
            a_page_claim_is_exclusive_until_its_holder_releases_it,
            a_lapsed_page_claim_can_be_taken_over,
            a_page_claim_returns_the_batches_already_answered,
            a_page_is_claimed_by_one_of_concurrent_claimers,
            claiming_an_unregistered_page_is_a_permanent_error,
        );
        $crate::__contract_tests!(pages, $make;
            a_page_is_fixed_once_and_the_first_fix_wins,
            a_last_page_is_fixed_without_a_next_cursor,
            a_change_tracking_page_is_fixed_with_its_delta_link,
            removal_batches_are_told_from_upsert_batches,
            a_batch_that_stopped_its_execution_reads_back_with_the_error,
            one_of_concurrent_fixes_wins_and_all_see_it,
            fixing_an_unregistered_page_is_a_permanent_error,
            answered_batches_keep_the_ids_of_their_records,
            the_ledger_tells_how_many_pages_are_outstanding,
        );
        $crate::__contract_tests!(lifecycle, $make;
            an_execution_finishes_exactly_once_under_concurrent_finishers,
            the_watermark_moves_only_forward_and_only_by_a_successful_finish,
            a_staged_sync_token_becomes_the_integrations_only_when_its_execution_does_not_fail,
            executions_are_listed_newest_first,
            running_executions_show_their_last_progress,
        );
    };
}

/// Every member-set check as a test: `dynsync_contract::member_sets_tests!(make);`
/// where `make: Fn() -> Fut<Arc<dyn MemberSets>>`.
#[macro_export]
macro_rules! member_sets_tests {
    ($make:expr) => {
        $crate::__contract_tests!(members, $make;
            a_staged_set_is_committed_only_when_promoted,
            range_reads_exclude_the_start_and_include_the_end,
            restaging_a_range_replaces_it_and_leaves_the_others,
            a_new_generation_replaces_the_committed_set_whole,
            a_large_range_is_stored_and_restaged_exactly,
        );
    };
}

/// Runs every member-set check, one after another.
pub async fn member_sets_contract(make: impl MakeMemberSets) {
    members::a_staged_set_is_committed_only_when_promoted(&make).await;
    members::range_reads_exclude_the_start_and_include_the_end(&make).await;
    members::restaging_a_range_replaces_it_and_leaves_the_others(&make).await;
    members::a_new_generation_replaces_the_committed_set_whole(&make).await;
    members::a_large_range_is_stored_and_restaged_exactly(&make).await;
}

/// Every page queue check as a test: `dynsync_contract::queue_tests!(make);`
/// where `make: Fn(Duration) -> Fut<Arc<dyn PageQueue>>` builds an empty queue with that
/// visibility timeout.
#[macro_export]
macro_rules! queue_tests {
    ($make:expr) => {
        $crate::__contract_tests!(queue, $make;
            sent_tasks_are_received_once_each_then_acknowledged_away,
            a_receive_returns_at_most_max_tasks,
            an_unacknowledged_task_comes_back_after_the_visibility_timeout,
            a_released_task_comes_back_after_its_delay,
            a_stale_receipt_neither_acknowledges_nor_releases,
            concurrent_receivers_never_get_the_same_visible_task,
            a_waiting_receive_returns_a_task_sent_meanwhile,
        );
        $crate::__contract_tests!(hand_back, $make;
            a_handed_back_task_comes_back_after_its_delay_without_using_a_receive,
        );
    };
}

/// Every secret store check as a test: `dynsync_contract::secret_store_tests!(make);`.
#[macro_export]
macro_rules! secret_store_tests {
    ($make:expr) => {
        $crate::__contract_tests!(secrets, $make;
            a_stored_secret_reads_back_and_can_be_replaced,
            a_missing_secret_is_not_found_and_permanent,
            secret_values_stay_out_of_debug_output,
        );
    };
}

/// Runs every state store check, one after another.
pub async fn state_store_contract(make: impl MakeStateStore) {
    state::definitions_are_stored_replaced_listed_and_paused(&make).await;
    state::a_schedule_slot_is_claimed_once_by_concurrent_claimers(&make).await;
    state::a_run_lock_is_exclusive_and_shows_its_holder(&make).await;
    state::the_holder_of_a_run_lock_can_take_it_again_to_renew_it(&make).await;
    state::an_expired_run_lock_can_be_taken_by_another_execution(&make).await;
    state::a_run_lock_is_released_only_by_its_holder(&make).await;
    state::unknown_ids_read_as_absent(&make).await;
    ledger::a_new_execution_registers_its_first_pages_as_outstanding(&make).await;
    ledger::an_execution_that_failed_before_planning_has_no_plan_and_no_pages(&make).await;
    ledger::an_execution_id_is_recorded_only_once(&make).await;
    ledger::a_page_is_registered_once_under_concurrent_registrars(&make).await;
    ledger::a_page_is_completed_once_under_concurrent_completers(&make).await;
    ledger::sent_batches_are_remembered_by_index(&make).await;
    ledger::recorded_failures_are_capped_while_failed_counts_all(&make).await;
    ledger::the_execution_and_its_page_read_together_as_apart(&make).await;
    claims::a_page_claim_is_exclusive_until_its_holder_releases_it(&make).await;
    claims::a_lapsed_page_claim_can_be_taken_over(&make).await;
    claims::a_page_claim_returns_the_batches_already_answered(&make).await;
    claims::a_page_is_claimed_by_one_of_concurrent_claimers(&make).await;
    claims::claiming_an_unregistered_page_is_a_permanent_error(&make).await;
    pages::a_page_is_fixed_once_and_the_first_fix_wins(&make).await;
    pages::a_last_page_is_fixed_without_a_next_cursor(&make).await;
    pages::a_change_tracking_page_is_fixed_with_its_delta_link(&make).await;
    pages::removal_batches_are_told_from_upsert_batches(&make).await;
    pages::a_batch_that_stopped_its_execution_reads_back_with_the_error(&make).await;
    pages::one_of_concurrent_fixes_wins_and_all_see_it(&make).await;
    pages::fixing_an_unregistered_page_is_a_permanent_error(&make).await;
    pages::answered_batches_keep_the_ids_of_their_records(&make).await;
    pages::the_ledger_tells_how_many_pages_are_outstanding(&make).await;
    lifecycle::an_execution_finishes_exactly_once_under_concurrent_finishers(&make).await;
    lifecycle::the_watermark_moves_only_forward_and_only_by_a_successful_finish(&make).await;
    lifecycle::a_staged_sync_token_becomes_the_integrations_only_when_its_execution_does_not_fail(
        &make,
    )
    .await;
    lifecycle::executions_are_listed_newest_first(&make).await;
    lifecycle::running_executions_show_their_last_progress(&make).await;
}

/// Runs every page queue check, one after another.
pub async fn queue_contract(make: impl MakeQueue) {
    queue::sent_tasks_are_received_once_each_then_acknowledged_away(&make).await;
    queue::a_receive_returns_at_most_max_tasks(&make).await;
    queue::an_unacknowledged_task_comes_back_after_the_visibility_timeout(&make).await;
    queue::a_released_task_comes_back_after_its_delay(&make).await;
    queue::a_stale_receipt_neither_acknowledges_nor_releases(&make).await;
    queue::concurrent_receivers_never_get_the_same_visible_task(&make).await;
    queue::a_waiting_receive_returns_a_task_sent_meanwhile(&make).await;
    hand_back::a_handed_back_task_comes_back_after_its_delay_without_using_a_receive(&make).await;
}

/// Runs every secret store check, one after another.
pub async fn secret_store_contract(make: impl MakeSecretStore) {
    secrets::a_stored_secret_reads_back_and_can_be_replaced(&make).await;
    secrets::a_missing_secret_is_not_found_and_permanent(&make).await;
    secrets::secret_values_stay_out_of_debug_output(&make).await;
}

//! The fault matrix of issue 10, Insider side: a whole `dynsync run` (real binary, local
//! state, both emulators) under each fault the Insider emulator can inject, and the oracle
//! of `dynsync_tests::oracle`: throttling and a storm of 500s within the retries end in an
//! exact sync (exit 0); a storm past the retries, a 413 and a reply that is not JSON fail
//! the run (exit 1) with an error naming the problem, move no watermark, and a rerun once
//! the fault is gone syncs every contact with no event twice; users Insider rejects, with
//! or without their `users.<i>.` key, complete the run with failures (exit 3) listing
//! exactly those records (without a key: every user of the batch, since Insider did not
//! say which it took); a token rotated mid-run is re-read from the state folder's
//! `secrets.json`.
//!
//! 12 contacts in pages of 4, one Insider batch per page; `--concurrency 1` where a test
//! needs to know which batch a fault hits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use dynsync_emulators::dataverse::Seed;
use dynsync_tests::oracle::{
    Bounds, assert_completed_with_failures, assert_contacts, assert_failed, assert_no_event_twice,
    assert_succeeded, assert_synced_once_each, run, write_tuned_definition,
};
use dynsync_tests::{
    INSIDER_SECRET, INSIDER_SECRET_VAR, RunOutput, Stack, add_contacts, counter, email,
    upserts_by_email,
};
use serde_json::{Value, json};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");
const CONTACTS: usize = 12;
const PAGE_SIZE: u32 = 4;

/// Contacts with one `contact_synced` event each, read by `new_and_updated`.
const BODY: &str = dynsync_tests::CONTACTS_WITH_EVENTS;

/// A stack with the contacts, modified an hour ago, and the definition (`dynamics.retries`
/// is the Insider client's retries too).
async fn stack(retries: u32) -> (Stack, PathBuf, Vec<Uuid>) {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let ids = add_contacts(
        &stack.dataverse.store(),
        0..CONTACTS,
        Utc::now() - chrono::Duration::hours(1),
    )
    .unwrap();
    let file = write_tuned_definition(&stack, PAGE_SIZE, BODY, "", 10_000, retries).unwrap();
    (stack, file, ids)
}

/// Runs with the fault already set and asserts an exact sync.
async fn exact_sync_under(stack: &Stack, file: &Path) -> Value {
    let output = run(stack, Path::new(BIN), file, &[]).await;
    let execution = assert_succeeded(&output, CONTACTS as u64);
    assert_eq!(counter(&execution, "events_sent").unwrap(), CONTACTS as u64);
    assert_synced_once_each(stack, CONTACTS);
    execution
}

/// After a run that failed on its first batch with nothing stored: the fault cleared, a
/// rerun whose window starts where the failed one did (no watermark moved) syncs every
/// contact exactly once.
async fn rerun_syncs_everything(stack: &Stack, file: &Path, failed: &Value) {
    assert_eq!(
        upserts_by_email(&stack.insider).len(),
        0,
        "the faulted batch stored nothing and no batch followed it"
    );
    stack.insider.faults().clear();
    let output = run(stack, Path::new(BIN), file, &["--concurrency", "1"]).await;
    let execution = assert_succeeded(&output, CONTACTS as u64);
    assert_eq!(
        execution["window"]["from"], failed["window"]["from"],
        "a failed run moves no watermark"
    );
    assert_synced_once_each(stack, CONTACTS);
}

/// The ids of the contacts with these indexes.
fn ids_of(ids: &[Uuid], indexes: &[usize]) -> Vec<String> {
    indexes.iter().map(|i| ids[*i].to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn insider_throttling_every_other_request_ends_in_an_exact_sync() {
    let (stack, file, _) = stack(5).await;
    stack
        .insider
        .faults()
        .throttle_every(2, Duration::from_secs(1));
    exact_sync_under(&stack, &file).await;
    assert_eq!(stack.insider.requests(), 6, "each batch throttled once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_insider_500s_within_the_retries_ends_in_an_exact_sync() {
    let (stack, file, _) = stack(5).await;
    stack.insider.faults().fail_next(4, 500);
    exact_sync_under(&stack, &file).await;
    assert_eq!(stack.insider.requests(), 3 + 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_insider_500s_past_the_retries_fails_the_run_and_a_rerun_syncs_everything() {
    // No client retries: the page's five deliveries (the queue's retries) all meet 500s.
    let (stack, file, _) = stack(0).await;
    stack.insider.faults().fail_next(u64::MAX, 500);
    let output = run(&stack, Path::new(BIN), &file, &["--concurrency", "1"]).await;
    let failed = assert_failed(&output, &["insider", "500"]);
    rerun_syncs_everything(&stack, &file, &failed).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_insider_500s_past_the_retries_fails_with_an_error_saying_what_to_do() {
    let (stack, file, _) = stack(0).await;
    stack.insider.faults().fail_next(u64::MAX, 500);
    let output = run(&stack, Path::new(BIN), &file, &["--concurrency", "1"]).await;
    let failed = assert_failed(&output, &["500"]);
    let error = failed["error"].as_str().unwrap().to_lowercase();
    assert!(
        error.contains("later") || error.contains("dynamics.retries"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_413_fails_the_run_naming_the_request_size_and_a_rerun_syncs_everything() {
    let (stack, file, _) = stack(5).await;
    stack.insider.faults().payload_limit(Some(200));
    let output = run(&stack, Path::new(BIN), &file, &["--concurrency", "1"]).await;
    let failed = assert_failed(&output, &["insider", "bytes"]);
    rerun_syncs_everything(&stack, &file, &failed).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_413_for_a_body_under_5_mb_says_what_insider_answered_and_what_to_change() {
    let (stack, file, _) = stack(5).await;
    stack.insider.faults().payload_limit(Some(200));
    let output = run(&stack, Path::new(BIN), &file, &["--concurrency", "1"]).await;
    let failed = assert_failed(&output, &["413"]);
    let error = failed["error"].as_str().unwrap();
    assert!(
        !error.contains("dynsync_mapping") && !error.contains("over Insider's 5,000,000-byte"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_insider_rejects_by_index_complete_the_run_with_exactly_those_records_failed() {
    let (stack, file, ids) = stack(5).await;
    stack
        .insider
        .faults()
        .reject_emails([email(1), email(6)], true);
    let output = run(&stack, Path::new(BIN), &file, &[]).await;
    let execution = assert_completed_with_failures(&output, &ids_of(&ids, &[1, 6]), "rejected");
    assert_eq!(
        counter(&execution, "upserted").unwrap(),
        CONTACTS as u64 - 2
    );
    for i in 0..CONTACTS {
        let bounds = if i == 1 || i == 6 {
            Bounds::NEVER
        } else {
            Bounds::ONCE
        };
        assert_contacts(&stack, i..i + 1, bounds);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_insider_rejects_without_an_index_fail_their_whole_batch_and_are_never_counted_upserted()
 {
    let (stack, file, ids) = stack(5).await;
    stack.insider.faults().reject_emails([email(1)], false);
    let output = run(&stack, Path::new(BIN), &file, &[]).await;
    // Insider did not say which user it refused: every user of contact 1's batch (its
    // page of 4, in contactid order) is failed with a reason, none counted upserted.
    let order = stack.dataverse.store().ids("contact");
    let position = order.iter().position(|id| *id == ids[1]).unwrap();
    let page = &order[position / PAGE_SIZE as usize * PAGE_SIZE as usize..][..PAGE_SIZE as usize];
    let batch: Vec<String> = page.iter().map(Uuid::to_string).collect();
    let execution = assert_completed_with_failures(&output, &batch, "without saying which");
    assert_eq!(
        counter(&execution, "upserted").unwrap(),
        (CONTACTS - PAGE_SIZE as usize) as u64
    );
    // Insider itself took the batch's other users: they are in Insider once, although
    // the run counts them failed (it could not know).
    for i in 0..CONTACTS {
        let bounds = if i == 1 { Bounds::NEVER } else { Bounds::ONCE };
        assert_contacts(&stack, i..i + 1, bounds);
    }
    assert_no_event_twice(&stack);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_that_is_not_json_fails_the_run_and_a_rerun_syncs_everything() {
    let (stack, file, _) = stack(5).await;
    stack.insider.faults().garble_next(1);
    let output = run(&stack, Path::new(BIN), &file, &["--concurrency", "1"]).await;
    let failed = assert_failed(&output, &["insider", "reply"]);
    rerun_syncs_everything(&stack, &file, &failed).await;
}

/// Writes `secrets.json` (mode 0600) in the state folder through a temporary file, as a
/// user rotating the key would replace it.
fn write_secrets(state: &Path, insider_token: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(state).unwrap();
    let tmp = state.join("secrets.json.rotating");
    std::fs::write(
        &tmp,
        serde_json::to_vec(&json!({ INSIDER_SECRET: insider_token })).unwrap(),
    )
    .unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, state.join("secrets.json")).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_insider_token_rotated_mid_run_is_reread_from_the_state_folders_secrets_file() {
    let (stack, file, _) = stack(5).await;
    let state = stack.state_dir();
    write_secrets(&state, dynsync_emulators::insider::TOKEN);
    // After the first batch Insider accepts only the new key; the moment it rotates, the
    // new key is put in secrets.json (where a user rotating it would put it).
    let rotated = "rotated-insider-token";
    let hook_state = state.clone();
    stack
        .insider
        .faults()
        .rotate_token_after(1, rotated, move || write_secrets(&hook_state, rotated));
    let output: RunOutput = stack
        .run_command(Path::new(BIN), &file, &["--concurrency", "1"])
        .env_remove(INSIDER_SECRET_VAR)
        .output()
        .await
        .unwrap()
        .into();
    let execution = assert_succeeded(&output, CONTACTS as u64);
    assert_eq!(counter(&execution, "events_sent").unwrap(), CONTACTS as u64);
    assert_synced_once_each(&stack, CONTACTS);
    assert_eq!(
        stack.insider.requests(),
        4,
        "3 batches and one refused with the old token"
    );
}

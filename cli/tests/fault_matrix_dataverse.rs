//! The fault matrix of issue 10, Dataverse side: a whole `dynsync run` (real binary, local
//! state, both emulators) under each fault the Dataverse + Entra emulator can inject, and
//! the oracle of `dynsync_tests::oracle`: a transient fault within the retries ends in an
//! exact sync (exit 0, every contact upserted once, no event twice); a fault that does not
//! heal fails the run (exit 1) with an error naming what to fix, moves no watermark, and a
//! rerun once it is gone syncs every contact with no event twice.
//!
//! 12 contacts in pages of 4: three pages of records and an empty fourth, a few metadata
//! calls before them, so "every n-th request" knobs hit pages as well as metadata.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use dynsync_emulators::dataverse::Seed;
use dynsync_tests::oracle::{
    Bounds, assert_contacts, assert_failed, assert_no_event_twice, assert_succeeded,
    assert_synced_once_each, run, write_tuned_definition,
};
use dynsync_tests::{Stack, add_contacts, counter, upserts_by_email};
use serde_json::{Value, json};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");
const CONTACTS: usize = 12;
const PAGE_SIZE: u32 = 4;

/// Contacts with one `contact_synced` event each, read by `new_and_updated`.
const BODY: &str = dynsync_tests::CONTACTS_WITH_EVENTS;

/// A stack with the contacts, modified an hour ago, and the definition (timeout, retries).
async fn stack(timeout_ms: u64, retries: u32) -> (Stack, PathBuf, Vec<Uuid>) {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let ids = add_contacts(
        &stack.dataverse.store(),
        0..CONTACTS,
        Utc::now() - chrono::Duration::hours(1),
    )
    .unwrap();
    let file = write_tuned_definition(&stack, PAGE_SIZE, BODY, "", timeout_ms, retries).unwrap();
    (stack, file, ids)
}

/// Runs with the fault already set and asserts an exact sync; returns the execution.
async fn exact_sync_under(stack: &Stack, file: &Path) -> Value {
    let output = run(stack, Path::new(BIN), file, &[]).await;
    let execution = assert_succeeded(&output, CONTACTS as u64);
    assert_eq!(counter(&execution, "events_sent").unwrap(), CONTACTS as u64);
    assert_synced_once_each(stack, CONTACTS);
    execution
}

/// After a failed run: no contact twice, no event twice; then, the fault cleared, a rerun
/// whose window starts where the failed one did (the watermark did not move) syncs every
/// contact with no event twice.
async fn rerun_syncs_everything(stack: &Stack, file: &Path, failed: &Value) {
    assert_contacts(
        stack,
        0..CONTACTS,
        Bounds {
            min_upserts: 0,
            max_upserts: 1,
            max_events: 1,
        },
    );
    stack.dataverse.faults().clear();
    let output = run(stack, Path::new(BIN), file, &[]).await;
    let execution = assert_succeeded(&output, CONTACTS as u64);
    assert_eq!(
        execution["window"]["from"], failed["window"]["from"],
        "a failed run moves no watermark"
    );
    // Nothing reached Insider before these runs failed (they fail on their first page or
    // before it), so the rerun sends each contact and event exactly once.
    assert_synced_once_each(stack, CONTACTS);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_429s_with_retry_after_ends_in_an_exact_sync() {
    let (stack, file, _) = stack(10_000, 5).await;
    stack.dataverse.faults().throttle_every(2, 1);
    exact_sync_under(&stack, &file).await;
    // At least 5 requests were answered (metadata and 4 pages) and every even one was
    // throttled.
    assert!(
        stack.dataverse.requests() >= 9,
        "{} requests",
        stack.dataverse.requests()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_429s_without_retry_after_ends_in_an_exact_sync() {
    let (stack, file, _) = stack(10_000, 5).await;
    stack
        .dataverse
        .faults()
        .throttle_without_retry_after_every(2);
    exact_sync_under(&stack, &file).await;
    assert!(
        stack.dataverse.requests() >= 9,
        "{} requests",
        stack.dataverse.requests()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_third_request_failing_with_503_ends_in_an_exact_sync() {
    let (stack, file, _) = stack(10_000, 5).await;
    stack.dataverse.faults().fail_every(3, 503);
    exact_sync_under(&stack, &file).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_dropped_without_a_reply_end_in_an_exact_sync() {
    let (stack, file, _) = stack(10_000, 5).await;
    stack.dataverse.faults().drop_every(3);
    exact_sync_under(&stack, &file).await;
}

/// Web API requests the same run makes without any fault.
async fn requests_without_faults() -> u64 {
    let (stack, file, _) = stack(1_000, 5).await;
    exact_sync_under(&stack, &file).await;
    stack.dataverse.requests()
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_slower_than_request_timeout_ms_are_retried_and_end_in_an_exact_sync() {
    let (stack, file, _) = stack(1_000, 5).await;
    // Two requests after the first three (past the metadata calls) outlast the 1 s
    // timeout; their retries are answered at once.
    stack
        .dataverse
        .faults()
        .slow_requests(3, 2, Duration::from_millis(1_600));
    exact_sync_under(&stack, &file).await;
    let clean = requests_without_faults().await;
    assert_eq!(
        stack.dataverse.requests(),
        clean + 2,
        "the two slow requests timed out and were sent again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_always_slower_than_request_timeout_ms_fail_the_run_naming_that_setting() {
    let (stack, file, _) = stack(1_000, 1).await;
    stack
        .dataverse
        .faults()
        .slow_next(u64::MAX, Duration::from_millis(1_600));
    let output = run(&stack, Path::new(BIN), &file, &[]).await;
    let failed = assert_failed(&output, &["request_timeout_ms"]);
    rerun_syncs_everything(&stack, &file, &failed).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_page_is_fetched_again_and_the_run_ends_in_an_exact_sync() {
    let (stack, file, _) = stack(10_000, 5).await;
    stack.dataverse.faults().malformed_page_every(2);
    exact_sync_under(&stack, &file).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_with_wrong_types_in_value_is_fetched_again_and_the_run_ends_in_an_exact_sync() {
    let (stack, file, _) = stack(10_000, 5).await;
    stack.dataverse.faults().wrong_types_page_every(2);
    exact_sync_under(&stack, &file).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_without_its_primary_id_fails_the_run_naming_the_record_and_loses_nothing() {
    let (stack, file, _) = stack(10_000, 5).await;
    // Every page's second record lacks contactid: paging cannot go on from it, nor end
    // there silently.
    stack.dataverse.faults().bad_primary_id(1, None);
    let output = run(&stack, Path::new(BIN), &file, &[]).await;
    let failed = assert_failed(&output, &["record 2 of 4", "contactid"]);
    assert_eq!(upserts_by_email(&stack.insider).len(), 0, "nothing sent");
    rerun_syncs_everything(&stack, &file, &failed).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_whose_email_has_the_wrong_type_is_skipped_and_the_others_synced() {
    let (stack, file, ids) = stack(10_000, 5).await;
    // The second record of every page carries a number as its email: no valid identifier,
    // so the record is skipped (with its reason in the log), as one without an email is.
    // Pages are in contactid order, which add_contacts' random ids do not follow.
    stack
        .dataverse
        .faults()
        .wrong_type_field(1, "emailaddress1", json!(12345));
    let order = stack.dataverse.store().ids("contact");
    let spoiled: Vec<Uuid> = order
        .chunks(PAGE_SIZE as usize)
        .filter_map(|page| page.get(1).copied())
        .collect();
    let output = run(&stack, Path::new(BIN), &file, &[]).await;
    assert_eq!(output.code, Some(0), "{}\n{}", output.stdout, output.stderr);
    let execution = output.execution().unwrap();
    assert_eq!(execution["status"], "succeeded", "{execution}");
    assert_eq!(
        counter(&execution, "records_read").unwrap(),
        CONTACTS as u64
    );
    assert_eq!(
        counter(&execution, "skipped").unwrap(),
        spoiled.len() as u64
    );
    assert_eq!(
        counter(&execution, "upserted").unwrap(),
        (CONTACTS - spoiled.len()) as u64
    );
    for (i, id) in ids.iter().enumerate() {
        let bounds = if spoiled.contains(id) {
            Bounds::NEVER
        } else {
            Bounds::ONCE
        };
        assert_contacts(&stack, i..i + 1, bounds);
    }
    assert_no_event_twice(&stack);
}

#[tokio::test(flavor = "multi_thread")]
async fn access_tokens_expiring_mid_run_are_renewed_and_the_run_ends_in_an_exact_sync() {
    let (stack, file, _) = stack(10_000, 5).await;
    let faults = stack.dataverse.faults();
    // Tokens live 1 s; with 400 ms per request the run outlives several of them.
    faults.token_lifetime(1);
    faults.set_latency(Duration::from_millis(400));
    exact_sync_under(&stack, &file).await;
    assert!(
        faults.tokens_issued() >= 3,
        "tokens were renewed during the run: {} issued",
        faults.tokens_issued()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_valid_access_token_refused_with_401_mid_run_is_replaced_and_the_run_ends_in_an_exact_sync()
 {
    let (stack, file, _) = stack(10_000, 5).await;
    let faults = stack.dataverse.faults();
    // The token of the fifth request (past the metadata calls, among the pages) is
    // refused from then on, an hour before it expires.
    faults.revoke_access_token_after(4);
    exact_sync_under(&stack, &file).await;
    assert_eq!(
        faults.tokens_issued(),
        2,
        "one token, then one more after the 401"
    );
}

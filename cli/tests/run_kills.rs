//! The real `dynsync run`, killed on the spot (the engine's failpoints, `return(kill)`
//! aborts the process) at each step of a page: after its fetch, after its next task was
//! queued, between two batches, after its last batch, between completing the page and
//! finishing the execution; some runs with a contact of the answered batch modified in
//! Dataverse before the rerun. The rerun resumes the execution, and the oracle holds:
//! every contact upserted, none twice, no event twice, counters that add up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use chrono::Utc;
use dynsync_emulators::dataverse::{Record, Seed};
use dynsync_tests::{
    RunOutput, Stack, add_contacts, counter, email, events_by_email, upserts_by_email,
};

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");
/// Three pages (1,200, 1,200, 200) of two batches (1,000 + 200) each but the last.
const CONTACTS: usize = 2_600;
const PAGE_SIZE: u32 = 1_200;

/// Contacts with one `contact_synced` event each, read by `new_and_updated`.
const BODY: &str = dynsync_tests::CONTACTS_WITH_EVENTS;

/// Kills a run at the `hit`th pass of `point`, optionally modifies one already-sent
/// contact, reruns, and checks the oracle.
async fn killed_at(point: &str, hit: u32, modify_a_sent_contact: bool) {
    let case = format!("{point} hit {hit} (modified: {modify_a_sent_contact})");
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    let ids = add_contacts(&store, 0..CONTACTS, Utc::now() - chrono::Duration::hours(1)).unwrap();
    let file = stack.write_definition(PAGE_SIZE, BODY, "").unwrap();

    let first: RunOutput = stack
        .run_command(Path::new(BIN), &file, &["--concurrency", "1"])
        .env(
            "FAILPOINTS",
            format!("{point}={}*off->1*return(kill)", hit - 1),
        )
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(
        first.code, None,
        "{case}: killed by a signal\n{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("killing the process"),
        "{case}: {}",
        first.stderr
    );

    if modify_a_sent_contact {
        let sent = upserts_by_email(&stack.insider);
        let i = (0..CONTACTS)
            .find(|i| sent.contains_key(&email(*i)))
            .expect("a contact was sent before the kill");
        // Its modifiedon moves to now: past the execution's window.
        store
            .update("contact", ids[i], Record::new().with("firstname", "Moved"))
            .unwrap();
    }

    let second: RunOutput = stack
        .run_command(Path::new(BIN), &file, &[])
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(second.code, Some(0), "{case}: {}", second.stderr);
    let execution = second.execution().unwrap();
    assert_eq!(execution["status"], "succeeded", "{case}");
    assert_eq!(
        counter(&execution, "records_read").unwrap(),
        CONTACTS as u64,
        "{case}"
    );
    assert_eq!(
        counter(&execution, "upserted").unwrap(),
        CONTACTS as u64,
        "{case}"
    );

    let synced = upserts_by_email(&stack.insider);
    for i in 0..CONTACTS {
        let times = synced.get(&email(i)).copied().unwrap_or(0);
        assert_eq!(times, 1, "{case}: contact {i} upserted {times} times");
    }
    let events = events_by_email(&stack.insider);
    assert!(
        events.values().all(|n| *n == 1),
        "{case}: an event sent twice"
    );
    assert_eq!(events.len(), CONTACTS, "{case}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_after_a_page_was_fetched_resumes_and_sends_everything_once() {
    killed_at("page.after_fetch", 2, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_after_the_next_task_was_queued_resumes_and_sends_everything_once() {
    killed_at("page.after_next", 1, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_between_two_batches_resumes_and_sends_everything_once() {
    killed_at("page.after_batch", 1, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_between_two_batches_then_a_sent_contact_modified_loses_nothing() {
    killed_at("page.after_batch", 3, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_after_a_pages_last_batch_resumes_and_sends_everything_once() {
    killed_at("page.after_batch", 2, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_between_completing_the_last_page_and_finishing_resumes_and_finishes() {
    killed_at("page.after_complete", 3, false).await;
}

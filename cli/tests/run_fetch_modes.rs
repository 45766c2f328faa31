//! `dynsync run` across two runs per fetch mode, against the emulators: which users the
//! second run upserts after records were changed and created in Dataverse in between, that
//! incremental modes send no event twice, that consecutive windows meet, and `days_to_get`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use dynsync_emulators::dataverse::{Record, Seed};
use dynsync_tests::data::upserted_between;
use dynsync_tests::{
    RunOutput, Stack, add_contacts, counter, email, events_by_email, upserts_by_email,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");

fn body(fetch_mode: &str, days_to_get: u32) -> String {
    format!(
        "method: entity
source:
  entity: contact
  fetch_mode: {fetch_mode}
  days_to_get: {days_to_get}
  fields: [contactid, emailaddress1, firstname, modifiedon]
identifiers:
  - {{ type: email, field: emailaddress1 }}
attributes:
  - {{ key: name, field: firstname }}
events:
  name: {{ fixed: contact_synced }}
  timestamp: {{ field: modifiedon }}"
    )
}

async fn run(stack: &Stack, file: &Path) -> (RunOutput, Value) {
    let output: RunOutput = stack
        .run_command(
            Path::new(BIN),
            file,
            &["--safety-lag", "0", "--concurrency", "2"],
        )
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let execution = output.execution().unwrap();
    assert_eq!(execution["status"], "succeeded");
    (output, execution)
}

fn emails(indexes: &[usize]) -> Vec<String> {
    let mut emails: Vec<String> = indexes.iter().map(|i| email(*i)).collect();
    emails.sort();
    emails
}

/// Run 1 reads contacts 0..12; then contacts 1 and 2 are updated and 12, 13 created; run 2
/// follows. Returns run 2's record, the emails upserted by run 2, and run 1's record.
async fn two_runs(fetch_mode: &str) -> (Stack, Value, Vec<String>, Value) {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    let ids = add_contacts(&store, 0..12, Utc::now() - chrono::Duration::hours(2)).unwrap();
    let file = stack.write_definition(5, &body(fetch_mode, 0), "").unwrap();

    let (_, first) = run(&stack, &file).await;
    assert_eq!(counter(&first, "records_read").unwrap(), 12);
    assert_eq!(counter(&first, "upserted").unwrap(), 12);
    assert_eq!(counter(&first, "events_sent").unwrap(), 12);
    assert_eq!(upserts_by_email(&stack.insider).len(), 12);
    let before = upserts_by_email(&stack.insider);

    // Stamped by the emulator's wall clock, after run 1's window end (its start).
    for id in &ids[1..3] {
        store
            .update("contact", *id, Record::new().with("firstname", "Changed"))
            .unwrap();
    }
    add_contacts(&store, 12..14, Utc::now()).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let (_, second) = run(&stack, &file).await;
    let upserted = upserted_between(&before, &upserts_by_email(&stack.insider));
    (stack, second, upserted, first)
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_mode_all_upserts_every_record_on_every_run() {
    let (stack, second, upserted, first) = two_runs("all").await;
    assert_eq!(first["window"], Value::Null);
    assert_eq!(second["window"], Value::Null);
    assert_eq!(upserted, emails(&(0..14).collect::<Vec<_>>()));
    assert_eq!(counter(&second, "records_read").unwrap(), 14);
    assert_eq!(counter(&second, "upserted").unwrap(), 14);
    let events = events_by_email(&stack.insider);
    for i in 0..12 {
        assert_eq!(
            events[&email(i)],
            2,
            "contact {i} is read (and its event sent) by both runs"
        );
    }
    assert_eq!(events[&email(12)], 1);
    assert_eq!(events[&email(13)], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_mode_new_and_updated_upserts_only_changed_and_created_records_and_resends_no_event()
{
    let (stack, second, upserted, first) = two_runs("new_and_updated").await;
    assert_eq!(
        first["window"]["from"],
        Value::Null,
        "the first run reads everything"
    );
    assert_eq!(
        second["window"]["from"], first["window"]["to"],
        "windows meet"
    );
    assert_eq!(upserted, emails(&[1, 2, 12, 13]));
    assert_eq!(counter(&second, "records_read").unwrap(), 4);
    assert_eq!(counter(&second, "upserted").unwrap(), 4);
    assert_eq!(counter(&second, "events_sent").unwrap(), 4);
    let events = events_by_email(&stack.insider);
    for i in 0..14 {
        let expected = if i == 1 || i == 2 { 2 } else { 1 };
        assert_eq!(events[&email(i)], expected, "events of contact {i}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_mode_only_updated_skips_records_created_since_the_last_sync() {
    let (stack, second, upserted, first) = two_runs("only_updated").await;
    assert_eq!(second["window"]["from"], first["window"]["to"]);
    assert_eq!(upserted, emails(&[1, 2]));
    assert_eq!(counter(&second, "records_read").unwrap(), 2);
    assert_eq!(counter(&second, "upserted").unwrap(), 2);
    let events = events_by_email(&stack.insider);
    for i in 0..12 {
        let expected = if i == 1 || i == 2 { 2 } else { 1 };
        assert_eq!(events[&email(i)], expected, "events of contact {i}");
    }
    assert!(!events.contains_key(&email(12)) && !events.contains_key(&email(13)));
    assert!(stack.insider.profile_by_email(&email(12)).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn days_to_get_leaves_out_records_modified_before_the_last_n_days() {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    add_contacts(&store, 0..4, Utc::now() - chrono::Duration::days(10)).unwrap();
    add_contacts(&store, 4..7, Utc::now() - chrono::Duration::days(2)).unwrap();
    let file = stack.write_definition(2, &body("all", 5), "").unwrap();

    let started = Utc::now();
    let (_, execution) = run(&stack, &file).await;
    assert_eq!(counter(&execution, "records_read").unwrap(), 3);
    assert_eq!(counter(&execution, "upserted").unwrap(), 3);
    let mut seen: Vec<String> = upserts_by_email(&stack.insider).into_keys().collect();
    seen.sort();
    assert_eq!(seen, emails(&[4, 5, 6]));
    assert_eq!(execution["window"]["to"], Value::Null);
    let from: chrono::DateTime<Utc> = execution["window"]["from"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = started - chrono::Duration::days(5);
    assert!(
        (from - expected).num_seconds().abs() <= 5,
        "window.from {from} is 5 days before the start ({expected})"
    );
}

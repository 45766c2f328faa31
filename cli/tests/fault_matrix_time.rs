//! The fault matrix of issue 10, time: records modified around an incremental window's end.
//! `dynsync run` fixes the window once at the start: `[from, to)` on `modifiedon` with
//! `to = start (whole seconds) - --safety-lag`; the Dataverse emulator stamps nothing here
//! (the contacts carry their own `modifiedon`, to the millisecond) and compares FetchXML's
//! whole-second bounds with them. Contacts stamped on both sides of the first run's `to`,
//! one exactly on it and others a millisecond either side, go to the first or the second
//! run by their stamp alone, each exactly once, with no event twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, SubsecRound, Utc};
use dynsync_emulators::dataverse::Seed;
use dynsync_tests::data::upserted_between;
use dynsync_tests::oracle::{
    assert_no_event_twice, assert_succeeded, assert_synced_once_each, run,
};
use dynsync_tests::{Stack, add_contacts, email, upserts_by_email};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");

const BODY: &str = "method: entity
source:
  entity: contact
  fetch_mode: new_and_updated
  fields: [contactid, emailaddress1, firstname, modifiedon]
identifiers:
  - { type: email, field: emailaddress1 }
attributes:
  - { key: name, field: firstname }
events:
  name: { fixed: contact_synced }
  timestamp: { field: modifiedon }";

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread")]
async fn records_modified_just_before_and_after_the_window_end_go_once_each_to_consecutive_runs() {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    // Stamps on every whole second from 20 s to 1 s before now, and a millisecond before
    // and after each: the first run's `to` (its start minus a 10 s lag) falls on one of
    // those seconds, however long the process takes to start (under 9 s).
    let now = Utc::now().trunc_subsecs(0);
    let mut stamps = Vec::new();
    for seconds in 1..=20 {
        let second = now - chrono::Duration::seconds(seconds);
        for offset_ms in [-1, 0, 1] {
            stamps.push(second + chrono::Duration::milliseconds(offset_ms));
        }
    }
    for (i, stamp) in stamps.iter().enumerate() {
        add_contacts(&store, i..i + 1, *stamp).unwrap();
    }
    let file = stack.write_definition(25, BODY, "").unwrap();

    let first = run(&stack, Path::new(BIN), &file, &["--safety-lag", "10"]).await;
    let before: BTreeSet<usize> = (0..stamps.len()).collect();
    let first_window_end = {
        let output = first.execution().unwrap();
        instant(&output["window"]["to"])
    };
    let in_first: BTreeSet<usize> = before
        .iter()
        .copied()
        .filter(|i| stamps[*i] < first_window_end)
        .collect();
    let first_execution = assert_succeeded(&first, in_first.len() as u64);
    assert_eq!(first_execution["window"]["from"], Value::Null);
    assert!(
        stamps.contains(&first_window_end),
        "the window's end {first_window_end} falls on a seeded second"
    );
    let after_first = upserts_by_email(&stack.insider);
    let mut expected: Vec<String> = in_first.iter().map(|i| email(*i)).collect();
    expected.sort();
    let mut got: Vec<String> = after_first.keys().cloned().collect();
    got.sort();
    assert_eq!(
        got, expected,
        "the first run sends exactly the contacts stamped before its window's end"
    );

    // The second run (no lag) covers [first to, its start): everything else.
    let second = run(&stack, Path::new(BIN), &file, &["--safety-lag", "0"]).await;
    let rest: Vec<usize> = before.difference(&in_first).copied().collect();
    assert!(
        rest.len() >= 3,
        "the contacts on and just after the boundary are left to the second run"
    );
    let second_execution = assert_succeeded(&second, rest.len() as u64);
    assert_eq!(
        second_execution["window"]["from"], first_execution["window"]["to"],
        "consecutive windows meet"
    );
    let mut sent_second = upserted_between(&after_first, &upserts_by_email(&stack.insider));
    sent_second.sort();
    let mut expected: Vec<String> = rest.iter().map(|i| email(*i)).collect();
    expected.sort();
    assert_eq!(sent_second, expected);
    assert_synced_once_each(&stack, stamps.len());
    assert_no_event_twice(&stack);
}

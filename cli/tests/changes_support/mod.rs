//! Fixtures of the `fetch_mode: changes` CLI tests (`run_changes.rs`,
//! `run_changes_kills.rs`): the definition body, the binary run against a stack, a first
//! run over the seeded contacts, the changes made between runs, and three runs in a row.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use chrono::Utc;
use dynsync_emulators::dataverse::{Record, Seed};
use dynsync_tests::cli::{count as n, succeeded};
use dynsync_tests::{
    RunOutput, Stack, add_contacts, email, events_by_email, upserted_between, upserts_by_email,
};
use serde_json::Value;
use uuid::Uuid;

pub const BIN: &str = env!("CARGO_BIN_EXE_dynsync");
/// Contacts seeded before run 1: the even ones live in Istanbul, which the filter selects.
pub const SEEDED: usize = 20;

pub fn body(removals: &str) -> String {
    format!(
        "method: entity
source:
  entity: contact
  fetch_mode: changes
  filter: \"<condition attribute='address1_city' operator='eq' value='Istanbul' />\"
  fields: [contactid, emailaddress1, firstname, address1_city, modifiedon]
identifiers:
  - {{ type: email, field: emailaddress1 }}
  - {{ type: uuid, field: contactid }}
removals: {removals}
attributes:
  - {{ key: name, field: firstname }}
events:
  name: {{ fixed: contact_synced }}
  timestamp: {{ field: modifiedon }}"
    )
}

pub async fn dynsync(stack: &Stack, file: &Path, extra: &[&str]) -> RunOutput {
    stack
        .run_command(Path::new(BIN), file, extra)
        .output()
        .await
        .unwrap()
        .into()
}

pub fn emails(indexes: &[usize]) -> Vec<String> {
    let mut emails: Vec<String> = indexes.iter().map(|i| email(*i)).collect();
    emails.sort();
    emails
}

/// Stack, seeded contacts' ids, the definition file and run 1's record.
pub async fn first_run(removals: &str, page_size: u32) -> (Stack, Vec<Uuid>, PathBuf, Value) {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    let ids = add_contacts(&store, 0..SEEDED, Utc::now() - chrono::Duration::hours(2)).unwrap();
    let file = stack
        .write_definition(page_size, &body(removals), "")
        .unwrap();
    let first = succeeded(&dynsync(&stack, &file, &[]).await);
    assert_eq!(n(&first, "records_read"), SEEDED as u64);
    assert_eq!(n(&first, "upserted"), (SEEDED / 2) as u64, "{first}");
    assert_eq!(
        n(&first, "skipped"),
        (SEEDED / 2) as u64,
        "odd contacts are filtered out"
    );
    assert_eq!(n(&first, "deleted"), 0);
    let even: Vec<usize> = (0..SEEDED).step_by(2).collect();
    assert_eq!(
        upserts_by_email(&stack.insider)
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        emails(&even)
    );
    (stack, ids, file, first)
}

/// Between runs 1 and 2: contact 2 updated, 4 moved out of the filter (to London), 20
/// (Istanbul) and 21 (London) created, 6 and 8 deleted.
pub fn change(stack: &Stack, ids: &[Uuid]) {
    let store = stack.dataverse.store();
    store
        .update(
            "contact",
            ids[2],
            Record::new().with("firstname", "Changed"),
        )
        .unwrap();
    store
        .update(
            "contact",
            ids[4],
            Record::new().with("address1_city", "London"),
        )
        .unwrap();
    add_contacts(&store, SEEDED..SEEDED + 2, Utc::now()).unwrap();
    store.delete("contact", ids[6]).unwrap();
    store.delete("contact", ids[8]).unwrap();
}

/// Runs 1 and 2 around [`change`], checks what both removals settings share, runs 3 and
/// returns the stack, ids and run 2's record.
pub async fn three_runs(removals: &str) -> (Stack, Vec<Uuid>, Value) {
    let (stack, ids, file, _) = first_run(removals, 5).await;
    let before = upserts_by_email(&stack.insider);
    let events_before = events_by_email(&stack.insider);
    change(&stack, &ids);

    let second = succeeded(&dynsync(&stack, &file, &[]).await);
    assert_eq!(
        n(&second, "records_read"),
        4,
        "2, 4, 20 and 21 changed: {second}"
    );
    assert_eq!(n(&second, "upserted"), 2, "{second}");
    assert_eq!(
        n(&second, "skipped"),
        2,
        "4 left the filter, 21 is outside it"
    );
    assert_eq!(n(&second, "deleted"), 2, "{second}");
    assert_eq!(n(&second, "resynced"), 0);
    // The removal attribute's upserts merge into 6's and 8's profiles by uuid; of the
    // records, only 2 and 20 were upserted.
    let from_records: Vec<String> = upserted_between(&before, &upserts_by_email(&stack.insider))
        .into_iter()
        .filter(|e| e != &email(6) && e != &email(8))
        .collect();
    assert_eq!(from_records, emails(&[2, 20]));
    assert!(stack.insider.profile_by_email(&email(21)).is_none());
    assert_eq!(
        stack.insider.profile_by_email(&email(4)).unwrap().upserts,
        1,
        "the contact that left the filter is not upserted again"
    );
    let events = events_by_email(&stack.insider);
    for (who, count) in &events {
        let expected = match who.as_str() {
            e if e == email(2) => 2, // a new modifiedon: a new event
            _ => 1,
        };
        assert_eq!(*count, expected, "events of {who}: {events:?}");
    }
    for i in [0, 10, 18] {
        assert_eq!(events.get(&email(i)), events_before.get(&email(i)), "{i}");
    }

    let third = succeeded(&dynsync(&stack, &file, &[]).await);
    assert_eq!(n(&third, "records_read"), 0, "{third}");
    assert_eq!(n(&third, "deleted"), 0);
    assert_eq!(n(&third, "upserted"), 0);
    (stack, ids, second)
}

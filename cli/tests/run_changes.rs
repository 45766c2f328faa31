//! `dynsync run` with `fetch_mode: changes` (issue 11) through the real binary against both
//! emulators: run 1 is a full read that upserts what the filter selects; then contacts are
//! updated, created, deleted and one updated out of the filter; run 2 upserts exactly the
//! updated and created ones that match, applies `removals` to exactly the deleted ones
//! (ignore, delete_profile, {attribute, value}: one test each), skips the filtered-out one
//! and sends no event twice; run 3 reads nothing. Also: an expired token makes a full read
//! that succeeds and says so, tracking off is refused with the fix (run, connect, fields),
//! and a run killed mid-way then rerun delivers every change with the token moved once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::Utc;
use dynsync_emulators::dataverse::{Record, Seed};
use dynsync_tests::cli::{count as n, succeeded};
use dynsync_tests::local::sync_token;
use dynsync_tests::{
    RunOutput, Stack, add_contacts, email, events_by_email, upserted_between, upserts_by_email,
};
use serde_json::Value;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");
/// Contacts seeded before run 1: the even ones live in Istanbul, which the filter selects.
const SEEDED: usize = 20;

fn body(removals: &str) -> String {
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

async fn dynsync(stack: &Stack, file: &Path, extra: &[&str]) -> RunOutput {
    stack
        .run_command(Path::new(BIN), file, extra)
        .output()
        .await
        .unwrap()
        .into()
}

fn emails(indexes: &[usize]) -> Vec<String> {
    let mut emails: Vec<String> = indexes.iter().map(|i| email(*i)).collect();
    emails.sort();
    emails
}

/// Stack, seeded contacts' ids, the definition file and run 1's record.
async fn first_run(removals: &str, page_size: u32) -> (Stack, Vec<Uuid>, PathBuf, Value) {
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
fn change(stack: &Stack, ids: &[Uuid]) {
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
async fn three_runs(removals: &str) -> (Stack, Vec<Uuid>, Value) {
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

#[tokio::test(flavor = "multi_thread")]
async fn removals_ignore_leaves_the_deleted_contacts_profiles_alone() {
    let (stack, ids, second) = three_runs("ignore").await;
    assert_eq!(n(&second, "removals_applied"), 0);
    assert_eq!(stack.insider.delete_requests(), 0);
    for i in [6, 8] {
        let profile = stack.insider.profile_by_email(&email(i)).unwrap();
        assert_eq!(profile.upserts, 1, "contact {i}");
        assert!(profile.attributes.get("custom").is_none());
    }
    assert!(
        stack
            .insider
            .profile_by_identifier("uuid", &ids[6].to_string())
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn removals_delete_profile_deletes_exactly_the_deleted_contacts_profiles() {
    let (stack, ids, second) = three_runs("delete_profile").await;
    assert_eq!(n(&second, "removals_applied"), 2);
    assert_eq!(second["failures"], Value::Array(Vec::new()));
    assert_eq!(
        stack.insider.delete_requests(),
        2,
        "one request per deleted contact"
    );
    for i in [6, 8] {
        assert!(
            stack
                .insider
                .profile_by_identifier("uuid", &ids[i].to_string())
                .is_none(),
            "contact {i}'s profile is deleted"
        );
        assert!(stack.insider.profile_by_email(&email(i)).is_none());
    }
    let kept: Vec<usize> = [0, 2, 4, 10, 12, 14, 16, 18, 20].to_vec();
    for i in kept {
        assert!(
            stack.insider.profile_by_email(&email(i)).is_some(),
            "contact {i} is kept"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn removals_attribute_marks_exactly_the_deleted_contacts_profiles() {
    let (stack, ids, second) = three_runs("{ attribute: custom.crm_deleted, value: true }").await;
    assert_eq!(n(&second, "removals_applied"), 2);
    assert_eq!(stack.insider.delete_requests(), 0);
    let marked: BTreeMap<String, bool> = stack
        .insider
        .profiles()
        .into_iter()
        .filter(|p| {
            p.attributes
                .get("custom")
                .and_then(|c| c.get("crm_deleted"))
                == Some(&Value::Bool(true))
        })
        .map(|p| (p.email().unwrap_or_default().to_owned(), true))
        .collect();
    assert_eq!(
        marked.keys().cloned().collect::<Vec<_>>(),
        emails(&[6, 8]),
        "the attribute lands on the deleted contacts' own profiles (merged by uuid)"
    );
    for i in [6, 8] {
        let profile = stack
            .insider
            .profile_by_identifier("uuid", &ids[i].to_string())
            .unwrap();
        assert_eq!(profile.email(), Some(email(i).as_str()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_reads_everything_again_and_the_record_says_so() {
    let (stack, ids, file, _) = first_run("delete_profile", 5).await;
    let token1 = sync_token(&stack.state_dir(), "e2e").await.unwrap();
    assert!(token1.is_some());
    let store = stack.dataverse.store();
    store.delete("contact", ids[6]).unwrap();
    store.expire_change_tokens();

    let output = dynsync(&stack, &file, &[]).await;
    let second = succeeded(&output);
    assert_eq!(n(&second, "resynced"), 1, "{second}");
    assert_eq!(n(&second, "records_read"), (SEEDED - 1) as u64);
    assert_eq!(
        n(&second, "deleted"),
        0,
        "a delete in the gap cannot be seen"
    );
    assert_eq!(stack.insider.delete_requests(), 0);
    let token2 = sync_token(&stack.state_dir(), "e2e").await.unwrap();
    assert!(token2.is_some() && token2 != token1);
    // Tracking works again from the new token.
    store.delete("contact", ids[8]).unwrap();
    let third = succeeded(&dynsync(&stack, &file, &[]).await);
    assert_eq!(n(&third, "resynced"), 0);
    assert_eq!(n(&third, "records_read"), 0);
    assert_eq!(n(&third, "deleted"), 1);
    assert_eq!(n(&third, "removals_applied"), 1);
    assert!(stack.insider.profile_by_email(&email(8)).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn change_tracking_off_is_refused_with_the_fix_and_nothing_is_upserted() {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    add_contacts(&store, 0..4, Utc::now()).unwrap();
    store.set_change_tracking("contact", false).unwrap();
    let file = stack.write_definition(5, &body("ignore"), "").unwrap();

    let output = dynsync(&stack, &file, &[]).await;
    assert_eq!(output.code, Some(1), "{}\n{}", output.stdout, output.stderr);
    let all = format!("{}{}", output.stdout, output.stderr);
    assert!(all.contains("Track changes"), "{all}");
    assert!(stack.insider.profiles().is_empty(), "nothing upserted");
    assert!(
        sync_token(&stack.state_dir(), "e2e")
            .await
            .unwrap()
            .is_none()
    );

    for command in ["connect", "fields"] {
        let output: RunOutput = tokio::process::Command::new(BIN)
            .arg(command)
            .arg(&file)
            .arg("--state")
            .arg(stack.state_dir())
            .envs(stack.secret_env())
            .env("NO_COLOR", "1")
            .output()
            .await
            .unwrap()
            .into();
        let all = format!("{}{}", output.stdout, output.stderr);
        assert_eq!(output.code, Some(1), "{command}: {all}");
        assert!(all.contains("Track changes"), "{command}: {all}");
    }
    assert!(stack.insider.profiles().is_empty());
}

/// Kills run 2 (the one reading changes) at `point`'s `hit`th pass and reruns it.
async fn killed_at(point: &str, hit: u32) {
    let case = format!("{point} hit {hit}");
    // One change page: the upsert batch of 2 and 20, then the removal batch of 6 and 8.
    let (stack, ids, file, _) = first_run("delete_profile", 10).await;
    let token1 = sync_token(&stack.state_dir(), "e2e").await.unwrap();
    let before = upserts_by_email(&stack.insider);
    change(&stack, &ids);

    let killed: RunOutput = stack
        .run_command(Path::new(BIN), &file, &["--concurrency", "1"])
        .env(
            "FAILPOINTS",
            format!("{point}={}*off->1*return(kill)", hit - 1),
        )
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(killed.code, None, "{case}: killed\n{}", killed.stderr);
    assert_eq!(
        sync_token(&stack.state_dir(), "e2e").await.unwrap(),
        token1,
        "{case}: a killed run moves no token"
    );

    let rerun = succeeded(&dynsync(&stack, &file, &[]).await);
    assert_eq!(n(&rerun, "records_read"), 4, "{case}: {rerun}");
    assert_eq!(n(&rerun, "upserted"), 2, "{case}");
    assert_eq!(n(&rerun, "skipped"), 2, "{case}");
    assert_eq!(n(&rerun, "deleted"), 2, "{case}");
    assert_eq!(n(&rerun, "removals_applied"), 2, "{case}");
    let token2 = sync_token(&stack.state_dir(), "e2e").await.unwrap();
    assert!(token2.is_some() && token2 != token1, "{case}");
    let after = upserts_by_email(&stack.insider);
    assert_eq!(
        upserted_between(&before, &after),
        emails(&[2, 20]),
        "{case}"
    );
    assert!(after.values().all(|n| *n <= 2), "{case}: {after:?}");
    assert!(
        stack.insider.profile_by_email(&email(6)).is_none(),
        "{case}"
    );
    assert!(
        stack.insider.profile_by_email(&email(8)).is_none(),
        "{case}"
    );
    assert_eq!(
        stack.insider.delete_requests(),
        2,
        "{case}: each profile deleted once"
    );
    let events = events_by_email(&stack.insider);
    assert_eq!(events.get(&email(2)), Some(&2), "{case}");
    assert!(
        events.iter().all(|(e, c)| *c == 1 || e == &email(2)),
        "{case}: an event sent twice: {events:?}"
    );

    // The token moved once, to where run 2 ended: nothing is left to read.
    let third = succeeded(&dynsync(&stack, &file, &[]).await);
    assert_eq!(n(&third, "records_read"), 0, "{case}");
    assert_eq!(n(&third, "deleted"), 0, "{case}");
    assert!(
        sync_token(&stack.state_dir(), "e2e")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_after_a_change_page_was_fetched_reruns_and_delivers_every_change() {
    killed_at("page.after_fetch", 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_between_the_upserts_and_the_removals_reruns_and_delivers_both() {
    killed_at("page.after_batch", 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_after_a_removal_batch_reruns_and_deletes_each_profile_once() {
    killed_at("page.after_batch", 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_between_the_last_page_and_the_finish_reruns_and_moves_the_token_once() {
    killed_at("page.after_complete", 1).await;
}

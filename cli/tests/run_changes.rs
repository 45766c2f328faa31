//! `dynsync run` with `fetch_mode: changes` (issue 11) through the real binary against both
//! emulators: run 1 is a full read that upserts what the filter selects; then contacts are
//! updated, created, deleted and one updated out of the filter; run 2 upserts exactly the
//! updated and created ones that match, applies `removals` to exactly the deleted ones
//! (ignore, delete_profile, {attribute, value}: one test each), skips the filtered-out one
//! and sends no event twice; run 3 reads nothing. Also: an expired token makes a full read
//! that succeeds and says so, and tracking off is refused with the fix (run, connect,
//! fields). Runs killed mid-way: `run_changes_kills.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod changes_support;

use std::collections::BTreeMap;

use changes_support::*;
use chrono::Utc;
use dynsync_emulators::dataverse::Seed;
use dynsync_tests::cli::{count as n, succeeded};
use dynsync_tests::local::sync_token;
use dynsync_tests::{RunOutput, Stack, add_contacts, email};
use serde_json::Value;

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

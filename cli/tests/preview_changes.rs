//! `dynsync preview` and `run --dry-run` with `fetch_mode: changes`: after a real run,
//! contact 0 is updated and contacts 1 and 3 deleted; `preview` and `run --dry-run` show what the next run would do with them under
//! `removals`, send nothing, and leave the token, so the real run still sees the deletes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use chrono::Utc;
use dynsync_emulators::dataverse::{Record, Seed};
use dynsync_tests::{RunOutput, Stack, add_contacts};
use serde_json::Value;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");

fn body(removals: &str) -> String {
    format!(
        "method: entity
source:
  entity: contact
  fetch_mode: changes
  fields: [contactid, emailaddress1, firstname]
identifiers:
  - {{ type: email, field: emailaddress1 }}
  - {{ type: uuid, field: contactid }}
removals: {removals}
attributes:
  - {{ key: name, field: firstname }}"
    )
}

async fn command(stack: &Stack, args: &[&str], file: &Path) -> RunOutput {
    tokio::process::Command::new(BIN)
        .arg(args[0])
        .arg(file)
        .args(&args[1..])
        .arg("--state")
        .arg(stack.state_dir())
        .envs(stack.secret_env())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap()
        .into()
}

/// A synced stack with 0 updated and 1 and 3 deleted since; the file and the ids.
async fn changed(removals: &str) -> (Stack, std::path::PathBuf, Vec<Uuid>) {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    let ids = add_contacts(&store, 0..6, Utc::now()).unwrap();
    let file = stack.write_definition(10, &body(removals), "").unwrap();
    let preview = command(&stack, &["preview", "--json"], &file).await;
    assert_eq!(preview.code, Some(0), "{}", preview.stderr);
    let before: Value = serde_json::from_str(&preview.stdout).unwrap();
    assert!(
        before["notes"][0]
            .as_str()
            .unwrap()
            .contains("no change-tracking token"),
        "{before}"
    );
    assert_eq!(before["records_read"], 6);
    assert_eq!(before["deleted"], 0);
    let run = command(&stack, &["run", "--json"], &file).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    store
        .update(
            "contact",
            ids[0],
            Record::new().with("firstname", "Changed"),
        )
        .unwrap();
    store.delete("contact", ids[1]).unwrap();
    store.delete("contact", ids[3]).unwrap();
    (stack, file, ids)
}

/// `preview --json`'s records by outcome: the users' emails, the deleted ids' actions.
async fn preview(stack: &Stack, file: &Path) -> (Value, Vec<(String, String)>) {
    let requests = stack.insider.requests();
    let run = command(stack, &["preview", "--json"], file).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(stack.insider.requests(), requests, "preview sends nothing");
    let preview: Value = serde_json::from_str(&run.stdout).unwrap();
    let mut deleted: Vec<(String, String)> = preview["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["outcome"] == "deleted")
        .map(|r| {
            (
                r["record_id"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    deleted.sort();
    assert_eq!(preview["records_read"], 1, "{preview}");
    assert_eq!(preview["users"], 1);
    assert_eq!(preview["deleted"], 2);
    (preview, deleted)
}

fn expected(ids: &[Uuid], action: impl Fn(&Uuid) -> String) -> Vec<(String, String)> {
    let mut expected: Vec<(String, String)> = [ids[1], ids[3]]
        .iter()
        .map(|id| (id.to_string(), action(id)))
        .collect();
    expected.sort();
    expected
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_and_dry_run_show_the_profiles_delete_profile_would_delete() {
    let (stack, file, ids) = changed("delete_profile").await;
    let (preview, deleted) = preview(&stack, &file).await;
    assert_eq!(
        deleted,
        expected(&ids, |id| format!("would delete profile uuid={id}")),
        "{preview}"
    );
    let text = command(&stack, &["preview"], &file).await;
    assert!(
        text.stdout.contains(&format!(
            "record {}: deleted in Dynamics: would delete profile uuid={}",
            ids[1], ids[1]
        )),
        "{}",
        text.stdout
    );

    // The dry run writes the two Delete User Profile bodies, sends nothing.
    let payloads = stack.path("payloads.jsonl");
    let requests = stack.insider.requests();
    let dry = command(
        &stack,
        &["run", "--json", "--dry-run", payloads.to_str().unwrap()],
        &file,
    )
    .await;
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    let record = dry.execution().unwrap();
    assert_eq!(record["deleted"], 2, "{record}");
    assert_eq!(record["removals_applied"], 2);
    assert_eq!(record["records_read"], 1);
    assert_eq!(
        stack.insider.requests(),
        requests,
        "the dry run sends nothing"
    );
    assert_eq!(stack.insider.delete_requests(), 0);
    let lines: Vec<Value> = std::fs::read_to_string(&payloads)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut deletes: Vec<String> = lines
        .iter()
        .filter(|l| l.get("users").is_none())
        .map(|l| {
            assert_eq!(l.as_object().unwrap().len(), 1, "{l}");
            l["identifiers"]["uuid"].as_str().unwrap().to_owned()
        })
        .collect();
    deletes.sort();
    let mut want = vec![ids[1].to_string(), ids[3].to_string()];
    want.sort();
    assert_eq!(deletes, want);
    assert_eq!(lines.iter().filter(|l| l.get("users").is_some()).count(), 1);

    // The state was not touched: the real run still sees both deletes.
    let run = command(&stack, &["run", "--json"], &file).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let record = run.execution().unwrap();
    assert_eq!(record["deleted"], 2, "{record}");
    assert_eq!(stack.insider.delete_requests(), 2);
    let (after, deleted) = {
        let run = command(&stack, &["preview", "--json"], &file).await;
        let v: Value = serde_json::from_str(&run.stdout).unwrap();
        let n = v["deleted"].clone();
        (v, n)
    };
    assert_eq!(deleted, 0, "{after}");
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_shows_the_attribute_a_removal_would_set() {
    let (stack, file, ids) = changed("{ attribute: custom.crm_deleted, value: true }").await;
    let (preview, deleted) = preview(&stack, &file).await;
    assert_eq!(
        deleted,
        expected(&ids, |id| format!(
            "would set custom.crm_deleted=true on uuid={id}"
        )),
        "{preview}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_shows_deletes_ignored_under_removals_ignore() {
    let (stack, file, ids) = changed("ignore").await;
    let (preview, deleted) = preview(&stack, &file).await;
    assert_eq!(
        deleted,
        expected(&ids, |_| {
            "ignored (removals: ignore): the Insider profile stays".to_owned()
        }),
        "{preview}"
    );
}

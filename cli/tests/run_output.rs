//! What `dynsync run` prints and records: `--json` is exactly one execution record with the
//! contract's keys (and `dynsync executions` shows the same one), an invalid definition
//! exits 2 with nothing on stdout, `--dry-run` sends nothing and records nothing, and a
//! wrong secret fails with a fix while its value appears nowhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use chrono::Utc;
use dynsync_emulators::dataverse::Seed;
use dynsync_tests::{
    DYNAMICS_SECRET_VAR, EXECUTION_KEYS, RunOutput, Stack, add_contacts, counter, email,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");

const BODY: &str = "method: entity
source:
  entity: contact
  fetch_mode: new_and_updated
  fields: [contactid, emailaddress1, firstname, lastname]
identifiers:
  - { type: email, field: emailaddress1 }
attributes:
  - { key: name, field: firstname }
  - { key: surname, field: lastname }
events:
  name: { fixed: contact_synced }
  timestamp: processing_time";

async fn seeded(contacts: usize) -> (Stack, std::path::PathBuf) {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    add_contacts(
        &stack.dataverse.store(),
        0..contacts,
        Utc::now() - chrono::Duration::hours(1),
    )
    .unwrap();
    let file = stack.write_definition(3, BODY, "").unwrap();
    (stack, file)
}

async fn dynsync(stack: &Stack, args: &[&str]) -> RunOutput {
    tokio::process::Command::new(BIN)
        .args(args)
        .arg("--state")
        .arg(stack.state_dir())
        .envs(stack.secret_env())
        .output()
        .await
        .unwrap()
        .into()
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_is_exactly_one_execution_record_with_the_contract_keys() {
    let (stack, file) = seeded(7).await;
    let output: RunOutput = stack
        .run_command(Path::new(BIN), &file, &["--safety-lag", "0"])
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let execution = output.execution().unwrap();
    let keys: Vec<&str> = execution
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, EXECUTION_KEYS, "keys in the contract's order");
    assert_eq!(execution["integration_id"], "e2e");
    assert_eq!(execution["trigger"], "manual");
    assert_eq!(execution["status"], "succeeded");
    assert_eq!(execution["error"], Value::Null);
    assert_eq!(execution["failures"], serde_json::json!([]));
    assert_eq!(counter(&execution, "records_read").unwrap(), 7);
    assert_eq!(counter(&execution, "upserted").unwrap(), 7);
    assert_eq!(counter(&execution, "events_sent").unwrap(), 7);
    assert_eq!(counter(&execution, "skipped").unwrap(), 0);
    assert_eq!(counter(&execution, "failed").unwrap(), 0);
    let started: chrono::DateTime<Utc> = execution["started_at"].as_str().unwrap().parse().unwrap();
    let finished: chrono::DateTime<Utc> =
        execution["finished_at"].as_str().unwrap().parse().unwrap();
    assert!(started <= finished);
    assert_eq!(execution["window"]["from"], Value::Null);
    assert!(execution["window"]["to"].is_string());

    let id = execution["id"].as_str().unwrap();
    let shown = dynsync(&stack, &["executions", "show", id, "--json"]).await;
    assert_eq!(shown.code, Some(0), "{}", shown.stderr);
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown, execution, "the state folder holds the same record");
    let listed = dynsync(&stack, &["executions", "--integration", "e2e", "--json"]).await;
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], execution["id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_definition_exits_2_with_nothing_on_stdout() {
    let (stack, _) = seeded(1).await;
    let file = stack.path("invalid.yaml");
    let yaml = stack
        .definition(3, BODY, "")
        .replace("partner: acme", "partner: ACME");
    std::fs::write(&file, yaml).unwrap();
    let output: RunOutput = stack
        .run_command(Path::new(BIN), &file, &[])
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(output.code, Some(2), "{}", output.stderr);
    assert_eq!(output.stdout, "");
    assert!(
        output.stderr.contains("insider.partner"),
        "{}",
        output.stderr
    );
    assert_eq!(stack.insider.requests(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_sends_nothing_writes_valid_upsert_bodies_and_records_nothing() {
    let (stack, file) = seeded(7).await;
    let payload = stack.path("payload.jsonl");
    let output: RunOutput = stack
        .run_command(
            Path::new(BIN),
            &file,
            &["--dry-run", payload.to_str().unwrap(), "--safety-lag", "0"],
        )
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let execution = output.execution().unwrap();
    assert_eq!(counter(&execution, "records_read").unwrap(), 7);
    assert_eq!(stack.insider.requests(), 0, "nothing reached Insider");

    let text = std::fs::read_to_string(&payload).unwrap();
    let mut emails = Vec::new();
    for line in text.lines() {
        let body: Value = serde_json::from_str(line).unwrap();
        let users = body["users"]
            .as_array()
            .expect("an upsert body holds users");
        assert!(!users.is_empty() && users.len() <= 1000);
        for user in users {
            emails.push(user["identifiers"]["email"].as_str().unwrap().to_owned());
            assert!(user["attributes"]["name"].is_string());
            assert_eq!(user["events"][0]["event_name"], "contact_synced");
            assert!(user["events"][0]["timestamp"].is_string());
        }
    }
    emails.sort();
    let mut expected: Vec<String> = (0..7).map(email).collect();
    expected.sort();
    assert_eq!(emails, expected);

    // Valid bodies: Insider (the emulator) accepts each one as it is, every user.
    let client = reqwest::Client::new();
    for line in text.lines() {
        let reply = client
            .post(stack.insider.upsert_url())
            .header("X-PARTNER-NAME", dynsync_emulators::insider::PARTNER)
            .header("X-REQUEST-TOKEN", dynsync_emulators::insider::TOKEN)
            .header("Content-Type", "application/json")
            .body(line.to_owned())
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        let reply: Value = reply.json().await.unwrap();
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["data"]["fail"], serde_json::json!({}), "{reply}");
        assert!(reply["data"]["successful"]["count"].as_u64().unwrap() > 0);
    }
    assert_eq!(stack.insider.profiles().len(), 7);

    let state = stack.state_dir();
    let recorded = std::fs::read_dir(&state).map(|d| d.count()).unwrap_or(0);
    assert_eq!(recorded, 0, "the dry run left files in {}", state.display());
    // A real run afterwards is a first run: no window start, every record read.
    let real: RunOutput = stack
        .run_command(Path::new(BIN), &file, &["--safety-lag", "0"])
        .output()
        .await
        .unwrap()
        .into();
    let real = real.execution().unwrap();
    assert_eq!(real["window"]["from"], Value::Null);
    assert_eq!(counter(&real, "upserted").unwrap(), 7);
}

/// `dynsync run` with the secret variable `var` set to `wrong`: it exits 1 with a failed
/// execution, the value in neither its stdout nor its stderr; the execution record.
async fn run_with_wrong_secret(stack: &Stack, file: &Path, var: &str, wrong: &str) -> Value {
    let output: RunOutput = stack
        .run_command(Path::new(BIN), file, &[])
        .env(var, wrong)
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert!(!output.stdout.contains(wrong) && !output.stderr.contains(wrong));
    let execution = output.execution().unwrap();
    assert_eq!(execution["status"], "failed");
    execution
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_client_secret_fails_with_a_fix_and_its_value_appears_nowhere() {
    let (stack, file) = seeded(3).await;
    let wrong = "Wr0ng-s3cret-VALUE-4c1d";
    let execution = run_with_wrong_secret(&stack, &file, DYNAMICS_SECRET_VAR, wrong).await;
    let error = execution["error"].as_str().unwrap();
    assert!(
        error.contains("rejected the client secret") && error.contains("secret store"),
        "the error says what to fix: {error}"
    );
    assert_eq!(stack.insider.requests(), 0);

    let id = execution["id"].as_str().unwrap();
    let shown = dynsync(&stack, &["executions", "show", id, "--json"]).await;
    assert_eq!(shown.code, Some(0), "{}", shown.stderr);
    assert!(!shown.stdout.contains(wrong) && !shown.stderr.contains(wrong));
    let table = dynsync(&stack, &["executions", "show", id]).await;
    assert!(!table.stdout.contains(wrong) && !table.stderr.contains(wrong));
    for entry in std::fs::read_dir(stack.state_dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(wrong),
            "the state folder holds the secret"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_insider_token_fails_the_run_and_its_value_appears_nowhere() {
    let (stack, file) = seeded(3).await;
    let wrong = "wrong-insider-token-9f8e";
    let execution =
        run_with_wrong_secret(&stack, &file, dynsync_tests::INSIDER_SECRET_VAR, wrong).await;
    let error = execution["error"].as_str().unwrap();
    assert!(
        error.contains("Insider") && error.contains("token"),
        "{error}"
    );
    assert!(stack.insider.profiles().is_empty());
}

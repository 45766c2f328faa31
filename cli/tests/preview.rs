//! `dynsync preview` (and the Insider half of `dynsync connect`) run as a user would: the
//! real binary against the Dataverse and Insider emulators, with a definition in a temp
//! folder and secrets passed as `DYNSYNC_SECRET_*` variables. Preview must map the messy
//! demo contacts, explain every skipped record, and send nothing to Insider. Preview with
//! `fetch_mode: changes` and removals: `preview_changes.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use dynsync_emulators::dataverse::{CLIENT_SECRET, DataverseEmulator, Seed};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, TOKEN};
use dynsync_tests::definition::Endpoints;
use serde_json::Value;

struct Stack {
    dataverse: DataverseEmulator,
    insider: InsiderEmulator,
    dir: tempfile::TempDir,
}

async fn stack() -> Stack {
    Stack {
        dataverse: DataverseEmulator::start(Seed::demo()).await.unwrap(),
        insider: InsiderEmulator::start(InsiderConfig::default())
            .await
            .unwrap(),
        dir: tempfile::tempdir().unwrap(),
    }
}

fn definition(stack: &Stack, partner: &str) -> String {
    let at = Endpoints::of(&stack.dataverse, &stack.insider);
    format!(
        "id: preview-test
method: entity
{dynamics}  request_timeout_ms: 5000
  retries: 1
source:
  entity: contact
  fields: [contactid, emailaddress1, mobilephone, firstname, lastname, gendercode, donotbulkemail]
identifiers:
  - {{ type: email, field: emailaddress1 }}
  - {{ type: phone_number, field: mobilephone }}
phone: {{ country_code: \"90\" }}
attributes:
  - {{ key: name, field: firstname }}
  - {{ key: surname, field: lastname }}
  - {{ key: gender, field: gendercode, code_to_label: true }}
  - {{ key: email_optin, field: donotbulkemail, invert_boolean: true }}
fixed_attributes:
  - {{ key: custom.source, value: Dynamics }}
insider:
  api_url: {upsert}
  partner: {partner}
  token: {{ secret: dynsync/insider }}
",
        dynamics = at.dynamics("dynsync/test/dynamics"),
        upsert = at.upsert,
    )
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn dynsync(dir: &Path, yaml: &str, args: &[&str]) -> Run {
    let file = dir.join("integration.yaml");
    std::fs::write(&file, yaml).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dynsync"))
        .arg(args[0])
        .arg(&file)
        .args(&args[1..])
        .arg("--state")
        .arg(dir.join("state"))
        .env("DYNSYNC_SECRET_DYNSYNC_TEST_DYNAMICS", CLIENT_SECRET)
        .env("DYNSYNC_SECRET_DYNSYNC_INSIDER", TOKEN)
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_maps_records_explains_skips_and_sends_nothing() {
    let stack = stack().await;
    let yaml = definition(&stack, "acme");
    let run = dynsync(
        stack.dir.path(),
        &yaml,
        &["preview", "--limit", "200", "--json"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let preview: Value = serde_json::from_str(&run.stdout).unwrap();
    let records = preview["records"].as_array().unwrap();
    assert_eq!(records.len(), 200);
    assert_eq!(preview["records_read"], 200);
    let count = |key: &str| preview[key].as_u64().unwrap();
    assert_eq!(count("users") + count("skipped") + count("failed"), 200);
    assert!(count("users") > 100, "{}", preview["users"]);
    assert!(
        count("skipped") > 0,
        "the demo data has contacts without a valid identifier"
    );

    for record in records {
        match record["outcome"].as_str().unwrap() {
            "user" => {
                let user = &record["user"];
                assert!(
                    user["identifiers"]
                        .as_object()
                        .is_some_and(|ids| !ids.is_empty())
                );
                assert_eq!(user["attributes"]["custom"]["source"], "Dynamics");
                if let Some(phone) = user["identifiers"]["phone_number"].as_str() {
                    assert!(phone.starts_with('+') && !phone.contains(' '), "{phone}");
                }
            }
            "skipped" => {
                let reason = record["reason"].as_str().unwrap();
                assert!(reason.starts_with("no valid identifier"), "{reason}");
                assert!(
                    !reason.contains("example.com"),
                    "reasons carry no values: {reason}"
                );
            }
            other => panic!("unexpected outcome {other}"),
        }
    }
    // A national number with the country code setting becomes E.164.
    assert!(
        records
            .iter()
            .any(|r| r["user"]["identifiers"]["phone_number"] == "+905321234567")
    );
    assert_eq!(stack.insider.requests(), 0, "preview sends nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_prints_ten_records_by_default_in_text() {
    let stack = stack().await;
    let yaml = definition(&stack, "acme");
    let run = dynsync(stack.dir.path(), &yaml, &["preview"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("record "))
        .count();
    assert_eq!(records, 10, "{}", run.stdout);
    assert!(run.stdout.contains("10 record(s) read"), "{}", run.stdout);
    assert!(run.stdout.contains("Nothing was sent."));
    assert_eq!(stack.insider.requests(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_of_an_invalid_definition_exits_2() {
    let stack = stack().await;
    let run = dynsync(stack.dir.path(), "id: Bad Id\n", &["preview"]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_checks_the_insider_partner_and_token() {
    let stack = stack().await;
    let good = dynsync(
        stack.dir.path(),
        &definition(&stack, "acme"),
        &["connect", "--json"],
    )
    .await;
    assert_eq!(good.code, 0, "{}\n{}", good.stdout, good.stderr);
    let report: Value = serde_json::from_str(&good.stdout).unwrap();
    let insider = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Insider credentials")
        .expect("an Insider row");
    assert_eq!(insider["ok"], true);

    let bad = dynsync(
        stack.dir.path(),
        &definition(&stack, "acmee"),
        &["connect", "--json"],
    )
    .await;
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("Partner is invalid: check insider.partner"),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains(TOKEN) && !bad.stdout.contains(TOKEN));
    assert!(
        stack.insider.profiles().is_empty(),
        "the check writes nothing"
    );
}

//! A `dynsync run` killed with SIGKILL after a few pages, and a second `dynsync run` on the
//! same state folder: it resumes the same execution (ARCHITECTURE.md section 8, "Local
//! resume"), every record ends up upserted exactly once in the counters, and no event is
//! sent twice beyond the one batch that may have been in flight when the process died.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use dynsync_emulators::dataverse::Seed;
use dynsync_tests::{
    RunOutput, Stack, add_contacts, counter, email, events_by_email, upserts_by_email,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");
const CONTACTS: usize = 38;
const PAGE_SIZE: u32 = 4;

const BODY: &str = "method: entity
source:
  entity: contact
  fields: [contactid, emailaddress1, firstname]
identifiers:
  - { type: email, field: emailaddress1 }
attributes:
  - { key: name, field: firstname }
events:
  name: { fixed: contact_synced }
  timestamp: processing_time";

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_run_is_resumed_by_the_next_run_with_the_same_execution_and_exact_counts() {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    add_contacts(
        &stack.dataverse.store(),
        0..CONTACTS,
        Utc::now() - chrono::Duration::hours(1),
    )
    .unwrap();
    let file = stack.write_definition(PAGE_SIZE, BODY, "").unwrap();
    stack
        .dataverse
        .faults()
        .set_latency(Duration::from_millis(200));

    let mut first = stack
        .run_command(Path::new(BIN), &file, &["--concurrency", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while stack.insider.requests() < 3 {
        assert!(Instant::now() < deadline, "the first run made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.start_kill().unwrap();
    let status = first.wait().await.unwrap();
    assert_eq!(status.code(), None, "killed by a signal");
    let synced_before = upserts_by_email(&stack.insider).len();
    assert!(
        synced_before < CONTACTS,
        "the kill landed before the end ({synced_before} synced)"
    );

    stack.dataverse.faults().set_latency(Duration::ZERO);
    let second: RunOutput = stack
        .run_command(Path::new(BIN), &file, &[])
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    assert!(
        second.stderr.contains("resuming execution"),
        "{}",
        second.stderr
    );
    let execution = second.execution().unwrap();
    assert_eq!(execution["status"], "succeeded");
    assert!(second.stderr.contains(execution["id"].as_str().unwrap()));

    let listed: RunOutput = tokio::process::Command::new(BIN)
        .args(["executions", "--json", "--state"])
        .arg(stack.state_dir())
        .output()
        .await
        .unwrap()
        .into();
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "no second execution: {listed}"
    );
    assert_eq!(listed[0]["id"], execution["id"]);

    let contacts = CONTACTS as u64;
    assert_eq!(counter(&execution, "records_read").unwrap(), contacts);
    assert_eq!(counter(&execution, "upserted").unwrap(), contacts);
    assert_eq!(counter(&execution, "events_sent").unwrap(), contacts);
    assert_eq!(
        counter(&execution, "pages").unwrap(),
        contacts.div_ceil(u64::from(PAGE_SIZE))
    );
    let synced = upserts_by_email(&stack.insider);
    for i in 0..CONTACTS {
        assert!(
            synced.contains_key(&email(i)),
            "contact {i} was never upserted"
        );
    }
    let events = events_by_email(&stack.insider);
    let twice: Vec<_> = events.iter().filter(|(_, n)| **n > 1).collect();
    assert!(events.values().all(|n| *n <= 2), "{events:?}");
    assert!(
        twice.len() <= PAGE_SIZE as usize,
        "only the batch in flight at the kill may be sent again: {twice:?}"
    );
}

//! Failures through `dynsync run` against the emulators: users Insider rejects make the run
//! complete with failures (exit 3, each listed with its record id and reason), fast fail
//! stops at the first failed batch (exit 1, the error names it, later pages untouched), and
//! storms of 429s from Dataverse and Insider still end in an exact, successful sync.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use dynsync_emulators::dataverse::{Record, Seed};
use dynsync_tests::{
    RunOutput, Stack, add_contacts, counter, email, events_by_email, upserts_by_email,
};
use serde_json::Value;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");

/// Purchases with ids that sort in `n` order (the last GUID group compares first), so a
/// test knows which page holds which.
fn purchase_id(n: usize) -> Uuid {
    Uuid::parse_str(&format!("00000000-0000-0000-0000-{n:012}")).unwrap()
}

/// `purchase` events need a currency: purchases in `without_currency` lack one, so Insider
/// rejects their users.
async fn purchases(count: usize, without_currency: &[usize]) -> Stack {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    for n in 0..count {
        let mut record = Record::new()
            .with("new_purchaseid", purchase_id(n))
            .with("new_name", format!("ORD-{n}"))
            .with("new_contactemail", email(n))
            .with("new_orderid", format!("ORDER-{n}"))
            .with("new_amount", 10.5)
            .with("new_quantity", 2)
            .with("statecode", 0);
        if !without_currency.contains(&n) {
            record = record.with("new_currency", "USD");
        }
        store.insert("new_purchase", record).unwrap();
    }
    stack
}

const PURCHASE_BODY: &str = "method: entity
source:
  entity: new_purchase
  fields: [new_purchaseid, new_contactemail, new_orderid, new_amount, new_quantity, new_currency]
identifiers:
  - { type: email, field: new_contactemail }
events:
  name: { fixed: purchase }
  timestamp: processing_time
  params:
    - { key: event_group_id, field: new_orderid }
    - { key: unit_sale_price, field: new_amount }
    - { key: quantity, field: new_quantity }
    - { key: currency, field: new_currency }";

async fn run(
    stack: &Stack,
    page_size: u32,
    body: &str,
    insider: &str,
    extra: &[&str],
) -> RunOutput {
    let file = stack.write_definition(page_size, body, insider).unwrap();
    stack
        .run_command(Path::new(BIN), &file, extra)
        .output()
        .await
        .unwrap()
        .into()
}

#[tokio::test(flavor = "multi_thread")]
async fn users_insider_rejects_complete_the_run_with_failures_listed_by_record() {
    let stack = purchases(9, &[1, 5]).await;
    let output = run(&stack, 3, PURCHASE_BODY, "", &[]).await;
    assert_eq!(output.code, Some(3), "{}", output.stderr);
    let execution = output.execution().unwrap();
    assert_eq!(execution["status"], "completed_with_failures");
    assert_eq!(execution["error"], Value::Null);
    assert_eq!(counter(&execution, "records_read").unwrap(), 9);
    assert_eq!(counter(&execution, "upserted").unwrap(), 7);
    assert_eq!(counter(&execution, "failed").unwrap(), 2);
    assert_eq!(counter(&execution, "events_sent").unwrap(), 7);
    let failures = execution["failures"].as_array().unwrap();
    let mut ids: Vec<&str> = failures
        .iter()
        .map(|f| f["record_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [purchase_id(1).to_string(), purchase_id(5).to_string()]
    );
    for failure in failures {
        let reason = failure["reason"].as_str().unwrap();
        assert!(
            reason.contains("currency"),
            "the reason says what Insider refused: {reason}"
        );
    }
    assert_eq!(upserts_by_email(&stack.insider).len(), 7);
    assert!(stack.insider.profile_by_email(&email(1)).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn fast_fail_stops_at_the_first_failed_batch_and_processes_no_later_page() {
    let stack = purchases(9, &[1, 7]).await;
    let output = run(
        &stack,
        3,
        PURCHASE_BODY,
        "  fast_fail: true\n",
        &["--concurrency", "1"],
    )
    .await;
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    let execution = output.execution().unwrap();
    assert_eq!(execution["status"], "failed");
    let error = execution["error"].as_str().unwrap();
    assert!(
        error.contains("fast fail") && error.contains("batch 1 of page 0:start"),
        "the error names the failed batch: {error}"
    );
    assert_eq!(
        counter(&execution, "pages").unwrap(),
        1,
        "no page after the failed one"
    );
    assert_eq!(counter(&execution, "records_read").unwrap(), 3);
    assert_eq!(counter(&execution, "upserted").unwrap(), 2);
    assert_eq!(counter(&execution, "failed").unwrap(), 1);
    assert_eq!(
        stack.insider.requests(),
        1,
        "one upsert request: the failed batch"
    );
    let mut synced: Vec<String> = upserts_by_email(&stack.insider).into_keys().collect();
    synced.sort();
    assert_eq!(synced, [email(0), email(2)]);
    assert_eq!(
        execution["failures"][0]["record_id"].as_str().unwrap(),
        purchase_id(1).to_string()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn storms_of_429_from_dataverse_and_insider_still_end_in_an_exact_sync() {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    add_contacts(
        &stack.dataverse.store(),
        0..8,
        Utc::now() - chrono::Duration::hours(1),
    )
    .unwrap();
    stack.dataverse.faults().throttle_every(2, 1);
    stack
        .insider
        .faults()
        .throttle_every(2, Duration::from_secs(1));
    let body = "method: entity
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
    let output = run(&stack, 3, body, "", &[]).await;
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    let execution = output.execution().unwrap();
    assert_eq!(execution["status"], "succeeded");
    assert_eq!(counter(&execution, "records_read").unwrap(), 8);
    assert_eq!(counter(&execution, "upserted").unwrap(), 8);
    assert_eq!(counter(&execution, "events_sent").unwrap(), 8);
    assert_eq!(counter(&execution, "pages").unwrap(), 3);
    assert_eq!(
        stack.insider.requests(),
        6,
        "each of the 3 batches was throttled once"
    );
    let events = events_by_email(&stack.insider);
    assert_eq!(events.len(), 8);
    assert!(
        events.values().all(|n| *n == 1),
        "no event sent twice: {events:?}"
    );
    assert!(
        stack.dataverse.requests() >= 6,
        "Dataverse was throttled too"
    );
}

//! Events and Insider settings through `dynsync run` against the emulators: a fixed event
//! name with processing time, names mapped from a field (an unmapped value sends no event
//! and is not an error), timestamps taken from a field, the record filter, and
//! `skip_hook: true` reaching Insider on every request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use dynsync_emulators::dataverse::{Record, Seed};
use dynsync_tests::{
    RunOutput, Stack, add_contacts, counter, email, events_by_email, upserts_by_email,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");

async fn run(stack: &Stack, page_size: u32, body: &str, insider: &str) -> Value {
    let file = stack.write_definition(page_size, body, insider).unwrap();
    let output: RunOutput = stack
        .run_command(Path::new(BIN), &file, &[])
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    output.execution().unwrap()
}

fn at(execution: &Value, key: &str) -> DateTime<Utc> {
    execution[key].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fixed_event_at_processing_time_with_the_record_filter_and_skip_hook() {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    let ids = add_contacts(&store, 0..6, Utc::now() - chrono::Duration::hours(1)).unwrap();
    store
        .update(
            "contact",
            ids[3],
            Record::new().with("statecode", 1).with("statuscode", 2),
        )
        .unwrap();
    let body = "method: entity
source:
  entity: contact
  fields: [contactid, emailaddress1, firstname]
  filter: |
    <filter type='and'>
      <condition attribute='statecode' operator='eq' value='0' />
      <condition attribute='address1_city' operator='ne' value='Nowhere' />
    </filter>
identifiers:
  - { type: email, field: emailaddress1 }
attributes:
  - { key: name, field: firstname }
events:
  name: { fixed: contact_synced }
  timestamp: processing_time
  params:
    - { key: first_name, field: firstname }
  fixed_params:
    - { key: source, value: crm }";
    let execution = run(&stack, 2, body, "  skip_hook: true\n").await;
    assert_eq!(
        counter(&execution, "records_read").unwrap(),
        5,
        "the inactive contact is filtered out"
    );
    assert_eq!(counter(&execution, "upserted").unwrap(), 5);
    assert_eq!(counter(&execution, "events_sent").unwrap(), 5);
    assert!(stack.insider.profile_by_email(&email(3)).is_none());

    let hooks = stack.insider.skip_hooks();
    assert_eq!(
        hooks.len() as u64,
        counter(&execution, "pages").unwrap(),
        "one request per page"
    );
    assert!(
        hooks.iter().all(|h| *h),
        "skip_hook sent on every request: {hooks:?}"
    );
    let (started, finished) = (at(&execution, "started_at"), at(&execution, "finished_at"));
    let events = stack.insider.events();
    assert_eq!(events.len(), 5);
    for event in &events {
        assert_eq!(event.event_name, "contact_synced");
        assert!(event.skip_hook);
        let time: DateTime<Utc> = event.timestamp.parse().unwrap();
        assert!(
            time >= started - chrono::Duration::seconds(1) && time <= finished,
            "processing time {time} is within the run ({started} .. {finished})"
        );
        assert!(
            event.event_params["first_name"]
                .as_str()
                .unwrap()
                .starts_with('F')
        );
        assert_eq!(event.event_params["source"], "crm");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mapped_event_names_send_only_mapped_values_with_the_fields_timestamp() {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    let mut created = Vec::new();
    for i in 0..6 {
        let when = Utc
            .with_ymd_and_hms(2026, 3, 1 + i as u32, 10, 30, 0)
            .unwrap();
        let record = Record::new()
            .with("new_name", format!("ORD-{i}"))
            .with("new_contactemail", email(i))
            .with(
                "new_eventtype",
                if i % 3 == 2 {
                    100_000_001_i64
                } else {
                    100_000_000
                },
            )
            .with("new_productid", format!("SKU-{i}"))
            .with("statecode", 0)
            .with("createdon", when)
            .with("modifiedon", when);
        store.insert("new_purchase", record).unwrap();
        created.push(when);
    }
    let body = "method: entity
source:
  entity: new_purchase
  fields: [new_purchaseid, new_contactemail, new_eventtype, new_productid, createdon]
identifiers:
  - { type: email, field: new_contactemail }
attributes:
  - { key: custom.last_product, field: new_productid }
events:
  name:
    field: new_eventtype
    mappings: { \"100000000\": order_placed }
  timestamp: { field: createdon }
  params:
    - { key: product_id, field: new_productid }";
    let execution = run(&stack, 4, body, "").await;
    assert_eq!(counter(&execution, "records_read").unwrap(), 6);
    assert_eq!(
        counter(&execution, "upserted").unwrap(),
        6,
        "unmapped records are still upserted"
    );
    assert_eq!(counter(&execution, "failed").unwrap(), 0);
    assert_eq!(counter(&execution, "events_sent").unwrap(), 4);
    assert_eq!(upserts_by_email(&stack.insider).len(), 6);

    let per_user = events_by_email(&stack.insider);
    for i in 0..6 {
        let expected = usize::from(i % 3 != 2);
        assert_eq!(
            per_user.get(&email(i)).copied().unwrap_or(0),
            expected,
            "events of purchase {i}"
        );
    }
    for event in stack.insider.events() {
        assert_eq!(event.event_name, "order_placed");
        let i: usize = event.event_params["product_id"]
            .as_str()
            .unwrap()
            .trim_start_matches("SKU-")
            .parse()
            .unwrap();
        let time: DateTime<Utc> = event.timestamp.parse().unwrap();
        assert_eq!(time, created[i], "the event carries the record's createdon");
        assert!(!event.skip_hook);
    }
    assert!(stack.insider.skip_hooks().iter().all(|h| !*h));
}

//! `dynsync run` of `method: marketing_list` against the emulators: a static list syncs its
//! members (through `listmember`) and a dynamic list the rows its stored query returns, each
//! with the record filter applied, over several pages; non-members are never sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use chrono::Utc;
use dynsync_emulators::dataverse::{Record, Seed};
use dynsync_tests::{RunOutput, Stack, add_contacts, counter, email, upserts_by_email};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");

fn body(list: &str) -> String {
    format!(
        "method: marketing_list
source:
  list: \"{list}\"
  fields: [contactid, emailaddress1, firstname]
  filter: \"<condition attribute='statecode' operator='eq' value='0' />\"
identifiers:
  - {{ type: email, field: emailaddress1 }}
attributes:
  - {{ key: name, field: firstname }}"
    )
}

/// Contacts 0..10 (even ones in Istanbul), with 4, 5 and 6 made inactive.
async fn contacts() -> (Stack, Vec<uuid::Uuid>) {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    let ids = add_contacts(&store, 0..10, Utc::now() - chrono::Duration::hours(1)).unwrap();
    for i in [4, 5, 6] {
        store
            .update(
                "contact",
                ids[i],
                Record::new().with("statecode", 1).with("statuscode", 2),
            )
            .unwrap();
    }
    (stack, ids)
}

async fn run(stack: &Stack, list: &str) -> Value {
    let file = stack.write_definition(2, &body(list), "").unwrap();
    let output: RunOutput = stack
        .run_command(Path::new(BIN), &file, &[])
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    output.execution().unwrap()
}

fn synced(stack: &Stack) -> Vec<String> {
    upserts_by_email(&stack.insider).into_keys().collect()
}

fn emails(indexes: &[usize]) -> Vec<String> {
    let mut emails: Vec<String> = indexes.iter().map(|i| email(*i)).collect();
    emails.sort();
    emails
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_list_syncs_its_active_members_only() {
    let (stack, ids) = contacts().await;
    let members: Vec<_> = [0, 1, 2, 3, 5, 6, 8].iter().map(|i| ids[*i]).collect();
    stack
        .dataverse
        .store()
        .add_static_list("E2E Static", "contact", &members)
        .unwrap();
    let execution = run(&stack, "E2E Static").await;
    assert_eq!(execution["window"], Value::Null);
    assert_eq!(synced(&stack), emails(&[0, 1, 2, 3, 8]));
    assert_eq!(counter(&execution, "records_read").unwrap(), 5);
    assert_eq!(counter(&execution, "upserted").unwrap(), 5);
    assert_eq!(counter(&execution, "pages").unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dynamic_list_syncs_what_its_query_returns_with_the_record_filter_applied() {
    let (stack, _) = contacts().await;
    stack
        .dataverse
        .store()
        .add_dynamic_list(
            "E2E Istanbul",
            "contact",
            "<fetch><entity name='contact'><attribute name='contactid'/><filter><condition attribute='address1_city' operator='eq' value='Istanbul'/></filter></entity></fetch>",
        )
        .unwrap();
    let execution = run(&stack, "E2E Istanbul").await;
    assert_eq!(
        synced(&stack),
        emails(&[0, 2, 8]),
        "even contacts, minus inactive 4 and 6"
    );
    assert_eq!(counter(&execution, "records_read").unwrap(), 3);
    assert_eq!(counter(&execution, "upserted").unwrap(), 3);
}

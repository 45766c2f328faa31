//! Fetch mode `changes` on AWS (issue 11): the real dispatcher and worker handlers over
//! DynamoDB, SQS and Secrets Manager on moto and the Dataverse and Insider emulators, the
//! worker driven by the messages SQS really delivers. The change-tracking token is stored in
//! DynamoDB and moves only when an execution does not fail: a run that Insider refuses
//! leaves it, and the next run sends the same changes (deleted contacts' profiles deleted).
//! Skips without `AWS_ENDPOINT_URL` (fails in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/aws_fixtures.rs"]
mod fixtures;
#[path = "support/aws_stack.rs"]
mod stack;

use dynsync_domain::execution::ExecutionStatus;
use dynsync_emulators::dataverse::{FieldValue, Record};
use fixtures::aws;
use stack::Stack;

/// Defines a `changes` integration deleting removed contacts' profiles; returns its id.
async fn define(stack: &Stack) -> String {
    let id = format!("changes-{}", uuid::Uuid::new_v4().simple());
    stack.put_secrets(&id).await;
    let head = "method: entity\nschedule: \"0 0 1 1 *\"\n";
    let settings = "  page_size: 10\n  request_timeout_ms: 5000\n  retries: 1\n";
    let body = "source:
  entity: contact
  fetch_mode: changes
  fields: [contactid, emailaddress1, firstname]
identifiers:
  - { type: email, field: emailaddress1 }
  - { type: uuid, field: contactid }
invalid_identifier: skip_user
removals: delete_profile
attributes:
  - { key: name, field: firstname }
";
    let yaml = stack.endpoints().aws_definition(&id, head, settings, body);
    stack.store(&yaml).await;
    id
}

fn email_of(stack: &Stack, id: uuid::Uuid) -> String {
    match stack
        .dataverse
        .store()
        .get("contact", id)
        .unwrap()
        .get("emailaddress1")
    {
        Some(FieldValue::Text(text)) => text.clone(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_lives_in_dynamodb_and_moves_only_when_a_run_does_not_fail() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    let id = define(&stack).await;
    let contacts = stack.dataverse.store().ids("contact");
    assert_eq!(contacts.len(), 25);

    // Run 1: a full read that keeps the delta link, stored in DynamoDB at the finish.
    assert_eq!(stack.state().sync_token(&id).await.unwrap(), None);
    let first = stack.trigger(&id).await;
    assert_eq!(stack.drain().await, 3, "one page per invocation");
    let first = stack.succeeded(&first).await;
    assert_eq!(first.counters.records_read, 25);
    assert_eq!(first.counters.upserted, 25);
    let token1 = stack.state().sync_token(&id).await.unwrap();
    assert!(token1.is_some(), "the delta link is stored");
    assert_eq!(stack.insider.profiles().len(), 25);

    // One contact updated, two deleted; Insider refuses the run (a revoked token).
    let updated = contacts[0];
    let deleted = [contacts[1], contacts[2]];
    let deleted_emails: Vec<String> = deleted.iter().map(|c| email_of(&stack, *c)).collect();
    stack
        .dataverse
        .store()
        .update(
            "contact",
            updated,
            Record::new().with("firstname", "Changed"),
        )
        .unwrap();
    for contact in deleted {
        stack.dataverse.store().delete("contact", contact).unwrap();
    }
    stack.insider.faults().fail_next(1_000, 401);
    let failed = stack.trigger(&id).await;
    stack.drain().await;
    let failed = stack.execution(&failed).await;
    assert_eq!(failed.status, ExecutionStatus::Failed, "{failed:?}");
    assert_eq!(
        stack.state().sync_token(&id).await.unwrap(),
        token1,
        "a failed run leaves the token"
    );
    for email in &deleted_emails {
        assert!(stack.insider.profile_by_email(email).is_some(), "{email}");
    }

    // Insider healed: the next run sends the same changes.
    stack.insider.faults().clear();
    let second = stack.trigger(&id).await;
    stack.drain().await;
    let second = stack.succeeded(&second).await;
    let c = second.counters;
    assert_eq!(
        (
            c.records_read,
            c.upserted,
            c.deleted,
            c.removals_applied,
            c.resynced
        ),
        (1, 1, 2, 2, 0),
        "{c:?}"
    );
    for email in &deleted_emails {
        assert!(stack.insider.profile_by_email(email).is_none(), "{email}");
    }
    let name = &stack
        .insider
        .profile_by_email(&email_of(&stack, updated))
        .unwrap()
        .attributes["name"];
    assert_eq!(name, "Changed");
    assert_eq!(stack.insider.delete_requests(), 2);
    let token2 = stack.state().sync_token(&id).await.unwrap();
    assert!(token2.is_some() && token2 != token1);

    // Nothing changed since: the next run reads nothing and keeps a token.
    let third = stack.trigger(&id).await;
    stack.drain().await;
    let third = stack.execution(&third).await;
    assert_eq!(third.status, ExecutionStatus::Succeeded);
    assert_eq!(third.counters.records_read, 0);
    assert_eq!(third.counters.deleted, 0);
    assert!(stack.state().sync_token(&id).await.unwrap().is_some());
}

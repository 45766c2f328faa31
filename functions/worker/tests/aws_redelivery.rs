//! Issue 10, defect 1 on the AWS path: a page redelivered after the source data moved. The
//! real worker handler over DynamoDB and SQS on moto and the Dataverse and Insider
//! emulators; 2,600 contacts in pages of 2,000 (the first page in two Insider batches of
//! 1,000), Insider failing the first page's second batch once, so SQS redelivers that page
//! with batch 0 answered in the DynamoDB ledger. Between the deliveries one contact of
//! batch 0 is modified and another deleted in Dataverse. The oracle of
//! `tests/src/oracle.rs`: every selected contact upserted at least once and at most twice,
//! no event twice, counters that add up, status succeeded; and the next incremental run
//! sends only the modified contact. (`shared/engine/tests/stable_pages.rs` proves the same
//! on memory ports, `cli/tests/run_kills.rs` locally.) Skips without `AWS_ENDPOINT_URL`
//! (fails in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/aws_fixtures.rs"]
mod fixtures;
#[path = "support/aws_stack.rs"]
mod stack;

use std::collections::BTreeMap;

use dynsync_domain::execution::{Execution, ExecutionStatus};
use dynsync_emulators::dataverse::{FieldValue, Record};
use fixtures::{Spec, aws, minutes};
use stack::Stack;

const CONTACTS: usize = 2_600;

fn email(i: usize) -> String {
    format!("moved{i}@example.com")
}

/// Upserts merged into each profile and events appended to it, by email.
fn by_email(stack: &Stack) -> (BTreeMap<String, u64>, BTreeMap<String, usize>) {
    let profiles = stack.insider.profiles();
    let mut upserts = BTreeMap::new();
    let mut holder = BTreeMap::new();
    for p in &profiles {
        let email = p.email().unwrap().to_owned();
        holder.insert(p.id.clone(), email.clone());
        upserts.insert(email, p.upserts);
    }
    let mut events = BTreeMap::new();
    for e in stack.insider.events() {
        *events.entry(holder[&e.profile_id].clone()).or_default() += 1;
    }
    (upserts, events)
}

/// Worker invocations on what SQS delivers until the execution ends (a page reported
/// failed comes back once its backoff has passed); the ids reported failed.
async fn drive(stack: &Stack, execution_id: &str) -> Vec<String> {
    let mut failed = Vec::new();
    for _ in 0..90 {
        if stack.status(execution_id).await.is_final() {
            return failed;
        }
        if let Some(ids) = stack.invoke_worker(1).await {
            failed.extend(ids);
        }
    }
    panic!("execution {execution_id} did not end");
}

#[track_caller]
fn assert_counters_add_up(execution: &Execution) {
    let c = execution.counters;
    assert_eq!(
        c.records_read,
        c.upserted + c.skipped + c.failed,
        "{:?}",
        execution.counters
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_redelivered_after_a_contact_of_its_answered_batch_moved_loses_nothing_and_resends_nothing()
 {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    let store = stack.dataverse.store();
    for id in store.ids("contact") {
        store.delete("contact", id).unwrap();
    }
    // Last modified an hour before the first window's end.
    let stamped = stack.base - minutes(60);
    for i in 0..CONTACTS {
        let record = Record::new()
            .with("firstname", format!("F{i}"))
            .with("emailaddress1", email(i))
            .with("createdon", stamped)
            .with("modifiedon", stamped);
        store.insert("contact", record).unwrap();
    }
    let spec = Spec::default()
        .fetch_mode("new_and_updated")
        .pages(2_000, 1)
        .retries(0)
        .with_events();
    let id = stack.define(&spec).await;
    let execution_id = stack.trigger(&id).await;

    // The first delivery: batch 0 answered, batch 1 refused once (500, no retries left).
    stack.insider.faults().fail_next_after(1, 1, 500);
    let first = stack.receive(2).await;
    assert_eq!(first.len(), 1, "only the first page is queued at the start");
    let failed = stack
        .handle_with(&stack.worker, &first, &stack.metrics)
        .await;
    assert_eq!(
        failed,
        vec![first[0].message_id.clone().unwrap()],
        "the page is retried"
    );
    stack.acknowledge(&first, &failed).await;
    assert_eq!(stack.insider.requests(), 2);
    let answered: Vec<String> = by_email(&stack).0.into_keys().collect();
    assert_eq!(answered.len(), 1_000, "batch 0 was stored");
    assert_eq!(stack.status(&execution_id).await, ExecutionStatus::Running);

    // The data moves before SQS redelivers the page: one contact of the answered batch is
    // modified (past the window's end), another deleted.
    let id_of = |email: &str| {
        store
            .ids("contact")
            .into_iter()
            .find(|id| {
                matches!(store.get("contact", *id).and_then(|r| r.get("emailaddress1").cloned()),
                    Some(FieldValue::Text(e)) if e == email)
            })
            .unwrap()
    };
    let (modified, deleted) = (answered[10].clone(), answered[20].clone());
    store
        .update(
            "contact",
            id_of(&modified),
            Record::new().with("firstname", "Moved"),
        )
        .unwrap();
    store.delete("contact", id_of(&deleted)).unwrap();

    let failed = drive(&stack, &execution_id).await;
    assert!(
        failed.is_empty(),
        "only the first delivery failed: {failed:?}"
    );
    let execution = stack.succeeded(&execution_id).await;
    assert_eq!(execution.error, None);
    assert_counters_add_up(&execution);
    let c = execution.counters;
    assert_eq!((c.upserted, c.failed, c.pages), (CONTACTS as u64, 0, 2));
    assert_eq!(c.events_sent, CONTACTS as u64);

    // The oracle: each selected contact upserted once or twice, no event twice.
    let (upserts, events) = by_email(&stack);
    for i in 0..CONTACTS {
        let times = upserts.get(&email(i)).copied().unwrap_or(0);
        assert!(
            (1..=2).contains(&times),
            "contact {i} was upserted {times} times"
        );
        let sent = events.get(&email(i)).copied().unwrap_or(0);
        assert!(sent <= 1, "contact {i} got {sent} events");
    }
    assert_eq!(upserts.len(), CONTACTS, "no other profile");
    let twice = upserts.values().filter(|n| **n > 1).count();
    assert_eq!(twice, 0, "no answered batch was sent again");
    assert_eq!(stack.insider.events().len(), CONTACTS);
    assert_eq!(
        stack.insider.requests(),
        4,
        "batch 0, batch 1 refused, page 2, and the redelivery's batch 1 only"
    );

    // The next run's window starts where this one's ended: only the modified contact.
    stack.clock.set(stack.base + minutes(20));
    let next_id = stack.trigger(&id).await;
    let failed = drive(&stack, &next_id).await;
    assert!(failed.is_empty(), "{failed:?}");
    let next = stack.execution(&next_id).await;
    assert_eq!(next.status, ExecutionStatus::Succeeded, "{:?}", next.error);
    assert_counters_add_up(&next);
    assert_eq!((next.counters.records_read, next.counters.upserted), (1, 1));
    let (after, events_after) = by_email(&stack);
    for (email, times) in &after {
        let expected = upserts[email] + u64::from(*email == modified);
        assert_eq!(*times, expected, "{email}");
    }
    assert_eq!(after[&modified], 2);
    assert_eq!(
        after[&deleted], 1,
        "the deleted contact was sent once, by batch 0"
    );
    assert_eq!(events_after[&modified], 2, "the second run's event");
    assert_eq!(stack.insider.events().len(), CONTACTS + 1);
    let profile = stack.insider.profile_by_email(&modified).unwrap();
    assert_eq!(profile.attributes["name"], "Moved");
}

//! `list_mode: changes` on AWS (issue 12): the real dispatcher and worker handlers over
//! DynamoDB and SQS on moto and both emulators, the member set stored in DynamoDB. Run 1
//! upserts the static list's members; members join and leave; run 2 fails (Insider refuses
//! every request) and leaves the stored set; run 3 sends what run 2 should have: exactly
//! the joiners, and the leavers' profiles deleted; run 4 sends nothing. Skips without
//! `AWS_ENDPOINT_URL` (fails in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/aws_fixtures.rs"]
mod fixtures;
#[path = "support/aws_stack.rs"]
mod stack;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use dynsync_domain::execution::ExecutionStatus;
use dynsync_domain::ports::MemberRange;
use dynsync_emulators::dataverse::Record;
use fixtures::{aws, minutes};
use stack::Stack;
use uuid::Uuid;

fn email(i: usize) -> String {
    format!("l{i}@example.com")
}

/// Stores a `list_mode: changes` definition of list `list` with its secrets; its id.
async fn define(stack: &Stack, list: &str) -> String {
    let id = format!("vip-{}", &Uuid::new_v4().simple().to_string()[..12]);
    stack.put_secrets(&id).await;
    let head = "method: marketing_list\nschedule: \"0 0 1 1 *\"\n";
    let settings = "  page_size: 3\n  partitions: 2\n  request_timeout_ms: 5000\n  retries: 1\n";
    let body = format!(
        "source:
  list: \"{list}\"
  list_mode: changes
  fields: [contactid, emailaddress1, firstname]
identifiers:
  - {{ type: email, field: emailaddress1 }}
  - {{ type: uuid, field: contactid }}
removals: delete_profile
attributes:
  - {{ key: name, field: firstname }}
"
    );
    let yaml = stack.endpoints().aws_definition(&id, head, settings, &body);
    stack.store(&yaml).await;
    id
}

/// Contacts 0..n, last modified at `stamped` (before every window of the test).
fn add_contacts(stack: &Stack, n: usize, stamped: DateTime<Utc>) -> Vec<Uuid> {
    let store = stack.dataverse.store();
    (0..n)
        .map(|i| {
            let record = Record::new()
                .with("firstname", format!("L{i}"))
                .with("lastname", format!("List{i}"))
                .with("emailaddress1", email(i))
                .with("statecode", 0)
                .with("statuscode", 1)
                .with("createdon", stamped)
                .with("modifiedon", stamped);
            store.insert("contact", record).unwrap()
        })
        .collect()
}

fn upserts(stack: &Stack) -> std::collections::BTreeMap<String, u64> {
    stack
        .insider
        .profiles()
        .into_iter()
        .filter(|p| p.email().is_some_and(|e| e.starts_with('l')))
        .filter_map(|p| p.email().map(|e| (e.to_owned(), p.upserts)))
        .collect()
}

fn grown(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> BTreeSet<String> {
    after
        .iter()
        .filter(|(e, n)| before.get(*e).copied().unwrap_or(0) < **n)
        .map(|(e, _)| e.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_leaves_the_stored_member_set_and_the_next_run_sends_what_it_should_have() {
    let Some(sdk) = aws().await else { return };
    let stack = Stack::new(&sdk).await;
    let ids = add_contacts(&stack, 8, stack.base - minutes(120));
    let store = stack.dataverse.store();
    let list = store
        .add_static_list("AWS VIP", "contact", &ids[..6])
        .unwrap();
    let id = define(&stack, "AWS VIP").await;
    let committed = || async {
        stack
            .engine
            .members()
            .committed_members(&id, MemberRange::default())
            .await
            .unwrap()
            .map(|keys| keys.len())
    };

    stack.clock.set(stack.base);
    let first = stack.trigger(&id).await;
    stack.drain().await;
    let first = stack.execution(&first).await;
    assert_eq!(first.status, ExecutionStatus::Succeeded, "{first:?}");
    assert_eq!(first.counters.upserted, 6);
    assert_eq!(committed().await, Some(6), "the set is in DynamoDB");

    store.add_list_members(list, &[ids[6], ids[7]]).unwrap();
    store.remove_list_members(list, &[ids[0], ids[1]]).unwrap();

    // Run 2: Insider refuses every request.
    stack.insider.faults().fail_next(10_000, 401);
    stack.clock.set(stack.base + minutes(10));
    let second = stack.trigger(&id).await;
    stack.drain().await;
    let second = stack.execution(&second).await;
    assert_eq!(second.status, ExecutionStatus::Failed, "{second:?}");
    assert_eq!(committed().await, Some(6), "a failed run leaves the set");
    // Pages run in either order, and the storm refuses upserts, not deletes: a leavers'
    // page that ran before the refused batch stopped the run has deleted its leavers
    // already. Run 3 sends their deletes again (a 404 counts as removed), so what it
    // counts and leaves behind is the same either way.
    let deletes_before = stack.insider.delete_requests();

    // Run 3: the same joiners and leavers as run 2 should have handled.
    stack.insider.faults().fail_next(0, 500);
    let before = upserts(&stack);
    stack.clock.set(stack.base + minutes(20));
    let third = stack.trigger(&id).await;
    stack.drain().await;
    let third = stack.execution(&third).await;
    assert_eq!(third.status, ExecutionStatus::Succeeded, "{third:?}");
    assert_eq!(
        grown(&before, &upserts(&stack)),
        [email(6), email(7)].into_iter().collect::<BTreeSet<_>>()
    );
    let c = third.counters;
    assert_eq!(
        (c.upserted, c.joined, c.left, c.removals_applied),
        (2, 2, 2, 2),
        "{c:?}"
    );
    assert_eq!(c.skipped, 4, "{c:?}");
    assert_eq!(stack.insider.delete_requests() - deletes_before, 2);
    for i in [0, 1] {
        assert!(
            stack.insider.profile_by_email(&email(i)).is_none(),
            "leaver {i}"
        );
    }
    assert_eq!(committed().await, Some(6));

    // Run 4: nothing changed, nothing sent.
    let before = upserts(&stack);
    stack.clock.set(stack.base + minutes(30));
    let fourth = stack.trigger(&id).await;
    stack.drain().await;
    let fourth = stack.execution(&fourth).await;
    assert_eq!(fourth.status, ExecutionStatus::Succeeded);
    assert_eq!(fourth.counters.upserted, 0);
    assert_eq!((fourth.counters.joined, fourth.counters.left), (0, 0));
    assert!(grown(&before, &upserts(&stack)).is_empty());
}

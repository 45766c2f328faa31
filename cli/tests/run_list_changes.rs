//! `dynsync run` of a marketing list with `list_mode: changes` (issue 12) through the real
//! binary against both emulators, for a static and a dynamic list: run 1 upserts every
//! member; then members join, leave, one member's record is edited, one member is deleted,
//! one stops matching the record filter and (dynamic) one changes so the list's query no
//! longer selects it; run 2 upserts exactly the joiners and the edited member and applies
//! `removals` to exactly the leavers (ignore, delete_profile, {attribute, value}: one test
//! each); run 3 upserts nothing. A run killed mid-way (failpoints) and rerun handles the
//! same joiners and leavers: users at most twice, each leaver's removal once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::Utc;
use dynsync_emulators::dataverse::{DataStore, Record, Seed};
use dynsync_tests::cli::{count as n, succeeded};
use dynsync_tests::{RunOutput, Stack, add_contacts, email, upserted_between, upserts_by_email};
use serde_json::Value;
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_dynsync");
const PAGE_SIZE: u32 = 3;

fn body(list: &str, removals: &str) -> String {
    format!(
        "method: marketing_list
source:
  list: \"{list}\"
  list_mode: changes
  fields: [contactid, emailaddress1, firstname]
  filter: \"<condition attribute='statecode' operator='eq' value='0' />\"
identifiers:
  - {{ type: email, field: emailaddress1 }}
  - {{ type: uuid, field: contactid }}
removals: {removals}
attributes:
  - {{ key: name, field: firstname }}"
    )
}

async fn dynsync(stack: &Stack, file: &Path, extra: &[&str]) -> RunOutput {
    // No safety lag: an edit made just before run 2 lies in its window.
    let mut args = vec!["--safety-lag", "0"];
    args.extend_from_slice(extra);
    stack
        .run_command(Path::new(BIN), file, &args)
        .output()
        .await
        .unwrap()
        .into()
}

fn emails(indexes: &[usize]) -> BTreeSet<String> {
    indexes.iter().map(|i| email(*i)).collect()
}

/// One list's scenario: who run 2 must upsert and who left.
struct Case {
    stack: Stack,
    ids: Vec<Uuid>,
    file: PathBuf,
    members: usize,
    /// Run 2: the joiners and the edited member, by contact index.
    upserted: Vec<usize>,
    joined: u64,
    leavers: Vec<usize>,
}

/// One member's record edited (first name), one deleted, one made inactive (the record
/// filter drops it).
fn edit_delete_deactivate(store: &DataStore, edited: Uuid, deleted: Uuid, inactive: Uuid) {
    store
        .update("contact", edited, Record::new().with("firstname", "Edited"))
        .unwrap();
    store.delete("contact", deleted).unwrap();
    store
        .update(
            "contact",
            inactive,
            Record::new().with("statecode", 1).with("statuscode", 2),
        )
        .unwrap();
}

/// A static list of contacts 0..10 (of 0..12), synced once; then 10 and 11 join, 1 and 2
/// are removed, 3 is edited, 4 is deleted, 5 is made inactive (the filter drops it).
async fn static_list(removals: &str) -> Case {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    let ids = add_contacts(&store, 0..12, Utc::now() - chrono::Duration::hours(1)).unwrap();
    let list = store
        .add_static_list("E2E Static", "contact", &ids[..10])
        .unwrap();
    let file = stack
        .write_definition(PAGE_SIZE, &body("E2E Static", removals), "")
        .unwrap();
    let first = succeeded(&dynsync(&stack, &file, &[]).await);
    assert_eq!(n(&first, "upserted"), 10, "{first}");

    store.add_list_members(list, &[ids[10], ids[11]]).unwrap();
    store.remove_list_members(list, &[ids[1], ids[2]]).unwrap();
    edit_delete_deactivate(&store, ids[3], ids[4], ids[5]);
    Case {
        stack,
        ids,
        file,
        members: 10,
        upserted: vec![3, 10, 11],
        joined: 2,
        leavers: vec![1, 2, 4, 5],
    }
}

/// A dynamic list of the contacts in Istanbul (the even ones of 0..16), synced once; then
/// 16 (Istanbul) is created and joins, 17 (London) is created and does not, 6 moves to
/// London (the query drops it), 8 is edited, 10 is deleted, 12 is made inactive.
async fn dynamic_list(removals: &str) -> Case {
    let stack = Stack::start(Seed::empty()).await.unwrap();
    let store = stack.dataverse.store();
    let mut ids = add_contacts(&store, 0..16, Utc::now() - chrono::Duration::hours(1)).unwrap();
    store
        .add_dynamic_list(
            "E2E Istanbul",
            "contact",
            "<fetch><entity name='contact'><attribute name='contactid'/><filter><condition attribute='address1_city' operator='eq' value='Istanbul'/></filter></entity></fetch>",
        )
        .unwrap();
    let file = stack
        .write_definition(PAGE_SIZE, &body("E2E Istanbul", removals), "")
        .unwrap();
    let first = succeeded(&dynsync(&stack, &file, &[]).await);
    assert_eq!(n(&first, "upserted"), 8, "{first}");

    ids.extend(add_contacts(&store, 16..18, Utc::now()).unwrap());
    store
        .update(
            "contact",
            ids[6],
            Record::new().with("address1_city", "London"),
        )
        .unwrap();
    edit_delete_deactivate(&store, ids[8], ids[10], ids[12]);
    Case {
        stack,
        ids,
        file,
        members: 8,
        upserted: vec![8, 16],
        joined: 1,
        leavers: vec![6, 10, 12],
    }
}

/// Window ends are whole seconds: run 2 must start in a later second than the edits for
/// them to lie inside its window (as in run_fetch_modes.rs).
async fn past_the_edits() {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

/// Runs 2 and 3 of a case; checks what every removals setting shares; returns run 2.
async fn runs_two_and_three(case: &Case, extra: &[&str]) -> Value {
    past_the_edits().await;
    let before = upserts_by_email(&case.stack.insider);
    let second = succeeded(&dynsync(&case.stack, &case.file, extra).await);
    check_second(case, &before, &second);

    let before = upserts_by_email(&case.stack.insider);
    let third = succeeded(&dynsync(&case.stack, &case.file, &[]).await);
    assert_eq!(n(&third, "upserted"), 0, "{third}");
    assert_eq!((n(&third, "joined"), n(&third, "left")), (0, 0), "{third}");
    let staying = case.members - case.leavers.len() + case.joined as usize;
    assert_eq!(n(&third, "skipped"), staying as u64, "{third}");
    assert_eq!(
        upserted_between(&before, &upserts_by_email(&case.stack.insider)),
        Vec::<String>::new()
    );
    second
}

fn check_second(case: &Case, before: &std::collections::BTreeMap<String, u64>, second: &Value) {
    // The leavers' removal upserts (attribute setting) carry no email; the records' do.
    let upserted: BTreeSet<String> =
        upserted_between(before, &upserts_by_email(&case.stack.insider))
            .into_iter()
            .filter(|e| !case.leavers.iter().any(|l| email(*l) == *e))
            .collect();
    assert_eq!(upserted, emails(&case.upserted), "{second}");
    assert_eq!(
        n(second, "upserted"),
        case.upserted.len() as u64,
        "{second}"
    );
    assert_eq!(n(second, "joined"), case.joined, "{second}");
    assert_eq!(n(second, "left"), case.leavers.len() as u64, "{second}");
    let unchanged =
        case.members - case.leavers.len() - (case.upserted.len() - case.joined as usize);
    assert_eq!(n(second, "skipped"), unchanged as u64, "{second}");
}

fn uuid_profile(case: &Case, i: usize) -> Option<dynsync_emulators::insider::Profile> {
    case.stack
        .insider
        .profile_by_identifier("uuid", &case.ids[i].to_string())
}

fn check_deleted(case: &Case, second: &Value) {
    assert_eq!(
        n(second, "removals_applied"),
        case.leavers.len() as u64,
        "{second}"
    );
    assert_eq!(second["failures"], Value::Array(Vec::new()), "{second}");
    assert_eq!(
        case.stack.insider.delete_requests(),
        case.leavers.len() as u64,
        "one delete per leaver"
    );
    for i in &case.leavers {
        assert!(uuid_profile(case, *i).is_none(), "leaver {i} deleted");
    }
    for i in case.upserted.iter().chain([0].iter()) {
        assert!(
            case.stack.insider.profile_by_email(&email(*i)).is_some(),
            "member {i} kept"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_list_with_removals_ignore_counts_leavers_and_leaves_their_profiles() {
    let case = static_list("ignore").await;
    let second = runs_two_and_three(&case, &[]).await;
    assert_eq!(n(&second, "removals_applied"), 0);
    assert_eq!(case.stack.insider.delete_requests(), 0);
    for i in &case.leavers {
        let profile = case.stack.insider.profile_by_email(&email(*i)).unwrap();
        assert_eq!(profile.upserts, 1, "leaver {i}");
        assert!(profile.attributes.get("custom").is_none());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_list_with_delete_profile_deletes_exactly_the_leavers() {
    let case = static_list("delete_profile").await;
    let second = runs_two_and_three(&case, &[]).await;
    check_deleted(&case, &second);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_static_list_with_an_attribute_marks_exactly_the_leavers() {
    let case = static_list("{ attribute: custom.vip_segment, value: false }").await;
    let second = runs_two_and_three(&case, &[]).await;
    assert_eq!(n(&second, "removals_applied"), case.leavers.len() as u64);
    assert_eq!(case.stack.insider.delete_requests(), 0);
    let marked: BTreeSet<String> = case
        .stack
        .insider
        .profiles()
        .into_iter()
        .filter(|p| {
            p.attributes
                .get("custom")
                .and_then(|c| c.get("vip_segment"))
                == Some(&Value::Bool(false))
        })
        .filter_map(|p| p.email().map(str::to_owned))
        .collect();
    assert_eq!(
        marked,
        emails(&case.leavers),
        "the attribute lands on the leavers' own profiles (merged by uuid)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dynamic_list_removes_members_its_query_or_the_filter_no_longer_selects() {
    let case = dynamic_list("delete_profile").await;
    let second = runs_two_and_three(&case, &[]).await;
    check_deleted(&case, &second);
    assert!(
        case.stack.insider.profile_by_email(&email(17)).is_none(),
        "17 never was a member"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dynamic_list_with_an_attribute_marks_exactly_the_leavers() {
    let case = dynamic_list("{ attribute: custom.vip_segment, value: false }").await;
    let second = runs_two_and_three(&case, &[]).await;
    assert_eq!(n(&second, "removals_applied"), case.leavers.len() as u64);
}

/// Run 2 killed at the `hit`th pass of `point`, then rerun: the resumed execution sees the
/// same joiners and leavers as an unkilled run.
async fn killed_at(point: &str, hit: u32) {
    let case = static_list("delete_profile").await;
    past_the_edits().await;
    let before = upserts_by_email(&case.stack.insider);
    let killed = case
        .stack
        .run_command(
            Path::new(BIN),
            &case.file,
            &["--safety-lag", "0", "--concurrency", "1"],
        )
        .env(
            "FAILPOINTS",
            format!("{point}={}*off->1*return(kill)", hit - 1),
        )
        .output()
        .await
        .unwrap();
    let killed: RunOutput = killed.into();
    assert_eq!(killed.code, None, "{point}: killed\n{}", killed.stderr);

    let second = succeeded(&dynsync(&case.stack, &case.file, &[]).await);
    let after = upserts_by_email(&case.stack.insider);
    for (who, count) in &after {
        let grew = count - before.get(who).copied().unwrap_or(0);
        assert!(grew <= 2, "{point}: {who} upserted {grew} times");
    }
    check_second(&case, &before, &second);
    check_deleted(&case, &second);

    let third = succeeded(&dynsync(&case.stack, &case.file, &[]).await);
    assert_eq!(n(&third, "upserted"), 0, "{point}: {third}");
    assert_eq!((n(&third, "joined"), n(&third, "left")), (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_after_a_list_page_was_fetched_resumes_with_the_same_joiners_and_leavers() {
    killed_at("page.after_fetch", 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_between_batches_of_a_list_page_applies_each_removal_once() {
    killed_at("page.after_batch", 2).await;
}

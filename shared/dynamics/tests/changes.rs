//! Change tracking through `DataverseSource::fetch_changes` against the Dataverse emulator
//! (issue 11): a full tracked read in pages, then updates, creates and deletes, then a delta
//! read that returns exactly those; the record filter evaluated by Dataverse (a changed
//! record out of it lands in `filtered_out`); an expired token answered `TokenExpired`;
//! "Track changes" off refused as a permanent error naming the fix; links to another host
//! not followed; more changed ids than one `in` query takes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use dynsync_domain::execution::SourcePlan;
use dynsync_domain::ports::{ChangesPage, ChangesReply, ChangesRequest, DataSource};
use dynsync_domain::{ErrorKind, Integration};
use dynsync_dynamics::{DataverseSource, DynamicsError, IDS_PER_QUERY};
use dynsync_emulators::dataverse::{DataverseEmulator, Record, Seed};
use uuid::Uuid;

fn contacts(emu: &DataverseEmulator, page_size: u32, filter: &str) -> Integration {
    integration(
        emu,
        "entity",
        &format!("  entity: contact\n  fields: [contactid, firstname, statecode]\n{filter}"),
        page_size,
    )
}

async fn page(
    source: &DataverseSource,
    integration: &Integration,
    plan: &SourcePlan,
    link: Option<&str>,
) -> ChangesPage {
    match source
        .fetch_changes(ChangesRequest {
            integration,
            plan,
            link,
        })
        .await
        .unwrap()
    {
        ChangesReply::Page(page) => page,
        ChangesReply::TokenExpired(message) => panic!("token expired: {message}"),
    }
}

/// A whole read from `link` (`None`: a full read): every page, and the delta link.
async fn read(
    source: &DataverseSource,
    integration: &Integration,
    plan: &SourcePlan,
    link: Option<&str>,
) -> (Vec<ChangesPage>, String) {
    let mut pages = Vec::new();
    let mut link = link.map(str::to_owned);
    loop {
        let p = page(source, integration, plan, link.as_deref()).await;
        let (next, delta) = (p.next_link.clone(), p.delta_link.clone());
        pages.push(p);
        match (next, delta) {
            (Some(next), None) => link = Some(next),
            (None, Some(delta)) => return (pages, delta),
            other => panic!("a page has either a next or a delta link: {other:?}"),
        }
    }
}

fn ids(pages: &[ChangesPage]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p.records.iter())
        .map(|r| r["contactid"].as_str().unwrap().to_owned())
        .collect()
}

fn set<T: ToString>(items: &[T]) -> BTreeSet<String> {
    items.iter().map(ToString::to_string).collect()
}

fn all<'a>(pages: &'a [ChangesPage], what: fn(&'a ChangesPage) -> &'a Vec<String>) -> Vec<String> {
    pages.iter().flat_map(|p| what(p).iter().cloned()).collect()
}

#[tokio::test]
async fn a_full_read_in_pages_then_a_delta_read_returns_exactly_the_changes() {
    let emu = DataverseEmulator::start(Seed::contacts(25, 3))
        .await
        .unwrap();
    let integration = contacts(&emu, 10, "");
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let plan = source.plan(&integration).await.unwrap();
    let (pages, delta) = read(&source, &integration, &plan, None).await;
    assert_eq!(pages.len(), 3, "25 records in pages of 10");
    let store = emu.store();
    let before = store.ids("contact");
    assert_eq!(
        ids(&pages),
        before.iter().map(Uuid::to_string).collect::<Vec<_>>()
    );
    assert!(
        pages
            .iter()
            .all(|p| p.deleted.is_empty() && p.filtered_out.is_empty())
    );
    let first = &pages[0].records[0];
    assert!(
        first.contains_key("firstname"),
        "the definition's fields: {first:?}"
    );

    let updated = [before[1], before[4]];
    for id in updated {
        store
            .update("contact", id, Record::new().with("firstname", "Changed"))
            .unwrap();
    }
    let deleted = [before[7], before[9]];
    for id in deleted {
        store.delete("contact", id).unwrap();
    }
    let created: Vec<Uuid> = (0..2)
        .map(|i| {
            store
                .insert(
                    "contact",
                    Record::new()
                        .with("firstname", format!("New{i}"))
                        .with("statecode", 0),
                )
                .unwrap()
        })
        .collect();
    let (pages, next_delta) = read(&source, &integration, &plan, Some(&delta)).await;
    let changed = ids(&pages);
    assert_eq!(changed.len(), 4, "{changed:?}");
    assert_eq!(set(&changed), set(&[&updated[..], &created[..]].concat()));
    assert_eq!(set(&all(&pages, |p| &p.deleted)), set(&deleted));
    assert!(all(&pages, |p| &p.filtered_out).is_empty());
    let records: Vec<_> = pages.iter().flat_map(|p| p.records.iter()).collect();
    let changed_one = records
        .iter()
        .find(|r| r["contactid"] == updated[0].to_string())
        .unwrap();
    assert_eq!(changed_one["firstname"], "Changed");

    let (pages, _) = read(&source, &integration, &plan, Some(&next_delta)).await;
    assert!(ids(&pages).is_empty() && all(&pages, |p| &p.deleted).is_empty());
}

#[tokio::test]
async fn the_record_filter_is_evaluated_by_dataverse_and_a_record_out_of_it_is_filtered_out() {
    let emu = DataverseEmulator::start(Seed::contacts(6, 4))
        .await
        .unwrap();
    let store = emu.store();
    let ids0 = store.ids("contact");
    for id in &ids0 {
        store
            .update("contact", *id, Record::new().with("statecode", 0))
            .unwrap();
    }
    store
        .update("contact", ids0[0], Record::new().with("statecode", 1))
        .unwrap();
    let filter = "  filter: \"<condition attribute='statecode' operator='eq' value='0'/>\"\n";
    let integration = contacts(&emu, 500, filter);
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let plan = source.plan(&integration).await.unwrap();
    let (pages, delta) = read(&source, &integration, &plan, None).await;
    assert_eq!(ids(&pages).len(), 5);
    assert_eq!(all(&pages, |p| &p.filtered_out), vec![ids0[0].to_string()]);

    // One leaves the filter, one changes inside it.
    store
        .update("contact", ids0[2], Record::new().with("statecode", 1))
        .unwrap();
    store
        .update(
            "contact",
            ids0[3],
            Record::new().with("firstname", "Still in"),
        )
        .unwrap();
    let (pages, _) = read(&source, &integration, &plan, Some(&delta)).await;
    assert_eq!(ids(&pages), vec![ids0[3].to_string()]);
    assert_eq!(all(&pages, |p| &p.filtered_out), vec![ids0[2].to_string()]);
}

#[tokio::test]
async fn an_expired_token_is_answered_token_expired_and_a_full_read_starts_again() {
    let emu = DataverseEmulator::start(Seed::contacts(4, 5))
        .await
        .unwrap();
    let integration = contacts(&emu, 500, "");
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let plan = source.plan(&integration).await.unwrap();
    let (_, delta) = read(&source, &integration, &plan, None).await;
    emu.store().expire_change_tokens();
    let reply = source
        .fetch_changes(ChangesRequest {
            integration: &integration,
            plan: &plan,
            link: Some(&delta),
        })
        .await
        .unwrap();
    match reply {
        ChangesReply::TokenExpired(message) => {
            assert!(message.contains("Please perform a full sync"), "{message}");
        }
        ChangesReply::Page(page) => panic!("expected TokenExpired, got {page:?}"),
    }
    let (pages, fresh) = read(&source, &integration, &plan, None).await;
    assert_eq!(ids(&pages).len(), 4);
    let (pages, _) = read(&source, &integration, &plan, Some(&fresh)).await;
    assert!(ids(&pages).is_empty());
}

#[tokio::test]
async fn track_changes_off_is_a_permanent_error_naming_the_fix() {
    let emu = DataverseEmulator::start(Seed::contacts(2, 5))
        .await
        .unwrap();
    let integration = contacts(&emu, 500, "");
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let plan = source.plan(&integration).await.unwrap();
    assert!(
        source
            .client()
            .entity("contact")
            .await
            .unwrap()
            .change_tracking
    );
    source.require_change_tracking("contact").await.unwrap();
    emu.store().set_change_tracking("contact", false).unwrap();
    let fix = "turn on \"Track changes\" for table contact in Power Apps: Tables > contact > Properties > Advanced options";
    let error = source
        .fetch_changes(ChangesRequest {
            integration: &integration,
            plan: &plan,
            link: None,
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Permanent);
    assert!(error.to_string().contains(fix), "{error}");
    let error = source.require_change_tracking("contact").await.unwrap_err();
    assert!(matches!(error, DynamicsError::ChangeTrackingOff { .. }));
    assert!(error.to_string().contains(fix), "{error}");
    let listed = source.client().entities().await.unwrap();
    let contact = listed.iter().find(|e| e.logical_name == "contact").unwrap();
    assert!(!contact.change_tracking);
    assert!(
        listed
            .iter()
            .any(|e| e.logical_name == "account" && e.change_tracking)
    );
}

#[tokio::test]
async fn a_link_that_does_not_point_at_web_api_url_is_not_followed() {
    let emu = DataverseEmulator::start(Seed::contacts(2, 5))
        .await
        .unwrap();
    let integration = contacts(&emu, 500, "");
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let plan = source.plan(&integration).await.unwrap();
    let port = emu.addr().port();
    for link in [
        "https://evil.example/api/data/v9.2/contacts?$deltatoken=1".to_owned(),
        format!("http://127.0.0.2:{port}/api/data/v9.2/contacts?$deltatoken=1"),
        format!("http://127.0.0.1:{port}/other/contacts?$deltatoken=1"),
        format!("http://user:pw@127.0.0.1:{port}/api/data/v9.2/contacts?$deltatoken=1"),
        "contacts?$deltatoken=1".to_owned(),
    ] {
        let requests = emu.requests();
        let error = source
            .fetch_changes(ChangesRequest {
                integration: &integration,
                plan: &plan,
                link: Some(&link),
            })
            .await
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Permanent, "{link}");
        assert!(error.to_string().contains("web_api_url"), "{link}: {error}");
        assert!(!error.to_string().contains("pw"), "{error}");
        assert_eq!(emu.requests(), requests, "{link} was not requested");
    }
}

#[tokio::test]
async fn more_changed_ids_than_one_in_query_takes_are_fetched_in_batches() {
    let n = IDS_PER_QUERY * 2 + 37;
    let emu = DataverseEmulator::start(Seed::contacts(n, 6))
        .await
        .unwrap();
    let integration = contacts(&emu, 5_000, "");
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let plan = source.plan(&integration).await.unwrap();
    let before = emu.requests();
    let (pages, _) = read(&source, &integration, &plan, None).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(ids(&pages).len(), n);
    assert_eq!(set(&ids(&pages)).len(), n);
    assert_eq!(
        emu.requests() - before,
        1 + 3,
        "one change page, three id batches"
    );
}

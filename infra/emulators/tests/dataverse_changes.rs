//! Change tracking in the Dataverse emulator over HTTP (issue 11): delta reads paged with
//! `odata.maxpagesize`, an expired or unknown delta token answered with Dataverse's
//! `ExpiredVersionStamp` error, and per-table `ChangeTrackingEnabled` (metadata, a knob, and
//! a tracked read of an untracked table refused with `ChangeTrackingNotEnabledForEntity`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dataverse_common;

use dataverse_common::*;
use dynsync_emulators::dataverse::{DataverseEmulator, Record, Seed};
use serde_json::Value;
use std::collections::BTreeSet;

/// Reads a tracked (or delta) read to its end; returns every page's body.
async fn read_to_end(
    emu: &DataverseEmulator,
    t: &str,
    first: &str,
    prefer: &str,
) -> (Vec<Value>, String) {
    let mut pages = Vec::new();
    let mut url = first.to_owned();
    loop {
        let (s, page) = get_json(emu, t, &url, Some(prefer)).await;
        assert_eq!(s, 200, "{page}");
        pages.push(page.clone());
        if let Some(next) = page["@odata.nextLink"].as_str() {
            assert!(page.get("@odata.deltaLink").is_none(), "{page}");
            url = next.to_owned();
            continue;
        }
        let delta = page["@odata.deltaLink"].as_str().unwrap().to_owned();
        return (pages, delta);
    }
}

fn changed_and_deleted(pages: &[Value]) -> (Vec<String>, Vec<String>) {
    let (mut changed, mut deleted) = (Vec::new(), Vec::new());
    for page in pages {
        for row in rows(page) {
            if row["reason"] == "deleted" {
                assert!(
                    row["@odata.context"]
                        .as_str()
                        .unwrap()
                        .ends_with("$deletedEntity")
                );
                deleted.push(row["id"].as_str().unwrap().to_owned());
            } else {
                changed.push(row["contactid"].as_str().unwrap().to_owned());
            }
        }
    }
    (changed, deleted)
}

fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

#[tokio::test]
async fn a_delta_read_pages_with_maxpagesize_and_reports_each_change_once() {
    let emu = DataverseEmulator::start(Seed::contacts(10, 5))
        .await
        .unwrap();
    let t = token(&emu).await;
    let prefer = "odata.track-changes,odata.maxpagesize=4";
    let (pages, delta) = read_to_end(&emu, &t, "contacts?$select=contactid", prefer).await;
    assert_eq!(pages.len(), 3, "10 rows in pages of 4");
    let store = emu.store();
    let ids = store.ids("contact");
    let mut updated = Vec::new();
    for id in &ids[..5] {
        store
            .update("contact", *id, Record::new().with("firstname", "Changed"))
            .unwrap();
        updated.push(id.to_string());
    }
    let mut deleted = Vec::new();
    for id in &ids[5..9] {
        store.delete("contact", *id).unwrap();
        deleted.push(id.to_string());
    }
    let mut created = Vec::new();
    for i in 0..3 {
        let id = store
            .insert(
                "contact",
                Record::new().with("firstname", format!("New{i}")),
            )
            .unwrap();
        created.push(id.to_string());
    }
    // 8 changed rows then 4 deletions, 4 entries a page.
    let (s, first) = get_json(&emu, &t, &delta, Some(prefer)).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(rows(&first).len(), 4);
    let next = first["@odata.nextLink"].as_str().unwrap().to_owned();
    assert!(next.contains("deltatoken"), "{next}");
    // A change while the delta read pages: not in this read, in the next one.
    store
        .update("contact", ids[9], Record::new().with("firstname", "Late"))
        .unwrap();
    let (rest, next_delta) = read_to_end(&emu, &t, &next, prefer).await;
    assert_eq!(rest.len(), 2);
    let mut all = vec![first];
    all.extend(rest);
    let (changed, gone) = changed_and_deleted(&all);
    assert_eq!(changed.len(), 8, "each changed row once: {changed:?}");
    assert_eq!(
        set(&changed),
        set(&[updated.clone(), created.clone()].concat())
    );
    assert_eq!(gone, deleted, "deletions in the order they happened");
    let (pages, _) = read_to_end(&emu, &t, &next_delta, prefer).await;
    let (changed, gone) = changed_and_deleted(&pages);
    assert_eq!(changed, vec![ids[9].to_string()]);
    assert!(gone.is_empty());
}

#[tokio::test]
async fn an_expired_delta_token_gets_dataverses_error_and_a_new_full_read_starts_over() {
    let emu = DataverseEmulator::start(Seed::contacts(6, 5))
        .await
        .unwrap();
    let t = token(&emu).await;
    let prefer = "odata.track-changes";
    let (_, delta) = read_to_end(&emu, &t, "contacts?$select=contactid", prefer).await;
    emu.store().expire_change_tokens();
    let (s, v) = get_json(&emu, &t, &delta, Some(prefer)).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "0x80044352", "{v}");
    assert_eq!(
        v["error"]["message"],
        "Version stamp associated with the client has expired. Please perform a full sync."
    );
    // A full read issues a token that works, even with no change since the expiry.
    let (pages, fresh) = read_to_end(&emu, &t, "contacts?$select=contactid", prefer).await;
    assert_eq!(rows(&pages[0]).len(), 6);
    let (s, v) = get_json(&emu, &t, &fresh, Some(prefer)).await;
    assert_eq!(s, 200, "{v}");
    assert!(rows(&v).is_empty());
}

#[tokio::test]
async fn an_unknown_delta_token_is_refused_like_an_expired_one() {
    let emu = DataverseEmulator::start(Seed::contacts(2, 5))
        .await
        .unwrap();
    let t = token(&emu).await;
    let (s, v) = get_json(
        &emu,
        &t,
        "contacts?$select=contactid&$deltatoken=999999%2101%2f01%2f2030%2000%3a00%3a00",
        Some("odata.track-changes"),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "0x80044352", "{v}");
}

#[tokio::test]
async fn change_tracking_is_on_for_contacts_leads_and_accounts_and_a_knob_turns_it_off() {
    let emu = DataverseEmulator::start(Seed::contacts(2, 5))
        .await
        .unwrap();
    let t = token(&emu).await;
    let tracked = |v: &Value, name: &str| {
        rows(v)
            .into_iter()
            .find(|e| e["LogicalName"] == name)
            .map(|e| e["ChangeTrackingEnabled"].as_bool().unwrap())
    };
    let (_, v) = get_json(
        &emu,
        &t,
        "EntityDefinitions?$select=LogicalName,ChangeTrackingEnabled",
        None,
    )
    .await;
    for name in ["contact", "lead", "account"] {
        assert_eq!(tracked(&v, name), Some(true), "{name}");
    }
    emu.store().set_change_tracking("contact", false).unwrap();
    let (_, v) = get_json(
        &emu,
        &t,
        "EntityDefinitions(LogicalName='contact')?$select=ChangeTrackingEnabled",
        None,
    )
    .await;
    assert_eq!(v["ChangeTrackingEnabled"], false, "{v}");
    let (s, v) = get_json(
        &emu,
        &t,
        "contacts?$select=contactid",
        Some("odata.track-changes"),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "0x80072491", "{v}");
    assert_eq!(
        v["error"]["message"],
        "Entity contact isn't enabled for change tracking."
    );
    // Plain reads still work; an unknown table is an error naming it.
    let (s, _) = get_json(&emu, &t, "contacts?$select=contactid", None).await;
    assert_eq!(s, 200);
    let err = emu
        .store()
        .set_change_tracking("nosuch", false)
        .unwrap_err();
    assert!(err.to_string().contains("nosuch"), "{err}");
    emu.store().set_change_tracking("contact", true).unwrap();
    let (s, _) = get_json(
        &emu,
        &t,
        "contacts?$select=contactid",
        Some("odata.track-changes"),
    )
    .await;
    assert_eq!(s, 200);
}

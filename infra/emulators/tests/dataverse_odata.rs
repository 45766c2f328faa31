//! OData side of the emulator over HTTP: `$select`/`$filter`/`$orderby`, `nextLink`
//! paging, change tracking with deletes, and marketing lists and members. Metadata, option
//! sets, `$batch` and the 32 KB GET URL limit are in `dataverse_metadata_batch.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dataverse_common;

use chrono::{TimeZone, Utc};
use dataverse_common::*;
use dynsync_emulators::dataverse::{DataverseEmulator, Record, Seed, sql_guid_cmp};
use serde_json::Value;
use std::collections::BTreeSet;
use uuid::Uuid;

#[tokio::test]
async fn odata_select_filter_and_orderby_return_matching_rows_with_nulls() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let t = token(&emu).await;
    let s = emu.store();
    s.set_now(Some(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()));
    let a = s
        .insert(
            "contact",
            Record::new().with("firstname", "Ada").with("statecode", 0),
        )
        .unwrap();
    s.set_now(Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()));
    let b = s
        .insert(
            "contact",
            Record::new().with("firstname", "Bob").with("statecode", 0),
        )
        .unwrap();
    s.insert(
        "contact",
        Record::new().with("firstname", "Cem").with("statecode", 1),
    )
    .unwrap();
    let (st, v) = get_json(&emu, &t, "contacts?$select=firstname,emailaddress1&$filter=statecode eq 0 and modifiedon gt 2026-02-15T00:00:00Z", None).await;
    assert_eq!(st, 200, "{v}");
    let r = rows(&v);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["firstname"], "Bob");
    assert_eq!(r[0]["contactid"], b.to_string());
    assert!(
        r[0]["emailaddress1"].is_null(),
        "OData returns selected nulls as null"
    );
    let (_, v) = get_json(
        &emu,
        &t,
        "contacts?$select=firstname&$orderby=firstname desc",
        None,
    )
    .await;
    assert_eq!(strings(&v, "firstname"), vec!["Cem", "Bob", "Ada"]);
    let (_, v) = get_json(
        &emu,
        &t,
        &format!("contacts?$select=firstname&$filter=contactid eq {a}"),
        None,
    )
    .await;
    assert_eq!(strings(&v, "firstname"), vec!["Ada"]);
    let (st, v) = get_json(&emu, &t, "contacts?$select=nosuch", None).await;
    assert_eq!(st, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("nosuch"));
    let (st, _) = get_json(&emu, &t, "nosuchset", None).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn next_links_page_through_every_row_with_the_same_page_size() {
    let emu = DataverseEmulator::start(Seed::contacts(2345, 9))
        .await
        .unwrap();
    let t = token(&emu).await;
    let mut url = format!("{}/contacts?$select=contactid,fullname", emu.web_api_url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (s, headers, body) = get(&emu, &t, &url, Some("odata.maxpagesize=1000")).await;
        assert_eq!(s, 200);
        assert!(
            headers["preference-applied"]
                .to_str()
                .unwrap()
                .contains("odata.maxpagesize=1000")
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        pages += 1;
        let r = rows(&v);
        assert!(r.len() <= 1000);
        seen.extend(strings(&v, "contactid"));
        match v["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.contains("%24skiptoken=") || next.contains("$skiptoken="),
                    "{next}"
                );
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 2345);
    let ids: Vec<Uuid> = seen.iter().map(|s| Uuid::parse_str(s).unwrap()).collect();
    assert!(ids.windows(2).all(|w| sql_guid_cmp(&w[0], &w[1]).is_lt()));
}

#[tokio::test]
async fn change_tracking_returns_changes_then_deletions_and_a_new_delta_link() {
    let emu = DataverseEmulator::start(Seed::contacts(30, 5))
        .await
        .unwrap();
    let t = token(&emu).await;
    let (s, headers, body) = get(
        &emu,
        &t,
        "contacts?$select=firstname,lastname",
        Some("odata.track-changes"),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        headers["preference-applied"]
            .to_str()
            .unwrap()
            .contains("odata.track-changes")
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(rows(&v).len(), 30);
    let delta = v["@odata.deltaLink"].as_str().unwrap().to_owned();
    assert!(delta.contains("deltatoken="), "{delta}");
    let store = emu.store();
    let ids = store.ids("contact");
    store
        .update(
            "contact",
            ids[3],
            Record::new().with("firstname", "Changed"),
        )
        .unwrap();
    store.delete("contact", ids[7]).unwrap();
    let added = store
        .insert("contact", Record::new().with("firstname", "New"))
        .unwrap();
    let (s, v) = get_json(&emu, &t, &delta, None).await;
    assert_eq!(s, 200, "{v}");
    let r = rows(&v);
    assert_eq!(r.len(), 3);
    let changed: BTreeSet<String> = r[..2]
        .iter()
        .map(|x| x["contactid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        changed,
        [ids[3].to_string(), added.to_string()]
            .into_iter()
            .collect()
    );
    let deleted = &r[2];
    assert_eq!(deleted["id"], ids[7].to_string());
    assert_eq!(deleted["reason"], "deleted");
    assert!(
        deleted["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#contacts/$deletedEntity")
    );
    let next = v["@odata.deltaLink"].as_str().unwrap().to_owned();
    let (_, v) = get_json(&emu, &t, &next, None).await;
    assert!(
        rows(&v).is_empty(),
        "nothing changed since the last delta link"
    );
}

#[tokio::test]
async fn a_paged_initial_sync_reports_changes_made_while_it_was_paging() {
    let emu = DataverseEmulator::start(Seed::contacts(10, 5))
        .await
        .unwrap();
    let t = token(&emu).await;
    let prefer = "odata.track-changes,odata.maxpagesize=4";
    let (_, first) = get_json(&emu, &t, "contacts?$select=firstname", Some(prefer)).await;
    assert!(first.get("@odata.deltaLink").is_none());
    let ids = emu.store().ids("contact");
    // Changed after page 1 was read, on a row page 1 already returned.
    emu.store()
        .update("contact", ids[0], Record::new().with("firstname", "Late"))
        .unwrap();
    let mut next = first["@odata.nextLink"].as_str().unwrap().to_owned();
    let delta = loop {
        let (s, page) = get_json(&emu, &t, &next, Some(prefer)).await;
        assert_eq!(s, 200, "{page}");
        if let Some(d) = page["@odata.deltaLink"].as_str() {
            break d.to_owned();
        }
        next = page["@odata.nextLink"].as_str().unwrap().to_owned();
    };
    let (_, v) = get_json(&emu, &t, &delta, None).await;
    assert_eq!(strings(&v, "contactid"), vec![ids[0].to_string()]);
}

#[tokio::test]
async fn change_tracking_rejects_filter_orderby_and_top_naming_the_option() {
    let emu = DataverseEmulator::start(Seed::contacts(3, 5))
        .await
        .unwrap();
    let t = token(&emu).await;
    for opt in ["$filter=statecode eq 0", "$orderby=firstname", "$top=2"] {
        let (s, v) = get_json(
            &emu,
            &t,
            &format!("contacts?$select=firstname&{opt}"),
            Some("odata.track-changes"),
        )
        .await;
        assert_eq!(s, 400);
        let name = opt.split('=').next().unwrap();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(name),
            "{v}"
        );
    }
}

#[tokio::test]
async fn marketing_lists_and_members_are_queryable_with_odata() {
    let emu = DataverseEmulator::start(Seed::demo()).await.unwrap();
    let t = token(&emu).await;
    let (s, v) = get_json(
        &emu,
        &t,
        "lists?$select=listname,type,createdfromcode,membercount&$filter=statecode eq 0",
        Some("odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\""),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let lists = rows(&v);
    assert_eq!(lists.len(), emu.store().count("list"));
    let vip = lists
        .iter()
        .find(|l| l["listname"] == "VIP Segment")
        .unwrap();
    assert_eq!(vip["type"], false);
    assert_eq!(
        vip["type@OData.Community.Display.V1.FormattedValue"],
        "Static"
    );
    assert_eq!(
        vip["createdfromcode@OData.Community.Display.V1.FormattedValue"],
        "Contact"
    );
    let dynamic = lists.iter().find(|l| l["type"] == true).unwrap();
    assert!(dynamic["membercount"].as_i64().unwrap() > 0);
    assert_eq!(
        lists
            .iter()
            .filter(|l| l["listname"] == "Spring Campaign")
            .count(),
        2
    );
    let vip_id = vip["listid"].as_str().unwrap();
    let (s, v) = get_json(
        &emu,
        &t,
        &format!("listmembers?$select=_entityid_value&$filter=_listid_value eq {vip_id}"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(rows(&v).len() as i64, vip["membercount"].as_i64().unwrap());
}

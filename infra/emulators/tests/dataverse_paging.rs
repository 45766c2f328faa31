//! FetchXML paging over HTTP: SQL Server GUID order of the primary id (order and `gt`
//! keyset), paging cookies followed the way clients do (decode twice, XML-escape),
//! non-unique descending orders, page numbers without a cookie, and `morerecords`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dataverse_common;

use dataverse_common::*;
use dynsync_emulators::dataverse::{DataverseEmulator, Record, Seed, sql_guid_cmp};
use std::collections::BTreeSet;
use uuid::Uuid;

#[tokio::test]
async fn ordering_by_the_primary_id_follows_sql_server_guid_order() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let t = token(&emu).await;
    // String order and SQL Server order disagree for these.
    let ids = [
        "ffffffff-0000-0000-0000-000000000001",
        "00000000-0000-0000-0000-000000000002",
        "00000000-0000-0000-ff00-000000000001",
        "00000000-0000-00ff-0000-000000000001",
        "0000ff00-0000-0000-0000-000000000001",
    ];
    for id in ids {
        emu.store()
            .insert(
                "contact",
                Record::new().with("contactid", Uuid::parse_str(id).unwrap()),
            )
            .unwrap();
    }
    let (_, v) = fetch(&emu, &t, "contacts", "<fetch><entity name='contact'><attribute name='contactid'/><order attribute='contactid'/></entity></fetch>", None).await;
    let got: Vec<Uuid> = strings(&v, "contactid")
        .iter()
        .map(|s| Uuid::parse_str(s).unwrap())
        .collect();
    let mut expected: Vec<Uuid> = ids.iter().map(|s| Uuid::parse_str(s).unwrap()).collect();
    expected.sort_by(sql_guid_cmp);
    assert_eq!(got, expected);
    assert_eq!(
        got.last().unwrap().to_string(),
        "00000000-0000-0000-0000-000000000002"
    );
    // Keyset: gt the third id returns exactly the last two, in order.
    let xml = format!(
        "<fetch count='10'><entity name='contact'><attribute name='contactid'/><order attribute='contactid'/><filter><condition attribute='contactid' operator='gt' value='{}'/></filter></entity></fetch>",
        expected[2]
    );
    let (_, v) = fetch(&emu, &t, "contacts", &xml, None).await;
    assert_eq!(
        strings(&v, "contactid"),
        vec![expected[3].to_string(), expected[4].to_string()]
    );
    let (_, desc) = fetch(&emu, &t, "contacts", "<fetch><entity name='contact'><attribute name='contactid'/><order attribute='contactid' descending='true'/></entity></fetch>", None).await;
    let rev: Vec<String> = expected.iter().rev().map(Uuid::to_string).collect();
    assert_eq!(strings(&desc, "contactid"), rev);
}

/// Follows paging cookies the way the client will (decode twice, XML-escape, page + 1).
async fn walk_with_cookies(
    emu: &DataverseEmulator,
    t: &str,
    entity_body: &str,
    count: usize,
) -> (Vec<String>, usize) {
    let mut page = 1;
    let mut cookie: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let cookie_attr = cookie
            .as_ref()
            .map(|c| format!(" paging-cookie='{}'", quick_xml::escape::escape(c.as_str())))
            .unwrap_or_default();
        let xml = format!(
            "<fetch count='{count}' page='{page}'{cookie_attr}><entity name='contact'>{entity_body}</entity></fetch>"
        );
        let (s, v) = fetch(emu, t, "contacts", &xml, Some(ALL_ANNOTATIONS)).await;
        assert_eq!(s, 200, "{v}");
        seen.extend(strings(&v, "contactid"));
        if v.get("@Microsoft.Dynamics.CRM.morerecords").is_none() {
            assert!(
                v.get("@Microsoft.Dynamics.CRM.fetchxmlpagingcookie")
                    .is_none(),
                "last page carries no cookie"
            );
            return (seen, page);
        }
        assert_eq!(v["@Microsoft.Dynamics.CRM.morerecords"], true);
        let ann = v["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"]
            .as_str()
            .unwrap()
            .to_owned();
        let el = ann
            .split("pagingcookie=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned();
        let once = percent_encoding::percent_decode_str(&el)
            .decode_utf8()
            .unwrap()
            .into_owned();
        let twice = percent_encoding::percent_decode_str(&once)
            .decode_utf8()
            .unwrap()
            .into_owned();
        assert!(twice.starts_with("<cookie page=\""), "{twice}");
        assert!(ann.contains(&format!("pagenumber=\"{}\"", page + 1)));
        cookie = Some(twice);
        page += 1;
    }
}

#[tokio::test]
async fn paging_cookies_walk_every_row_once_in_guid_order() {
    let emu = DataverseEmulator::start(Seed::contacts(1234, 7))
        .await
        .unwrap();
    let t = token(&emu).await;
    let (seen, pages) = walk_with_cookies(
        &emu,
        &t,
        "<attribute name='contactid'/><order attribute='contactid'/>",
        500,
    )
    .await;
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 1234);
    let ids: Vec<Uuid> = seen.iter().map(|s| Uuid::parse_str(s).unwrap()).collect();
    assert!(ids.windows(2).all(|w| sql_guid_cmp(&w[0], &w[1]).is_lt()));
}

#[tokio::test]
async fn paging_cookies_work_with_a_non_unique_descending_order() {
    let emu = DataverseEmulator::start(Seed::contacts(57, 3))
        .await
        .unwrap();
    let t = token(&emu).await;
    let (seen, _) = walk_with_cookies(&emu, &t, "<attribute name='contactid'/><attribute name='lastname'/><order attribute='lastname' descending='true'/>", 10).await;
    assert_eq!(seen.len(), 57);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 57);
}

#[tokio::test]
async fn page_numbers_without_a_cookie_skip_whole_pages() {
    let emu = DataverseEmulator::start(Seed::contacts(25, 1))
        .await
        .unwrap();
    let t = token(&emu).await;
    let body = "<entity name='contact'><attribute name='contactid'/><order attribute='contactid'/></entity>";
    let (_, all) = fetch(
        &emu,
        &t,
        "contacts",
        &format!("<fetch>{body}</fetch>"),
        None,
    )
    .await;
    let (_, p2) = fetch(
        &emu,
        &t,
        "contacts",
        &format!("<fetch count='10' page='2'>{body}</fetch>"),
        Some(ALL_ANNOTATIONS),
    )
    .await;
    assert_eq!(
        strings(&p2, "contactid"),
        strings(&all, "contactid")[10..20].to_vec()
    );
    assert_eq!(p2["@Microsoft.Dynamics.CRM.morerecords"], true);
    let (_, p3) = fetch(
        &emu,
        &t,
        "contacts",
        &format!("<fetch count='10' page='3'>{body}</fetch>"),
        Some(ALL_ANNOTATIONS),
    )
    .await;
    assert_eq!(rows(&p3).len(), 5);
    assert!(p3.get("@Microsoft.Dynamics.CRM.morerecords").is_none());
}

#[tokio::test]
async fn paging_annotations_need_the_prefer_header() {
    let emu = DataverseEmulator::start(Seed::contacts(20, 1))
        .await
        .unwrap();
    let t = token(&emu).await;
    let (_, v) = fetch(
        &emu,
        &t,
        "contacts",
        "<fetch count='5'><entity name='contact'><attribute name='contactid'/></entity></fetch>",
        None,
    )
    .await;
    assert_eq!(rows(&v).len(), 5);
    assert!(v.get("@Microsoft.Dynamics.CRM.morerecords").is_none());
    assert!(
        v["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#contacts")
    );
}

//! Eight contacts with known values (`people`) and short FetchXML helpers, shared by the
//! FetchXML tests (`dataverse_fetchxml.rs`, `dataverse_fetchxml_lists.rs`).

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use dynsync_emulators::dataverse::{DataverseEmulator, Record, Seed};
use uuid::Uuid;

use super::*;

/// Eight contacts with known values, keyed by `new_customerid` C1..C8.
pub async fn people() -> (DataverseEmulator, String, Vec<Uuid>) {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let store = emu.store();
    store.set_now(Some(Utc.with_ymd_and_hms(2026, 1, 10, 12, 0, 0).unwrap()));
    let rows = [
        ("C1", "Ada", "Lovelace", Some("ada@example.com"), Some(1), 0),
        ("C2", "Alan", "Turing", Some("alan@example.org"), Some(1), 0),
        ("C3", "Grace", "Hopper", None, Some(2), 0),
        ("C4", "Ayşe", "Yılmaz", Some("ayse@example.com"), Some(3), 0),
        ("C5", "Zoë", "Lovelace", Some("not-an-email"), None, 1),
        (
            "C6",
            "Linus",
            "Torvalds",
            Some("linus@example.com"),
            Some(1),
            0,
        ),
        (
            "C7",
            "Barbara",
            "Liskov",
            Some("barbara@EXAMPLE.com"),
            Some(2),
            0,
        ),
        ("C8", "Ken", "Thompson", None, None, 1),
    ];
    let mut ids = Vec::new();
    for (i, (cid, first, last, email, gender, state)) in rows.into_iter().enumerate() {
        let mut r = Record::new()
            .with("new_customerid", cid)
            .with("firstname", first)
            .with("lastname", last)
            .with("statecode", state)
            .with("statuscode", if state == 0 { 1 } else { 2 })
            .with(
                "createdon",
                Utc.with_ymd_and_hms(2026, 1, 1 + i as u32, 10, 0, 0)
                    .unwrap(),
            )
            .with("numberofchildren", i as i64);
        if let Some(e) = email {
            r = r.with("emailaddress1", e);
        }
        if let Some(g) = gender {
            r = r.with("gendercode", g);
        }
        ids.push(store.insert("contact", r).unwrap());
    }
    let t = token(&emu).await;
    (emu, t, ids)
}

pub fn q(filter: &str) -> String {
    format!(
        "<fetch><entity name='contact'><attribute name='new_customerid'/>{filter}</entity></fetch>"
    )
}

pub async fn ids_of(emu: &DataverseEmulator, t: &str, filter: &str) -> BTreeSet<String> {
    let (s, v) = fetch(emu, t, "contacts", &q(filter), None).await;
    assert_eq!(s, 200, "{filter}: {v}");
    strings(&v, "new_customerid").into_iter().collect()
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub fn cond(attr: &str, op: &str, value: &str) -> String {
    format!("<filter><condition attribute='{attr}' operator='{op}' value='{value}'/></filter>")
}

//! FetchXML over HTTP on marketing lists and the demo seed: static list members through
//! the `listmember` link, membership changes in queries and member counts, a dynamic list's
//! stored query, and the demo seed's messy contacts, lists and purchases.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dataverse_common;

use dataverse_common::people::{cond, people, q, set};
use dataverse_common::*;
use dynsync_emulators::dataverse::{DataverseEmulator, FieldValue, Record, Seed};
use std::collections::BTreeSet;
use uuid::Uuid;

#[tokio::test]
async fn static_list_members_come_through_the_listmember_link() {
    let (emu, t, ids) = people().await;
    let members = [ids[1], ids[4], ids[6]];
    let list = emu
        .store()
        .add_static_list("VIP", "contact", &members)
        .unwrap();
    emu.store()
        .add_static_list("Other", "contact", &[ids[0]])
        .unwrap();
    let xml = format!(
        "<fetch count='5000' page='1'><entity name='contact'><attribute name='new_customerid'/><order attribute='contactid'/>\
         <link-entity name='listmember' from='entityid' to='contactid' link-type='inner' intersect='true'>\
         <filter><condition attribute='listid' operator='eq' value='{{{}}}'/></filter></link-entity></entity></fetch>",
        list.to_string().to_uppercase()
    );
    let (s, v) = fetch(&emu, &t, "contacts", &xml, None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        strings(&v, "new_customerid")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        set(&["C2", "C5", "C7"])
    );
}

#[tokio::test]
async fn static_list_membership_changes_show_in_queries_and_member_count() {
    let (emu, t, ids) = people().await;
    let store = emu.store();
    let list = store
        .add_static_list("Changing", "contact", &ids[..2])
        .unwrap();
    store
        .add_list_members(list, &[ids[1], ids[2], ids[3]])
        .unwrap();
    store.remove_list_members(list, &[ids[0]]).unwrap();
    let mut members = store.list_members(list);
    members.sort();
    let mut expected = ids[1..4].to_vec();
    expected.sort();
    assert_eq!(members, expected);
    let (_, v) = get_json(
        &emu,
        &t,
        &format!("lists({list})?$select=membercount"),
        None,
    )
    .await;
    assert_eq!(v["membercount"], 3);
    // Deleting a contact removes its membership, as Dataverse cascades.
    store.delete("contact", ids[2]).unwrap();
    assert_eq!(store.list_members(list).len(), 2);
    let dynamic = store.add_dynamic_list("Dyn", "contact", &q("")).unwrap();
    assert!(store.add_list_members(dynamic, &[ids[0]]).is_err());
}

#[tokio::test]
async fn dynamic_list_stores_its_query_and_member_count() {
    let (emu, t, _) = people().await;
    let query = q(&cond("gendercode", "eq", "1"));
    let id = emu
        .store()
        .add_dynamic_list("Men", "contact", &query)
        .unwrap();
    let (s, v) = get_json(
        &emu,
        &t,
        &format!("lists({id})?$select=listname,type,query"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["type"], true);
    assert_eq!(v["listid"], id.to_string());
    let (s, v) = get_json(&emu, &t, &format!("lists({})", Uuid::new_v4()), None).await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = fetch(
        &emu,
        &t,
        "lists",
        "<fetch><entity name='list'><attribute name='listname'/><attribute name='type'/><attribute name='query'/><attribute name='membercount'/><attribute name='createdfromcode'/></entity></fetch>",
        None,
    )
    .await;
    assert_eq!(s, 200);
    let row = &rows(&v)[0];
    assert_eq!(row["listname"], "Men");
    assert_eq!(row["type"], true);
    assert_eq!(row["createdfromcode"], 2);
    assert_eq!(row["membercount"], 3);
    assert_eq!(row["query"], query.as_str());
}

#[tokio::test]
async fn demo_seed_has_messy_contacts_lists_and_purchases() {
    let emu = DataverseEmulator::start(Seed::demo()).await.unwrap();
    let store = emu.store();
    assert_eq!(store.count("contact"), 200);
    assert!(
        store.count("lead") > 0 && store.count("account") > 0 && store.count("new_purchase") > 0
    );
    assert!(store.count("list") >= 8);
    let contacts: Vec<Record> = store
        .ids("contact")
        .into_iter()
        .filter_map(|id| store.get("contact", id))
        .collect();
    let text = |r: &Record, f: &str| match r.get(f) {
        Some(FieldValue::Text(s)) => Some(s.clone()),
        _ => None,
    };
    assert!(
        contacts
            .iter()
            .any(|r| text(r, "mobilephone").as_deref() == Some("0532 123 45 67"))
    );
    assert!(
        contacts
            .iter()
            .any(|r| text(r, "mobilephone").as_deref() == Some("(555) 123-4567"))
    );
    assert!(
        contacts
            .iter()
            .any(|r| text(r, "emailaddress1").is_some_and(|e| !e.contains('@')))
    );
    assert!(
        contacts
            .iter()
            .any(|r| r.get("gendercode") == Some(&FieldValue::Int(3)))
    );
    assert!(contacts.iter().any(|r| r.get("emailaddress1").is_none()));
    assert!(
        contacts
            .iter()
            .any(|r| text(r, "lastname").is_some_and(|n| !n.is_ascii()))
    );
    // Deterministic: the same seed gives the same ids.
    let again = DataverseEmulator::start(Seed::demo()).await.unwrap();
    assert_eq!(again.store().ids("contact"), store.ids("contact"));
}

//! Discovery against the emulator's demo organization: entities, attributes, option-set
//! labels, marketing lists (by name, by id, ambiguous), and formatted values.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use dynsync_domain::record::FORMATTED_VALUE_SUFFIX;
use dynsync_dynamics::DynamicsError;
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};

async fn demo() -> (DataverseEmulator, dynsync_dynamics::DataverseClient) {
    let emu = DataverseEmulator::start(Seed::demo()).await.unwrap();
    let client = client(&client_credentials(&emu), secrets());
    (emu, client)
}

#[tokio::test]
async fn entities_name_their_set_primary_id_and_display_name() {
    let (_emu, client) = demo().await;
    let entities = client.entities().await.unwrap();
    let contact = entities
        .iter()
        .find(|e| e.logical_name == "contact")
        .expect("contact is listed");
    assert_eq!(
        (contact.entity_set.as_str(), contact.primary_id.as_str()),
        ("contacts", "contactid")
    );
    assert!(!contact.display_name.is_empty() && !contact.custom);
    assert!(
        entities.iter().any(|e| e.custom),
        "the demo has custom entities"
    );
    assert!(
        entities
            .windows(2)
            .all(|w| w[0].logical_name <= w[1].logical_name)
    );
}

#[tokio::test]
async fn attributes_have_types_and_display_names() {
    let (_emu, client) = demo().await;
    let attributes = client.attributes("contact").await.unwrap();
    let email = attributes
        .iter()
        .find(|a| a.logical_name == "emailaddress1")
        .unwrap();
    assert_eq!(email.attribute_type, "String");
    let gender = attributes
        .iter()
        .find(|a| a.logical_name == "gendercode")
        .unwrap();
    assert_eq!(
        (gender.attribute_type.as_str(), gender.display_name.as_str()),
        ("Picklist", "Gender")
    );
}

#[tokio::test]
async fn an_unknown_entity_is_named_in_the_error() {
    let (_emu, client) = demo().await;
    let error = client.attributes("contcat").await.unwrap_err();
    assert!(error.to_string().contains("contcat"), "{error}");
    assert!(client.attributes("contact'/x").await.is_err());
}

#[tokio::test]
async fn option_labels_cover_picklists_states_and_booleans() {
    let (_emu, client) = demo().await;
    let fields = ["gendercode", "statecode", "donotbulkemail"].map(str::to_owned);
    let labels = client.option_labels("contact", &fields).await.unwrap();
    assert_eq!(labels.len(), 3, "{labels:?}");
    assert!(!labels["gendercode"].is_empty());
    assert_eq!(
        labels["statecode"].get(&0).map(String::as_str),
        Some("Active")
    );
    assert_eq!(
        labels["donotbulkemail"].keys().copied().collect::<Vec<_>>(),
        vec![0, 1]
    );
    let all = client.option_labels("contact", &[]).await.unwrap();
    assert!(all.len() > labels.len());
}

#[tokio::test]
async fn lists_show_type_member_type_and_count() {
    let (_emu, client) = demo().await;
    let lists = client.lists().await.unwrap();
    let vip = lists.iter().find(|l| l.name == "VIP Segment").unwrap();
    assert!(!vip.dynamic && vip.member_type == "contact" && vip.member_count.unwrap_or(0) > 0);
    let gold = lists.iter().find(|l| l.name == "Gold Members").unwrap();
    assert!(gold.dynamic && gold.query.as_deref().unwrap_or_default().contains("<fetch"));
    assert!(lists.iter().any(|l| l.member_type == "lead"));
}

#[tokio::test]
async fn a_list_resolves_by_exact_name_or_by_id_and_a_duplicate_name_lists_the_ids() {
    let (_emu, client) = demo().await;
    let vip = client.resolve_list("VIP Segment").await.unwrap();
    assert_eq!(client.resolve_list(&vip.id).await.unwrap(), vip);
    assert_eq!(
        client
            .resolve_list(&vip.id.to_uppercase())
            .await
            .unwrap()
            .id,
        vip.id
    );
    let missing = client.resolve_list("vip segment").await.unwrap_err();
    assert!(
        matches!(missing, DynamicsError::ListNotFound { .. }),
        "{missing}"
    );
    let DynamicsError::AmbiguousList { ids, .. } =
        client.resolve_list("Spring Campaign").await.unwrap_err()
    else {
        panic!("two lists share that name");
    };
    assert_eq!(ids.len(), 2);
    let unknown = client
        .resolve_list("00000000-0000-0000-0000-00000000dead")
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, DynamicsError::ListNotFound { .. }),
        "{unknown}"
    );
}

#[tokio::test]
async fn formatted_values_come_beside_the_codes_only_when_asked() {
    let (_emu, client) = demo().await;
    let xml = "<fetch count='20'><entity name='contact'><attribute name='contactid'/><attribute name='gendercode'/><filter><condition attribute='gendercode' operator='not-null'/></filter></entity></fetch>";
    let plain = client.fetch("contacts", xml, false).await.unwrap();
    assert!(!plain.records.is_empty());
    let key = format!("gendercode{FORMATTED_VALUE_SUFFIX}");
    assert!(plain.records.iter().all(|r| !r.contains_key(&key)));
    let formatted = client.fetch("contacts", xml, true).await.unwrap();
    assert!(
        formatted
            .records
            .iter()
            .all(|r| match r["gendercode"].as_i64() {
                Some(1) => r[&key] == "Male",
                Some(2) => r[&key] == "Female",
                _ => true,
            })
            && formatted.records.iter().any(|r| r.contains_key(&key)),
        "{:?}",
        formatted.records
    );
}

#[tokio::test]
async fn an_unknown_attribute_in_a_query_is_named() {
    let (_emu, client) = demo().await;
    let xml = "<fetch><entity name='contact'><attribute name='emailadress1'/></entity></fetch>";
    let error = client.fetch("contacts", xml, false).await.unwrap_err();
    assert!(
        matches!(error, DynamicsError::UnknownAttribute { ref attribute } if attribute == "emailadress1"),
        "{error}"
    );
}

#[tokio::test]
async fn a_query_longer_than_a_get_url_goes_through_batch() {
    let (_emu, client) = demo().await;
    let values: String = (0..900)
        .map(|i| format!("<value>nobody{i}@example.com</value>"))
        .collect();
    let xml = format!(
        "<fetch count='5'><entity name='contact'><attribute name='contactid'/><filter type='or'><condition attribute='emailaddress1' operator='in'>{values}</condition><condition attribute='statecode' operator='eq' value='0'/></filter></entity></fetch>"
    );
    let encoded: String = url::form_urlencoded::byte_serialize(xml.as_bytes()).collect();
    assert!(encoded.len() > 32_768 && encoded.len() < 60_000);
    let page = client.fetch("contacts", &xml, false).await.unwrap();
    assert_eq!(page.records.len(), 5);
    let huge = xml.replace("nobody", &"x".repeat(40));
    let error = client.fetch("contacts", &huge, false).await.unwrap_err();
    assert!(
        error.to_string().contains("shorten source.filter"),
        "{error}"
    );
}

#[tokio::test]
async fn an_invalid_fetchxml_query_is_a_permanent_error_quoting_dataverse() {
    let (_emu, client) = demo().await;
    let xml = "<fetch><entity name='contact'><filter><condition attribute='statecode' operator='sounds-like' value='0'/></filter></entity></fetch>";
    let error = client.fetch("contacts", xml, false).await.unwrap_err();
    assert!(
        matches!(error, DynamicsError::InvalidFetchXml { .. }),
        "{error:?}"
    );
    assert_eq!(error.kind(), dynsync_domain::ErrorKind::Permanent);
    assert!(
        error
            .to_string()
            .starts_with("Dataverse rejected the FetchXML query (0x80040203)"),
        "{error}"
    );
}

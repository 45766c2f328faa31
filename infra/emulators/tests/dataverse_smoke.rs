//! First end-to-end checks over HTTP: a client-credentials token, WhoAmI, and a FetchXML
//! page over the demo contacts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dataverse_common;

use dataverse_common::token;
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};
use serde_json::Value;

#[tokio::test]
async fn whoami_answers_with_a_client_credentials_token() {
    let emu = DataverseEmulator::start(Seed::demo()).await.unwrap();
    let t = token(&emu).await;
    let r = reqwest::Client::new()
        .get(format!("{}/WhoAmI", emu.web_api_url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["UserId"].is_string());
    assert!(body["OrganizationId"].is_string());
    assert_eq!(emu.requests(), 1);
}

#[tokio::test]
async fn fetchxml_returns_a_page_of_demo_contacts() {
    let emu = DataverseEmulator::start(Seed::demo()).await.unwrap();
    let t = token(&emu).await;
    let xml = "<fetch count='50'><entity name='contact'><attribute name='fullname'/><attribute name='emailaddress1'/><order attribute='contactid'/></entity></fetch>";
    let r = reqwest::Client::new()
        .get(format!("{}/contacts", emu.web_api_url()))
        .query(&[("fetchXml", xml)])
        .bearer_auth(&t)
        .header("Prefer", "odata.include-annotations=\"*\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["value"].as_array().unwrap().len(), 50);
    assert_eq!(body["@Microsoft.Dynamics.CRM.morerecords"], true);
    assert!(
        body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"]
            .as_str()
            .unwrap()
            .contains("pagingcookie=")
    );
    assert!(body["value"][0]["contactid"].is_string());
}

//! Metadata and `$batch` over HTTP: entity definitions, attributes and option sets in their
//! documented shapes, `$batch` parts with inner errors, and the 32 KB GET URL limit that
//! sends long FetchXML through `$batch`. The OData queries are in `dataverse_odata.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dataverse_common;

use dataverse_common::*;
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};
use serde_json::Value;

#[tokio::test]
async fn entity_definitions_list_tables_with_filters_and_select() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let t = token(&emu).await;
    let (s, v) = get_json(
        &emu,
        &t,
        "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,DisplayName,IsCustomEntity,ObjectTypeCode&$filter=IsValidForAdvancedFind eq true",
        None,
    )
    .await;
    assert_eq!(s, 200);
    let names = strings(&v, "LogicalName");
    assert!(names.contains(&"contact".to_owned()) && names.contains(&"new_purchase".to_owned()));
    assert!(!names.contains(&"listmember".to_owned()));
    let contact = rows(&v)
        .into_iter()
        .find(|e| e["LogicalName"] == "contact")
        .unwrap();
    assert_eq!(contact["EntitySetName"], "contacts");
    assert_eq!(contact["PrimaryIdAttribute"], "contactid");
    assert_eq!(
        contact["DisplayName"]["UserLocalizedLabel"]["Label"],
        "Contact"
    );
    assert!(
        contact.get("ChangeTrackingEnabled").is_none(),
        "$select trims properties"
    );
    let (_, v) = get_json(
        &emu,
        &t,
        "EntityDefinitions?$select=LogicalName&$filter=ChangeTrackingEnabled eq true",
        None,
    )
    .await;
    assert!(!strings(&v, "LogicalName").contains(&"listmember".to_owned()));
}

#[tokio::test]
async fn attributes_and_option_sets_have_the_documented_shapes() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let t = token(&emu).await;
    let base = "EntityDefinitions(LogicalName='contact')/Attributes";
    let (s, v) = get_json(
        &emu,
        &t,
        &format!("{base}?$select=LogicalName,AttributeType,DisplayName,IsCustomAttribute"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    let tier = rows(&v)
        .into_iter()
        .find(|a| a["LogicalName"] == "new_loyaltytier")
        .unwrap();
    assert_eq!(tier["AttributeType"], "Picklist");
    assert_eq!(tier["IsCustomAttribute"], true);
    let (_, v) = get_json(&emu, &t, &format!("{base}/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet,GlobalOptionSet"), None).await;
    let gender = rows(&v)
        .into_iter()
        .find(|a| a["LogicalName"] == "gendercode")
        .unwrap();
    let options = gender["OptionSet"]["Options"].as_array().unwrap();
    assert_eq!(options[0]["Value"], 1);
    assert_eq!(options[0]["Label"]["UserLocalizedLabel"]["Label"], "Male");
    let (_, v) = get_json(&emu, &t, &format!("{base}/Microsoft.Dynamics.CRM.BooleanAttributeMetadata?$select=LogicalName&$expand=OptionSet"), None).await;
    let dnb = rows(&v)
        .into_iter()
        .find(|a| a["LogicalName"] == "donotbulkemail")
        .unwrap();
    assert_eq!(
        dnb["OptionSet"]["TrueOption"]["Label"]["UserLocalizedLabel"]["Label"],
        "Do Not Allow"
    );
    assert_eq!(dnb["OptionSet"]["FalseOption"]["Value"], 0);
    for cast in ["State", "Status", "MultiSelectPicklist"] {
        let (s, v) = get_json(&emu, &t, &format!("{base}/Microsoft.Dynamics.CRM.{cast}AttributeMetadata?$select=LogicalName&$expand=OptionSet"), None).await;
        assert_eq!(s, 200);
        assert!(!rows(&v).is_empty(), "{cast}");
    }
    let (s, v) = get_json(
        &emu,
        &t,
        "EntityDefinitions(LogicalName='nosuch')/Attributes",
        None,
    )
    .await;
    assert_eq!(s, 404);
    assert!(v["error"]["code"].is_string());
}

fn batch_body(boundary: &str, urls: &[String]) -> String {
    let mut body = String::new();
    for u in urls {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET {u} HTTP/1.1\r\nAccept: application/json\r\nPrefer: odata.include-annotations=\"*\"\r\n\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body
}

#[tokio::test]
async fn long_fetchxml_is_refused_on_get_and_served_through_batch() {
    let emu = DataverseEmulator::start(Seed::contacts(50, 2))
        .await
        .unwrap();
    let t = token(&emu).await;
    let ids = emu.store().ids("contact");
    // An `in` list long enough to push the GET URL over 32 KB.
    let mut values = String::new();
    for i in 0..900 {
        values.push_str(&format!("<value>{}</value>", ids.get(i % 3).unwrap()));
    }
    let xml = format!(
        "<fetch><entity name='contact'><attribute name='contactid'/><filter><condition attribute='contactid' operator='in'>{values}</condition></filter></entity></fetch>"
    );
    let url = format!(
        "{}/contacts?fetchXml={}",
        emu.web_api_url(),
        urlencode(&xml)
    );
    assert!(url.len() > 32_768);
    let (s, _, body) = get(&emu, &t, &url, None).await;
    assert!(s == 414 || s == 400, "{s}");
    assert!(body.contains("\"error\""));
    let boundary = "batch_5a1e";
    let r = reqwest::Client::new()
        .post(format!("{}/$batch", emu.web_api_url()))
        .bearer_auth(&t)
        .header(
            "Content-Type",
            format!("multipart/mixed; boundary={boundary}"),
        )
        .body(batch_body(
            boundary,
            &[url.clone(), format!("{}/WhoAmI", emu.web_api_url())],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        ct.starts_with("multipart/mixed; boundary=batchresponse_"),
        "{ct}"
    );
    let text = r.text().await.unwrap();
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    let json_start = text.find("{\"@odata.context\"").unwrap();
    let json_end = text[json_start..].find("\r\n--").unwrap() + json_start;
    let v: Value = serde_json::from_str(&text[json_start..json_end]).unwrap();
    assert_eq!(rows(&v).len(), 3);
    assert!(text.contains("UserId"));
}

#[tokio::test]
async fn batch_parts_carry_inner_errors() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let t = token(&emu).await;
    let r = reqwest::Client::new()
        .post(format!("{}/$batch", emu.web_api_url()))
        .bearer_auth(&t)
        .header("Content-Type", "multipart/mixed; boundary=b1")
        .body(batch_body(
            "b1",
            &["/api/data/v9.2/contacts?fetchXml=%3Cfetch".to_owned()],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("HTTP/1.1 400 Bad Request"), "{text}");
    assert!(text.contains("0x80040203"));
}

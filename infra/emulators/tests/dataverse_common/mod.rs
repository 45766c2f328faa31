//! Helpers shared by the Dataverse emulator tests: a token, authenticated GETs and
//! FetchXML queries over HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod people;

use dynsync_emulators::dataverse::{CLIENT_ID, CLIENT_SECRET, DataverseEmulator};
use serde_json::Value;

pub const ALL_ANNOTATIONS: &str = "odata.include-annotations=\"*\"";

pub async fn token(emu: &DataverseEmulator) -> String {
    let r: Value = reqwest::Client::new()
        .post(emu.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", &emu.scope()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().expect("access_token").to_owned()
}

/// GET `{web_api}/{path}` with optional Prefer header; returns status, headers and body text.
pub async fn get(
    emu: &DataverseEmulator,
    token: &str,
    path_and_query: &str,
    prefer: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let url = if path_and_query.starts_with("http") {
        path_and_query.to_owned()
    } else {
        format!("{}/{path_and_query}", emu.web_api_url())
    };
    let mut req = reqwest::Client::new().get(url).bearer_auth(token);
    if let Some(p) = prefer {
        req = req.header("Prefer", p);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

/// GET and parse JSON.
pub async fn get_json(
    emu: &DataverseEmulator,
    token: &str,
    path_and_query: &str,
    prefer: Option<&str>,
) -> (u16, Value) {
    let (s, _, body) = get(emu, token, path_and_query, prefer).await;
    (s, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Runs FetchXML on `set`; returns status and JSON.
pub async fn fetch(
    emu: &DataverseEmulator,
    token: &str,
    set: &str,
    xml: &str,
    prefer: Option<&str>,
) -> (u16, Value) {
    let url = format!("{}/{set}?fetchXml={}", emu.web_api_url(), urlencode(xml));
    get_json(emu, token, &url, prefer).await
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn rows(v: &Value) -> Vec<Value> {
    v["value"].as_array().cloned().unwrap_or_default()
}

pub fn strings(v: &Value, field: &str) -> Vec<String> {
    rows(v)
        .iter()
        .filter_map(|r| r[field].as_str().map(str::to_owned))
        .collect()
}

//! Web API request dispatch under `/api/data/v9.2/`: `WhoAmI`, `EntityDefinitions`
//! metadata, entity-set queries (FetchXML or OData) and `$batch`. Shared by the HTTP gate
//! and by `$batch`, which runs its inner GETs through the same function.

use super::errors::ApiError;
use super::faults::Injected;
use super::fetchxml;
use super::render::{self, Annotations};
use super::server::Shared;
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Map, Value, json};
use std::sync::atomic::Ordering;

pub const USER_ID: &str = "7d3c5a1e-0000-4000-8000-0000000000a1";
pub const BUSINESS_UNIT_ID: &str = "7d3c5a1e-0000-4000-8000-0000000000b1";
pub const ORGANIZATION_ID: &str = "7d3c5a1e-0000-4000-8000-0000000000c1";

/// A reply before it becomes an HTTP response (or a `$batch` part).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: StatusCode, body: &Value) -> Self {
        Reply {
            status,
            content_type: "application/json; odata.metadata=minimal".to_owned(),
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    pub fn error(err: &ApiError) -> Self {
        Reply::json(err.status, &err.body())
    }

    fn with_header(mut self, name: &str, value: String) -> Self {
        self.headers.push((name.to_owned(), value));
        self
    }
}

/// The query string as decoded `(name, value)` pairs.
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn prefer(headers: &HeaderMap) -> String {
    headers
        .get_all("Prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
}

/// Handles one authenticated Web API request; `path` is relative to `/api/data/v9.2/`.
pub fn dispatch(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match shared.faults.injected(authorization) {
        Some(Injected::RevokedToken) => {
            let err =
                ApiError::unauthorized("The access token has been revoked. Request a new token.");
            return Reply::error(&err).with_header(
                "WWW-Authenticate",
                format!(
                    "Bearer authorization_uri={}/{}/oauth2/authorize, resource_id={}/",
                    shared.base_url,
                    super::TENANT,
                    shared.base_url
                ),
            );
        }
        Some(Injected::BareThrottle) => {
            let err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "0x80072322",
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            );
            return Reply::error(&err);
        }
        None => {}
    }
    let path = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned();
    let result = route(shared, method, &path, query, headers, body);
    result.unwrap_or_else(|e| Reply::error(&e))
}

fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if path == "$batch" {
        if *method != Method::POST {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "0x80060888",
                "$batch requires POST.",
            ));
        }
        return super::batch::run(shared, ct, body);
    }
    if *method != Method::GET {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "0x80060888",
            format!("The emulator serves only GET on '{path}' (the connector only reads)."),
        ));
    }
    if path == "WhoAmI" || path == "WhoAmI()" {
        return Ok(Reply::json(
            StatusCode::OK,
            &json!({
                "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", shared.web_api_url()),
                "BusinessUnitId": BUSINESS_UNIT_ID,
                "UserId": USER_ID,
                "OrganizationId": ORGANIZATION_ID,
            }),
        ));
    }
    if path.starts_with("EntityDefinitions") {
        let st = shared.store.read();
        return super::metadata::handle(&st, &shared.web_api_url(), path, &query_pairs(query));
    }
    let set = path.trim_end_matches('/');
    let pairs = query_pairs(query);
    if let Some((set, key)) = set.strip_suffix(')').and_then(|s| s.split_once('(')) {
        let st = shared.store.read();
        return super::odata::single(
            &st,
            &shared.web_api_url(),
            set,
            key,
            &pairs,
            Annotations::from_prefer(&prefer(headers)),
        );
    }
    let pref = prefer(headers);
    let ann = Annotations::from_prefer(&pref);
    let reply = {
        let st = shared.store.read();
        if st.schema.by_set(set).is_none() {
            return Err(ApiError::not_found_segment(set));
        }
        match pairs.iter().find(|(k, _)| k == "fetchXml") {
            Some((_, xml)) => {
                if shared.faults.refuses_primary_id_ranges() {
                    fetchxml::refuse_primary_id_ranges(&st, xml)?;
                }
                let mut page = fetchxml::execute(&st, Some(set), xml, ann)?;
                if let Some(def) = st.schema.by_set(set) {
                    shared
                        .faults
                        .spoil_primary_id(&mut page.rows, def.primary_id);
                }
                shared.faults.spoil_field(&mut page.rows);
                fetch_reply(shared, set, page, ann, &pref)
            }
            None => super::odata::query(&st, &shared.web_api_url(), set, &pairs, &pref, ann)?,
        }
    };
    let p = shared.pages.fetch_add(1, Ordering::SeqCst) + 1;
    if shared.faults.malformed(p) {
        let cut = reply.body.len() / 2;
        let mut broken: String = reply.body.chars().take(cut.max(12)).collect();
        broken.push_str("\u{0}{\"");
        return Ok(Reply {
            body: broken,
            ..reply
        });
    }
    if shared.faults.wrong_types(p) {
        return Ok(wrong_types(reply));
    }
    Ok(reply)
}

/// A page whose `value` holds each record's first string column (its id, as rendered)
/// instead of the record object: valid JSON, wrong types.
fn wrong_types(reply: Reply) -> Reply {
    let Ok(Value::Object(mut page)) = serde_json::from_str::<Value>(&reply.body) else {
        return reply;
    };
    if let Some(Value::Array(rows)) = page.get_mut("value") {
        for row in rows.iter_mut() {
            let text = row
                .as_object()
                .and_then(|r| r.values().find_map(Value::as_str))
                .unwrap_or("record")
                .to_owned();
            *row = Value::String(text);
        }
    }
    Reply {
        body: Value::Object(page).to_string(),
        ..reply
    }
}

fn fetch_reply(
    shared: &Shared,
    set: &str,
    page: fetchxml::Page,
    ann: Annotations,
    pref: &str,
) -> Reply {
    let mut out = Map::new();
    out.insert(
        "@odata.context".to_owned(),
        json!(format!("{}/$metadata#{set}", shared.web_api_url())),
    );
    if ann.paging {
        if let Some(cookie) = page.cookie {
            out.insert(format!("@{}", render::PAGING_COOKIE), json!(cookie));
        }
        if page.more {
            out.insert(format!("@{}", render::MORE_RECORDS), json!(true));
        }
    }
    out.insert(
        "value".to_owned(),
        Value::Array(page.rows.into_iter().map(Value::Object).collect()),
    );
    let mut reply = Reply::json(StatusCode::OK, &Value::Object(out));
    if let Some(applied) = applied_annotations(pref) {
        reply = reply.with_header("Preference-Applied", applied);
    }
    reply
}

/// The `odata.include-annotations` preference echoed in `Preference-Applied`.
pub fn applied_annotations(pref: &str) -> Option<String> {
    render::preferences(pref)
        .into_iter()
        .find(|p| p.starts_with("odata.include-annotations="))
}

//! Entra ID v2.0 authorize endpoint `/{tenant}/oauth2/v2.0/authorize`: consents at once
//! (no browser) and replies `302` to `redirect_uri?code=...&state=...`, or with `error=...`
//! when the parameters are wrong, so tests can follow it with any HTTP client.

use super::CLIENT_ID;
use super::entra::{CodeGrant, bad_request, opaque, tenant_known};
use super::server::Shared;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// `GET /{tenant}/oauth2/v2.0/authorize`: consents at once and redirects with a code.
pub async fn authorize(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let q: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let Some(redirect) = q.get("redirect_uri").and_then(|r| url::Url::parse(r).ok()) else {
        return bad_request(
            "invalid_request",
            50011,
            "The redirect URI is missing or is not a valid absolute URL.",
        );
    };
    let state = q.get("state").cloned();
    let fail = |error: &str, description: &str| {
        let mut to = redirect.clone();
        {
            let mut pairs = to.query_pairs_mut();
            pairs
                .append_pair("error", error)
                .append_pair("error_description", description);
            if let Some(s) = &state {
                pairs.append_pair("state", s);
            }
        }
        (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
    };
    if !tenant_known(&tenant) {
        return fail(
            "invalid_request",
            &format!("AADSTS90002: Tenant '{tenant}' not found."),
        );
    }
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return fail(
            "unauthorized_client",
            "AADSTS700016: Application was not found in the directory.",
        );
    }
    if q.get("response_type").map(String::as_str) != Some("code") {
        return fail(
            "unsupported_response_type",
            "AADSTS700054: response_type must be 'code'.",
        );
    }
    let scope = q.get("scope").cloned().unwrap_or_default();
    let resource_scope = scope.split_whitespace().find_map(|s| {
        s.strip_suffix("/user_impersonation")
            .or_else(|| s.strip_suffix("/.default"))
    });
    if !resource_scope.is_some_and(|r| shared.resource_ok(r)) {
        return fail(
            "invalid_scope",
            &format!(
                "AADSTS70011: The provided value for the input parameter 'scope' is not valid: '{scope}'. Ask for {}/user_impersonation.",
                shared.base_url
            ),
        );
    }
    let (Some(challenge), Some("S256")) = (
        q.get("code_challenge"),
        q.get("code_challenge_method").map(String::as_str),
    ) else {
        return fail(
            "invalid_request",
            "AADSTS50148: code_challenge with code_challenge_method=S256 is required (PKCE).",
        );
    };
    let code = opaque();
    let grant = CodeGrant {
        redirect_uri: redirect.to_string(),
        challenge: challenge.clone(),
        scope: scope.clone(),
        issued: Instant::now(),
        redeemed: false,
    };
    // Redeeming must present the redirect URI exactly as sent, so keep the raw value.
    let grant = CodeGrant {
        redirect_uri: q.get("redirect_uri").cloned().unwrap_or(grant.redirect_uri),
        ..grant
    };
    shared
        .auth
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .codes
        .insert(code.clone(), grant);
    let mut to = redirect;
    {
        let mut pairs = to.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(s) = &state {
            pairs.append_pair("state", s);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, to.to_string())]).into_response()
}

//! Entra ID v2.0 token endpoint `/{tenant}/oauth2/v2.0/token`: client credentials (one
//! `.../.default` scope of this org), authorization code with PKCE S256 (single use, same
//! redirect URI), and refresh tokens with rotation (old ones stay valid until revoked).

use super::entra::{
    AuthState, CODE_LIFETIME, RefreshGrant, bad_request, client_from, entra_error, opaque,
    tenant_known,
};
use super::server::Shared;
use super::{CLIENT_ID, CLIENT_SECRET, TENANT};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    if !tenant_known(&tenant) {
        return bad_request(
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID."
            ),
        );
    }
    let (client_id, secret) = client_from(&headers, &form);
    let Some(client_id) = client_id else {
        return bad_request(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    if client_id != CLIENT_ID {
        return bad_request(
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant."
            ),
        );
    }
    match secret.as_deref() {
        None => {
            return entra_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        }
        Some(s) if s != CLIENT_SECRET => {
            return entra_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{CLIENT_ID}'."
                ),
            );
        }
        Some(_) => {}
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => client_credentials(&shared, &form),
        Some("authorization_code") => authorization_code(&shared, &form),
        Some("refresh_token") => refresh(&shared, &form),
        Some(other) => bad_request(
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        ),
        None => bad_request(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        ),
    }
}

fn client_credentials(shared: &Shared, form: &HashMap<String, String>) -> Response {
    let scope = form.get("scope").map(String::as_str).unwrap_or_default();
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let [only] = scopes.as_slice() else {
        if scopes.is_empty() {
            return bad_request(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'scope'.",
            );
        }
        return bad_request(
            "invalid_scope",
            28000,
            &format!(
                "Provided value for the input parameter scope '{scope}' is not valid because it contains more than one resource."
            ),
        );
    };
    let Some(resource) = only.strip_suffix("/.default") else {
        return bad_request(
            "invalid_scope",
            1002012,
            &format!(
                "The provided value for scope {only} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        );
    };
    if !shared.resource_ok(resource) {
        return bad_request(
            "invalid_resource",
            500011,
            &format!(
                "The resource principal named {resource} was not found in the tenant named {TENANT}. This can happen if the application has not been installed by the administrator of the tenant."
            ),
        );
    }
    let mut auth = shared.auth.lock().unwrap_or_else(|e| e.into_inner());
    let (token, lifetime) = shared.issue_access(&mut auth, super::entra::APPLICATION_USER);
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    }))
    .into_response()
}

fn delegated_reply(shared: &Shared, auth: &mut AuthState, scope: &str) -> Response {
    let (token, lifetime) = shared.issue_access(auth, super::entra::SIGNED_IN_USER);
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scope,
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    });
    if scope.split_whitespace().any(|s| s == "offline_access") {
        let rt = opaque();
        auth.refresh.insert(
            rt.clone(),
            RefreshGrant {
                scope: scope.to_owned(),
                generation: shared.faults.revocation_generation(),
            },
        );
        body["refresh_token"] = json!(rt);
    }
    if scope.split_whitespace().any(|s| s == "openid") {
        body["id_token"] = json!(format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode(
            json!({"aud": CLIENT_ID, "tid": TENANT, "oid": super::web_api::USER_ID, "name": "Emulator User"}).to_string()
        )));
    }
    axum::Json(body).into_response()
}

fn authorization_code(shared: &Shared, form: &HashMap<String, String>) -> Response {
    let Some(code) = form.get("code") else {
        return bad_request(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'code'.",
        );
    };
    let mut auth = shared.auth.lock().unwrap_or_else(|e| e.into_inner());
    let Some(grant) = auth.codes.get_mut(code) else {
        return bad_request(
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid. The authorization code is not known.",
        );
    };
    if grant.redeemed {
        return bad_request(
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        );
    }
    if grant.issued.elapsed() > CODE_LIFETIME {
        return bad_request(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        );
    }
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return bad_request(
            "invalid_grant",
            70000,
            "The provided value for the 'redirect_uri' is not valid. The value must exactly match the redirect URI used to obtain the authorization code.",
        );
    }
    let Some(verifier) = form.get("code_verifier") else {
        return bad_request(
            "invalid_request",
            50148,
            "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
        );
    };
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if computed != grant.challenge {
        return bad_request(
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        );
    }
    grant.redeemed = true;
    let scope = grant.scope.clone();
    delegated_reply(shared, &mut auth, &scope)
}

fn refresh(shared: &Shared, form: &HashMap<String, String>) -> Response {
    let Some(rt) = form.get("refresh_token") else {
        return bad_request(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'refresh_token'.",
        );
    };
    let mut auth = shared.auth.lock().unwrap_or_else(|e| e.into_inner());
    let Some(grant) = auth.refresh.get(rt) else {
        return bad_request(
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid. The refresh token is not known.",
        );
    };
    if grant.generation < shared.faults.revocation_generation() {
        return bad_request(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity or was revoked. Send a new interactive authorization request for this user and resource.",
        );
    }
    let scope = match form.get("scope") {
        Some(s) if !s.trim().is_empty() => {
            let granted: Vec<&str> = grant.scope.split_whitespace().collect();
            if let Some(extra) = s.split_whitespace().find(|x| !granted.contains(x)) {
                return bad_request(
                    "invalid_grant",
                    65001,
                    &format!(
                        "The user or administrator has not consented to use the application with ID '{CLIENT_ID}' for scope '{extra}'."
                    ),
                );
            }
            let mut s = s.clone();
            if !s.split_whitespace().any(|x| x == "offline_access") {
                s.push_str(" offline_access");
            }
            s
        }
        _ => grant.scope.clone(),
    };
    delegated_reply(shared, &mut auth, &scope)
}

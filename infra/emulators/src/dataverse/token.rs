//! Entra ID v2.0 endpoints: `/{tenant}/oauth2/v2.0/token` (client credentials,
//! authorization code with PKCE S256, refresh token with rotation) and `/authorize`
//! (consents without a browser and redirects with a code). Errors use Entra's JSON shape.

use super::server::Shared;
use super::{CLIENT_ID, CLIENT_SECRET, TENANT};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Default access-token lifetime in seconds.
pub const DEFAULT_LIFETIME: u64 = 3599;
const CODE_LIFETIME: Duration = Duration::from_secs(600);

#[derive(Debug)]
struct CodeGrant {
    redirect_uri: String,
    challenge: String,
    scope: String,
    issued: Instant,
    redeemed: bool,
}

#[derive(Debug)]
struct RefreshGrant {
    scope: String,
    generation: u64,
}

/// Issued tokens and codes.
#[derive(Debug, Default)]
pub struct AuthState {
    access: HashMap<String, Instant>,
    codes: HashMap<String, CodeGrant>,
    refresh: HashMap<String, RefreshGrant>,
}

fn opaque() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// An Entra error reply.
fn entra_error(status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let trace = Uuid::new_v4();
    let correlation = Uuid::new_v4();
    let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {timestamp}"),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace.to_string(),
        "correlation_id": correlation.to_string(),
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

fn bad_request(error: &str, code: u32, text: &str) -> Response {
    entra_error(StatusCode::BAD_REQUEST, error, code, text)
}

fn tenant_known(tenant: &str) -> bool {
    tenant == TENANT || tenant == "organizations"
}

impl Shared {
    fn resource_ok(&self, resource: &str) -> bool {
        let r = resource.trim_end_matches('/');
        r == self.base_url || r == self.base_url.replace("127.0.0.1", "localhost")
    }

    fn issue_access(&self, auth: &mut AuthState) -> (String, u64) {
        let lifetime = self.faults.lifetime().unwrap_or(DEFAULT_LIFETIME);
        let token = opaque();
        auth.access.insert(
            token.clone(),
            Instant::now() + Duration::from_secs(lifetime),
        );
        (token, lifetime)
    }

    /// Checks `Authorization: Bearer <token>` on a Web API request.
    pub(crate) fn check_bearer(&self, headers: &HeaderMap) -> Result<(), super::errors::ApiError> {
        let raw = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let Some(token) = raw
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return Err(super::errors::ApiError::unauthorized(
                "The request requires a bearer token (Authorization: Bearer <access token>).",
            ));
        };
        let auth = self.auth.lock().unwrap_or_else(|e| e.into_inner());
        match auth.access.get(token) {
            None => Err(super::errors::ApiError::unauthorized(
                "The access token is not valid for this organization.",
            )),
            Some(exp) if Instant::now() >= *exp => Err(super::errors::ApiError::unauthorized(
                "The access token has expired. Request a new token.",
            )),
            Some(_) => Ok(()),
        }
    }
}

fn client_from(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            let (id, secret) = s.split_once(':')?;
            let dec = |x: &str| {
                percent_encoding::percent_decode_str(x)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((dec(id), dec(secret)))
        });
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (
            form.get("client_id").cloned(),
            form.get("client_secret").cloned(),
        ),
    }
}

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
    let (token, lifetime) = shared.issue_access(&mut auth);
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    }))
    .into_response()
}

fn delegated_reply(shared: &Shared, auth: &mut AuthState, scope: &str) -> Response {
    let (token, lifetime) = shared.issue_access(auth);
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

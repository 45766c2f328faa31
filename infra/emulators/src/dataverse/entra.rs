//! Entra ID state and shapes shared by the token and authorize endpoints: issued codes
//! and tokens, Entra's JSON error body, client authentication (form or HTTP Basic) and the
//! bearer check the Web API runs on every request.

use super::TENANT;
use super::server::Shared;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Default access-token lifetime in seconds.
pub const DEFAULT_LIFETIME: u64 = 3599;
/// How long an authorization code can be redeemed.
pub const CODE_LIFETIME: Duration = Duration::from_secs(600);

#[derive(Debug)]
pub struct CodeGrant {
    pub redirect_uri: String,
    pub challenge: String,
    pub scope: String,
    pub issued: Instant,
    pub redeemed: bool,
}

#[derive(Debug)]
pub struct RefreshGrant {
    pub scope: String,
    pub generation: u64,
}

/// Who a token acts for: service protection limits are per caller.
pub const APPLICATION_USER: &str = "application-user";
pub const SIGNED_IN_USER: &str = super::web_api::USER_ID;

/// An access token issued: when it expires and who it acts for (the application user of a
/// client-credentials grant, or the signed-in user of a delegated one).
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub expires: Instant,
    pub caller: &'static str,
}

/// Issued tokens and codes.
#[derive(Debug, Default)]
pub struct AuthState {
    pub access: HashMap<String, Access>,
    pub codes: HashMap<String, CodeGrant>,
    pub refresh: HashMap<String, RefreshGrant>,
}

pub fn opaque() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// An Entra error reply.
pub fn entra_error(status: StatusCode, error: &str, code: u32, text: &str) -> Response {
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

pub fn bad_request(error: &str, code: u32, text: &str) -> Response {
    entra_error(StatusCode::BAD_REQUEST, error, code, text)
}

pub fn tenant_known(tenant: &str) -> bool {
    tenant == TENANT || tenant == "organizations"
}

impl Shared {
    pub(crate) fn resource_ok(&self, resource: &str) -> bool {
        let r = resource.trim_end_matches('/');
        r == self.base_url || r == self.base_url.replace("127.0.0.1", "localhost")
    }

    pub(crate) fn issue_access(&self, auth: &mut AuthState, caller: &'static str) -> (String, u64) {
        let lifetime = self.faults.lifetime().unwrap_or(DEFAULT_LIFETIME);
        let token = opaque();
        let expires = Instant::now() + Duration::from_secs(lifetime);
        auth.access
            .insert(token.clone(), Access { expires, caller });
        (token, lifetime)
    }

    /// The caller of a Web API request whose bearer token is valid (`None` otherwise).
    pub(crate) fn caller(&self, headers: &HeaderMap) -> Option<&'static str> {
        let token = bearer(headers)?;
        let auth = self.auth.lock().unwrap_or_else(|e| e.into_inner());
        auth.access
            .get(token)
            .filter(|a| Instant::now() < a.expires)
            .map(|a| a.caller)
    }

    /// Checks `Authorization: Bearer <token>` on a Web API request.
    pub(crate) fn check_bearer(&self, headers: &HeaderMap) -> Result<(), super::errors::ApiError> {
        let Some(token) = bearer(headers) else {
            return Err(super::errors::ApiError::unauthorized(
                "The request requires a bearer token (Authorization: Bearer <access token>).",
            ));
        };
        let auth = self.auth.lock().unwrap_or_else(|e| e.into_inner());
        match auth.access.get(token) {
            None => Err(super::errors::ApiError::unauthorized(
                "The access token is not valid for this organization.",
            )),
            Some(a) if Instant::now() >= a.expires => Err(super::errors::ApiError::unauthorized(
                "The access token has expired. Request a new token.",
            )),
            Some(_) => Ok(()),
        }
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

pub fn client_from(
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

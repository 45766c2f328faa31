//! The emulator's HTTP side: `POST /api/user/v1/upsert` with Insider's header auth, size and
//! count limits, per-user validation in Insider's reply shape (HTTP 200 with `fail.errors`),
//! fault knobs applied first; and the inspection endpoints under `/_emulator/`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use super::faults::Rejections;
use super::validate::{Errors, validate_user};

/// Insider's request size limit (decimal bytes).
pub const MAX_BODY_BYTES: usize = 5_000_000;
/// Insider's users-per-request limit.
pub const MAX_USERS: usize = 1_000;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/user/v1/upsert", post(upsert))
        .route("/_emulator/profiles", get(profiles))
        .route("/_emulator/events", get(events))
        .route("/_emulator/requests", get(requests))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/faults", post(faults))
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

async fn upsert(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = shared.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let fault = shared.faults.next();
    if !fault.latency.is_zero() {
        tokio::time::sleep(fault.latency).await;
    }
    if let Some(retry_after) = fault.throttle {
        let mut response = reply(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": "rejected: too many requests"}),
        );
        if let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    if let Some(status) = fault.fail {
        return reply(
            status,
            json!({"success": false, "message": "The request processing has failed because of an unknown error."}),
        );
    }
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    if header_text("x-partner-name") != shared.config.partner {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"success": false, "message": "Partner is invalid."}),
        );
    }
    let token = shared
        .faults
        .rotated_token(request)
        .unwrap_or_else(|| shared.config.token.clone());
    if header_text("x-request-token") != token {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "message": "Partner token authentication failed."}),
        );
    }
    if body.len() > MAX_BODY_BYTES || shared.faults.too_large(body.len()) {
        return reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"success": false, "message": "request body is bigger than maximum allowed size 5,000,000 bytes"}),
        );
    }
    if shared.faults.garble() {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<html><body><h1>Service temporarily unavailable</h1></body></html>",
        )
            .into_response();
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(_) => {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid json: bad request"}),
            );
        }
    };
    let users = match parsed.get("users").and_then(Value::as_array) {
        Some(users) if !users.is_empty() => users,
        _ => {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": "users must be defined: bad request"}),
            );
        }
    };
    if users.len() > MAX_USERS {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "users can not be more than 1000: bad request"}),
        );
    }
    let skip_hook = parsed
        .get("skip_hook")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut errors = Errors::new();
    let mut valid = Vec::new();
    let rejections = shared.faults.rejections();
    for (i, user) in users.iter().enumerate() {
        if validate_user(i, user, &mut errors)
            && !rejected(rejections.as_ref(), i, user, &mut errors)
        {
            valid.push(user);
        }
    }
    let failed = users.len() - valid.len();
    if let Ok(mut state) = shared.state.lock() {
        state.skip_hooks.push(skip_hook);
        for user in &valid {
            if let Some(user) = user.as_object() {
                state.store.upsert(user, skip_hook);
            }
        }
    }
    let successful = if valid.is_empty() {
        json!({})
    } else {
        json!({"count": valid.len()})
    };
    let fail = if failed == 0 {
        json!({})
    } else {
        json!({"count": failed, "errors": errors})
    };
    reply(
        StatusCode::OK,
        json!({"data": {"successful": successful, "fail": fail}}),
    )
}

/// Whether the [`super::InsiderFaults::reject_emails`] knob rejects user `i` (its error is
/// added, keyed `users.<i>.identifiers.email.rejected` or, unindexed, `users`).
fn rejected(rejections: Option<&Rejections>, i: usize, user: &Value, errors: &mut Errors) -> bool {
    let Some(rejections) = rejections else {
        return false;
    };
    let email = user
        .pointer("/identifiers/email")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !rejections.emails.contains(email) {
        return false;
    }
    let key = if rejections.indexed {
        format!("users.{i}.identifiers.email.rejected")
    } else {
        "users".to_owned()
    };
    errors
        .entry(key)
        .or_default()
        .push("user is rejected by the emulator's fault knob".to_owned());
    true
}

async fn profiles(State(shared): State<Arc<Shared>>) -> Response {
    let profiles = shared
        .state
        .lock()
        .map(|s| s.store.profiles.clone())
        .unwrap_or_default();
    reply(StatusCode::OK, json!(profiles))
}

async fn events(State(shared): State<Arc<Shared>>) -> Response {
    let events = shared
        .state
        .lock()
        .map(|s| s.store.events.clone())
        .unwrap_or_default();
    reply(StatusCode::OK, json!(events))
}

async fn requests(State(shared): State<Arc<Shared>>) -> Response {
    let skip_hooks = shared
        .state
        .lock()
        .map(|s| s.skip_hooks.clone())
        .unwrap_or_default();
    reply(
        StatusCode::OK,
        json!({"requests": shared.requests.load(Ordering::SeqCst), "skip_hook": skip_hooks}),
    )
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}

/// `POST /_emulator/faults`: every field optional; an empty object clears all faults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    throttle_every: Option<u64>,
    retry_after_secs: Option<u64>,
    fail_every: Option<u64>,
    fail_status: Option<u16>,
    latency_ms: Option<u64>,
}

async fn faults(State(shared): State<Arc<Shared>>, Json(request): Json<FaultRequest>) -> Response {
    let faults = &shared.faults;
    faults.clear();
    if let Some(n) = request.throttle_every {
        faults.throttle_every(
            n,
            Duration::from_secs(request.retry_after_secs.unwrap_or(1)),
        );
    }
    if let Some(n) = request.fail_every {
        let status = request.fail_status.unwrap_or(500);
        if StatusCode::from_u16(status).is_err() {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": "fail_status is not an HTTP status"}),
            );
        }
        faults.fail_every(n, status);
    }
    if let Some(ms) = request.latency_ms {
        faults.set_latency(Duration::from_millis(ms));
    }
    StatusCode::NO_CONTENT.into_response()
}

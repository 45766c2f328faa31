//! Insider's Delete User Profile API (`POST /api/user/v1/delete`, API-FACTS.md 1.4; the
//! `deleteUserProfile` operation of Insider's published collection): one user per request,
//! named by an `identifiers` object (`email`, `phone_number`, `uuid` or `custom: {name:
//! value}`), the upsert's header auth, `200 {}` once the profile and its events are gone,
//! 10,000 requests a minute, bodies up to 5,000,000 bytes.
//!
//! An unknown user: Insider's collection documents only `200 {}`, 403 and 500 for this
//! endpoint; its sibling data-governance endpoints (`/api/user/v1/anonymize`) answer a user
//! they cannot find with `404 {"error":"no such user for these identifiers: no data"}`, and
//! the emulator answers the same here (a client should count such a user as deleted:
//! nothing of it is left).
//!
//! Knobs ([`DeleteFaults`]): 429 + `Retry-After` on every n-th request (the first after it
//! is set, then every n-th, as the upsert's knobs count), and the per-minute limit (10,000
//! by default; over it, 429 with the seconds left in the minute as `Retry-After`). Throttled
//! requests delete nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

use super::Shared;
use super::server::MAX_BODY_BYTES;

/// Insider's limit on delete requests.
pub const DELETES_PER_MINUTE: u64 = 10_000;

#[derive(Debug)]
struct Knobs {
    /// Every n-th request (the first after it is set, then every n-th) gets 429.
    throttle: Option<(u64, u64, Duration)>,
    per_minute: u64,
    /// The current minute's start and requests so far.
    window: Option<(Instant, u64)>,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            throttle: None,
            per_minute: DELETES_PER_MINUTE,
            window: None,
        }
    }
}

/// Fault knobs of the delete endpoint (cheap clone; setters take effect at once).
#[derive(Debug, Clone, Default)]
pub struct DeleteFaults {
    knobs: Arc<Mutex<Knobs>>,
}

impl DeleteFaults {
    fn update<T>(&self, change: impl FnOnce(&mut Knobs) -> T) -> T {
        let mut knobs = self.knobs.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut knobs)
    }

    /// The first delete request from now on, and every `n`-th after it, gets 429 with
    /// `Retry-After: retry_after` (whole seconds) and Insider's body; `n = 0` turns it off.
    pub fn throttle_every(&self, n: u64, retry_after: Duration) {
        self.update(|k| k.throttle = (n > 0).then_some((n, 0, retry_after)));
    }

    /// Lowers (or raises) the per-minute limit; the minute starts at its first request.
    pub fn limit_per_minute(&self, n: u64) {
        self.update(|k| {
            k.per_minute = n;
            k.window = None;
        });
    }

    /// The per-minute limit in force.
    pub fn per_minute(&self) -> u64 {
        self.update(|k| k.per_minute)
    }

    /// Back to Insider's behaviour: no throttling knob, 10,000 a minute.
    pub fn clear(&self) {
        self.update(|k| *k = Knobs::default());
    }

    /// The `Retry-After` of a request to throttle, if it is one.
    fn throttled(&self) -> Option<Duration> {
        self.update(|k| {
            if let Some((n, seen, wait)) = k.throttle {
                k.throttle = Some((n, seen + 1, wait));
                if seen.is_multiple_of(n) {
                    return Some(wait);
                }
            }
            let now = Instant::now();
            let (start, count) = match k.window {
                Some((start, count)) if now.duration_since(start) < Duration::from_secs(60) => {
                    (start, count)
                }
                _ => (now, 0),
            };
            if count >= k.per_minute {
                k.window = Some((start, count));
                let left = Duration::from_secs(60).saturating_sub(now.duration_since(start));
                return Some(Duration::from_secs(left.as_secs().clamp(1, 60)));
            }
            k.window = Some((start, count + 1));
            None
        })
    }
}

/// What the shared state holds for the delete endpoint.
#[derive(Debug, Default)]
pub(crate) struct Deletes {
    pub(crate) faults: DeleteFaults,
    pub(crate) requests: AtomicU64,
}

impl Deletes {
    pub(crate) fn reset(&self) {
        self.faults.clear();
        self.requests.store(0, Ordering::SeqCst);
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/user/v1/delete", post(delete))
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn bad_request(message: &str) -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        json!({"error": format!("{message}: bad request")}),
    )
}

async fn delete(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.deletes.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(wait) = shared.deletes.faults.throttled() {
        let mut response = reply(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": "rejected: too many requests"}),
        );
        if let Ok(value) = HeaderValue::from_str(&wait.as_secs().to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
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
    if header_text("x-request-token") != shared.config.token {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({"success": false, "message": "Partner token authentication failed."}),
        );
    }
    if body.len() > MAX_BODY_BYTES {
        return reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"success": false, "message": "request body is bigger than maximum allowed size 5,000,000 bytes"}),
        );
    }
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("invalid json");
    };
    if parsed.get("users").is_some() {
        return bad_request("only 1 user can be deleted per request; send identifiers, not users");
    }
    let identifiers = match parsed.get("identifiers").and_then(Value::as_object) {
        Some(ids) if !ids.is_empty() => ids,
        _ => return bad_request("identifiers must be defined"),
    };
    if !well_formed(identifiers) {
        return bad_request("identifiers must be strings (custom: an object of strings)");
    }
    let deleted = shared
        .state
        .lock()
        .map(|mut s| s.store.delete(identifiers))
        .unwrap_or(false);
    if deleted {
        reply(StatusCode::OK, json!({}))
    } else {
        reply(
            StatusCode::NOT_FOUND,
            json!({"error": "no such user for these identifiers: no data"}),
        )
    }
}

/// `email`, `phone_number` and `uuid` strings, `custom` an object of strings.
fn well_formed(identifiers: &Map<String, Value>) -> bool {
    identifiers
        .iter()
        .all(|(kind, value)| match (kind.as_str(), value) {
            ("custom", Value::Object(custom)) => {
                !custom.is_empty() && custom.values().all(Value::is_string)
            }
            ("email" | "phone_number" | "uuid", Value::String(_)) => true,
            _ => false,
        })
}

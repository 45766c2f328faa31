//! An emulator of the Lambda Runtime API (version 2018-06-01) that a function's `bootstrap`
//! talks to, so tests run the real Lambda binaries as processes: set
//! `AWS_LAMBDA_RUNTIME_API` to [`LambdaRuntimeEmulator::runtime_api`] and queue events with
//! [`LambdaRuntimeEmulator::invoke`].
//!
//! The documented endpoints, one invocation at a time as in a standard execution
//! environment:
//! - `GET /2018-06-01/runtime/invocation/next` long-polls until an event is queued, then
//!   answers 200 with the event as its body and the headers `Lambda-Runtime-Aws-Request-Id`,
//!   `Lambda-Runtime-Deadline-Ms` (Unix milliseconds), `Lambda-Runtime-Invoked-Function-Arn`
//!   and `Lambda-Runtime-Trace-Id`;
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `.../{id}/error` end that
//!   invocation (202 `{"status":"OK"}`); an id that is not in flight gets 400
//!   `InvalidRequestID`, a response over 6 MB gets 413 and fails the invocation as Lambda
//!   does;
//! - `POST /2018-06-01/runtime/init/error` records the initialisation failure
//!   ([`LambdaRuntimeEmulator::init_error`]); invocations waiting then, or queued later,
//!   end with it as their error, as Lambda answers invokes of a function that cannot start.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{Notify, oneshot};

/// Lambda's limit on a synchronous invocation's response payload.
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// The function ARN the emulator reports in `Lambda-Runtime-Invoked-Function-Arn`.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:dynsync-test";

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum InvocationResult {
    /// The function's response (`.../response`), parsed as JSON (`null` for an empty body,
    /// a JSON string for a body that is not JSON).
    Response(Value),
    /// The function's error (`.../error`) or the init error: `errorType`/`errorMessage`
    /// as posted, plus the `Lambda-Runtime-Function-Error-Type` header when given.
    Error(Value),
}

impl InvocationResult {
    pub fn response(&self) -> Option<&Value> {
        match self {
            Self::Response(value) => Some(value),
            Self::Error(_) => None,
        }
    }

    pub fn error(&self) -> Option<&Value> {
        match self {
            Self::Error(value) => Some(value),
            Self::Response(_) => None,
        }
    }
}

/// An invocation the function has not ended; await its result.
#[derive(Debug)]
pub struct Invocation {
    pub request_id: String,
    result: oneshot::Receiver<InvocationResult>,
}

impl Invocation {
    /// The invocation's result; `None` when the emulator stopped first.
    pub async fn result(self) -> Option<InvocationResult> {
        self.result.await.ok()
    }
}

#[derive(Debug)]
struct Queued {
    request_id: String,
    event: Value,
    deadline: SystemTime,
}

#[derive(Debug, Default)]
struct Inner {
    queued: VecDeque<Queued>,
    /// Invocations queued or in flight, by request id.
    waiting: HashMap<String, oneshot::Sender<InvocationResult>>,
    /// Request ids handed to the function by `/next` and not ended yet.
    in_flight: Vec<String>,
    init_error: Option<Value>,
    next_polls: u64,
}

#[derive(Debug, Default)]
struct Shared {
    inner: Mutex<Inner>,
    queued: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running emulator; it stops when dropped.
#[derive(Debug)]
pub struct LambdaRuntimeEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _shutdown: oneshot::Sender<()>,
}

impl LambdaRuntimeEmulator {
    /// Starts on `127.0.0.1` at a free port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = router(Arc::clone(&shared));
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                tracing::error!(error = %error, "lambda runtime emulator stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            _shutdown: shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// Queues `event` for the function with Lambda's `deadline` (when the invocation
    /// times out); the invocation to await. Invocations are handed out in order.
    pub fn invoke(&self, event: Value, deadline: SystemTime) -> Invocation {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (done, result) = oneshot::channel();
        let mut inner = self.shared.lock();
        if let Some(error) = inner.init_error.clone() {
            let _ = done.send(InvocationResult::Error(error));
        } else {
            inner.waiting.insert(request_id.clone(), done);
            inner.queued.push_back(Queued {
                request_id: request_id.clone(),
                event,
                deadline,
            });
        }
        drop(inner);
        self.shared.queued.notify_one();
        Invocation { request_id, result }
    }

    /// Queues `event` with a deadline `timeout` from now and waits for its result.
    pub async fn invoke_for(&self, event: Value, timeout: Duration) -> Option<InvocationResult> {
        self.invoke(event, SystemTime::now() + timeout)
            .result()
            .await
    }

    /// What the function posted to `/runtime/init/error`, if it did.
    pub fn init_error(&self) -> Option<Value> {
        self.shared.lock().init_error.clone()
    }

    /// `GET .../invocation/next` requests received (a function waiting for work has made
    /// one more than it was given).
    pub fn next_polls(&self) -> u64 {
        self.shared.lock().next_polls
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().next_polls += 1;
    let queued = loop {
        let notified = shared.queued.notified();
        if let Some(queued) = {
            let mut inner = shared.lock();
            let queued = inner.queued.pop_front();
            if let Some(q) = &queued {
                inner.in_flight.push(q.request_id.clone());
            }
            queued
        } {
            break queued;
        }
        notified.await;
    };
    let deadline_ms = queued
        .deadline
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let trace = format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
        &uuid::Uuid::new_v4().simple().to_string()[..24],
        &uuid::Uuid::new_v4().simple().to_string()[..16],
    );
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("lambda-runtime-aws-request-id", queued.request_id.clone()),
        ("lambda-runtime-deadline-ms", deadline_ms.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            FUNCTION_ARN.to_owned(),
        ),
        ("lambda-runtime-trace-id", trace),
        ("content-type", "application/json".to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    (StatusCode::OK, headers, queued.event.to_string()).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

fn refused(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorType": error_type, "errorMessage": message})),
    )
        .into_response()
}

/// Ends the in-flight invocation `id` with `result`; false when `id` is not in flight.
fn end(shared: &Shared, id: &str, result: InvocationResult) -> bool {
    let mut inner = shared.lock();
    let Some(at) = inner.in_flight.iter().position(|r| r == id) else {
        return false;
    };
    inner.in_flight.remove(at);
    if let Some(done) = inner.waiting.remove(id) {
        let _ = done.send(result);
    }
    true
}

fn parse(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if body.len() > MAX_RESPONSE_BYTES {
        let error = json!({
            "errorType": "Function.ResponseSizeTooLarge",
            "errorMessage": format!("Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).", body.len()),
        });
        end(&shared, &id, InvocationResult::Error(error));
        return refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            "the response is over Lambda's 6 MB limit",
        );
    }
    if end(&shared, &id, InvocationResult::Response(parse(&body))) {
        accepted()
    } else {
        refused(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        )
    }
}

/// The posted error document, with the error-type header when the function sent one.
fn error_document(headers: &HeaderMap, body: &[u8]) -> Value {
    let mut document = match parse(body) {
        Value::Object(map) => Value::Object(map),
        Value::Null => json!({}),
        other => json!({ "errorMessage": other }),
    };
    if let Some(kind) = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
    {
        document["functionErrorType"] = Value::String(kind.to_owned());
    }
    document
}

async fn error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let document = error_document(&headers, &body);
    if end(&shared, &id, InvocationResult::Error(document)) {
        accepted()
    } else {
        refused(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "Invalid request ID",
        )
    }
}

async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let document = error_document(&headers, &body);
    let mut inner = shared.lock();
    inner.init_error = Some(document.clone());
    inner.queued.clear();
    inner.in_flight.clear();
    for (_, done) in inner.waiting.drain() {
        let _ = done.send(InvocationResult::Error(document.clone()));
    }
    accepted()
}

#[cfg(test)]
mod tests;

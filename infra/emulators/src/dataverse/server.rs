//! The HTTP server: routes, the Web API gate (request counting, latency, fault injection,
//! URL length limit, bearer check) and an accept loop that can drop a connection without
//! replying (the `drop_every` fault), which `axum::serve` cannot.

use super::entra::AuthState;
use super::errors::ApiError;
use super::faults::{Action, Faults};
use super::store::DataStore;
use super::web_api::{self, Reply};
use super::{authorize, token};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{any, get, post};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

/// Longest GET request target Dataverse accepts (path + query).
pub const MAX_URL: usize = 32_768;

/// State shared by every request.
#[derive(Debug)]
pub struct Shared {
    pub store: DataStore,
    pub faults: Faults,
    pub auth: Mutex<AuthState>,
    pub base_url: String,
    pub requests: AtomicU64,
    pub pages: AtomicU64,
}

impl Shared {
    pub fn web_api_url(&self) -> String {
        format!("{}/api/data/v9.2", self.base_url)
    }
}

/// Lets a handler close its connection without a reply.
#[derive(Clone)]
struct ConnKill(Arc<Notify>);

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::token))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::authorize))
        .route("/api/data/v9.2/{*rest}", any(web_api_gate))
        .with_state(shared)
}

impl Reply {
    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.content_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        h.insert("OData-Version", HeaderValue::from_static("4.0"));
        for (name, value) in self.headers {
            if let (Ok(n), Ok(v)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                h.insert(n, v);
            }
        }
        resp
    }
}

/// Every Web API request: counted and held in flight until its reply, admitted by the
/// service protection limits (`protection.rs`) or refused at once, then served by
/// [`serve_web_api`]; every reply carries the dop hint when one is set.
async fn web_api_gate(
    State(shared): State<Arc<Shared>>,
    Extension(kill): Extension<ConnKill>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let k = shared.requests.fetch_add(1, Ordering::SeqCst) + 1;
    // The path names the entity set (and at most a row id); query strings may hold record
    // values, so they are never logged.
    tracing::debug!(request = k, method = %method, path = uri.path(), "web api request");
    let mut flight = shared.faults.arrive();
    let mut response = match flight.admit(shared.caller(&headers)) {
        Ok(()) => serve_web_api(&shared, &kill, k, method, uri, headers, body).await,
        Err(refusal) => {
            tracing::debug!(request = k, code = refusal.code, "service protection limit");
            let err = ApiError::new(StatusCode::TOO_MANY_REQUESTS, refusal.code, refusal.message);
            let mut r = Reply::error(&err);
            r.headers.push((
                "Retry-After".to_owned(),
                refusal.retry_after_secs.to_string(),
            ));
            r.into_response()
        }
    };
    drop(flight);
    if let Some(hint) = shared.faults.replying(response.status().as_u16()) {
        response
            .headers_mut()
            .insert("x-ms-dop-hint", HeaderValue::from(hint));
    }
    response
}

async fn serve_web_api(
    shared: &Shared,
    kill: &ConnKill,
    k: u64,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match shared.faults.action(k) {
        Action::Drop => {
            tracing::debug!(request = k, "dropping connection (fault)");
            kill.0.notify_one();
            return std::future::pending::<Response>().await;
        }
        Action::Throttle { retry_after_secs } => {
            let err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "0x80072322",
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            );
            let mut r = Reply::error(&err);
            r.headers
                .push(("Retry-After".to_owned(), retry_after_secs.to_string()));
            return r.into_response();
        }
        Action::Fail { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let err = ApiError::new(status, "0x80040216", "An unexpected error occurred.");
            return Reply::error(&err).into_response();
        }
        Action::Serve => {}
    }
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or_default();
    if method == Method::GET && target.len() > MAX_URL {
        let err = ApiError::new(
            StatusCode::URI_TOO_LONG,
            "0x8006088c",
            format!(
                "The request URL is {} characters long; the limit is {MAX_URL}. Send long FetchXML queries inside a $batch request.",
                target.len()
            ),
        );
        return Reply::error(&err).into_response();
    }
    if let Err(err) = shared.check_bearer(&headers) {
        let mut r = Reply::error(&err);
        r.headers.push((
            "WWW-Authenticate".to_owned(),
            format!(
                "Bearer authorization_uri={}/{}/oauth2/authorize, resource_id={}/",
                shared.base_url,
                super::TENANT,
                shared.base_url
            ),
        ));
        return r.into_response();
    }
    let path = uri
        .path()
        .strip_prefix("/api/data/v9.2/")
        .unwrap_or_default();
    web_api::dispatch(shared, &method, path, uri.query(), &headers, &body).into_response()
}

/// A running server.
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub shutdown: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds `addr` and serves until `shutdown` is set.
pub async fn serve(
    addr: std::net::SocketAddr,
    shared_for: impl FnOnce(String) -> Arc<Shared>,
) -> anyhow::Result<(Running, Arc<Shared>)> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let shared = shared_for(format!("http://{addr}"));
    let app = router(shared.clone());
    let (tx, mut rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let kill = Arc::new(Notify::new());
                    let svc = TowerToHyperService::new(app.clone().layer(Extension(ConnKill(kill.clone()))));
                    let mut stop = rx.clone();
                    tokio::spawn(async move {
                        let conn = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc);
                        tokio::select! {
                            _ = conn => {}
                            _ = kill.notified() => {}
                            _ = stop.changed() => {}
                        }
                    });
                }
                _ = rx.changed() => break,
            }
        }
    });
    Ok((
        Running {
            addr,
            shutdown: tx,
            task,
        },
        shared,
    ))
}

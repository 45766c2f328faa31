//! The authorised Web API client: base URL, headers, bearer token, timeouts and retries.
//! A 401 with a cached token refreshes the token once and retries the call. Every attempt
//! takes a slot in the client's parallelism gate (`parallelism.rs`), shared by all clones,
//! and tells it the reply's `x-ms-dop-hint` and whether it was throttled.

use std::sync::Arc;

use dynsync_domain::definition::DynamicsSettings;
use dynsync_domain::ports::SecretStore;
use reqwest::Method;
use serde_json::Value;

use crate::error::DynamicsError;
use crate::parallelism::{DEFAULT_CONCURRENCY, Gate, Outcome};
use crate::token::TokenProvider;
use crate::transport::{Failure, Reply, Transport, dataverse_error};

pub(crate) const SERVICE: &str = "Dataverse";

/// A Dataverse Web API client for one definition's `dynamics` settings. Cheap to clone;
/// clones share the token cache and the parallelism gate.
#[derive(Debug, Clone)]
pub struct DataverseClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    base: url::Url,
    transport: Transport,
    tokens: TokenProvider,
    gate: Gate,
}

/// One request to the Web API, relative to its base URL.
pub(crate) struct Call<'a> {
    pub method: Method,
    /// `WhoAmI`, `EntityDefinitions?$select=...`, `contacts?fetchXml=...`.
    pub path: &'a str,
    pub prefer: Option<&'a str>,
    pub body: Option<(String, Vec<u8>)>,
}

impl DataverseClient {
    /// A client for the definition's settings; secrets are read when a token is needed.
    /// Requests in flight start capped at [`DEFAULT_CONCURRENCY`].
    pub fn new(
        settings: &DynamicsSettings,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Self, DynamicsError> {
        Self::with_concurrency(settings, secrets, DEFAULT_CONCURRENCY as usize)
    }

    /// [`DataverseClient::new`] for a run of `concurrency` page workers: the parallelism
    /// gate's cap starts there (at least 1).
    pub fn with_concurrency(
        settings: &DynamicsSettings,
        secrets: Arc<dyn SecretStore>,
        concurrency: usize,
    ) -> Result<Self, DynamicsError> {
        let text = format!("{}/", settings.web_api_url.trim_end_matches('/'));
        let base = url::Url::parse(&text).map_err(|e| DynamicsError::Config {
            problem: format!(
                "web_api_url '{}' is not a URL ({e}); it looks like https://contoso.crm4.dynamics.com/api/data/v9.2",
                settings.web_api_url
            ),
        })?;
        let transport = Transport::new(settings.request_timeout_ms, settings.retries)?;
        let tokens = TokenProvider::new(settings.auth.clone(), secrets, transport.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                base,
                transport,
                tokens,
                gate: Gate::new(u32::try_from(concurrency).unwrap_or(u32::MAX)),
            }),
        })
    }

    pub fn tokens(&self) -> &TokenProvider {
        &self.inner.tokens
    }

    /// The parallelism gate's current cap on Web API requests in flight.
    pub fn parallelism_cap(&self) -> u32 {
        self.inner.gate.cap()
    }

    /// The absolute URL of a path relative to the Web API base.
    pub(crate) fn url(&self, path: &str) -> Result<url::Url, DynamicsError> {
        self.inner
            .base
            .join(path)
            .map_err(|e| DynamicsError::Config {
                problem: format!("cannot build a request URL ({e})"),
            })
    }

    /// GET and parse JSON (a malformed reply is retried like any transient failure, then
    /// reported).
    pub(crate) async fn get_json(&self, path: &str) -> Result<Value, DynamicsError> {
        let call = Call {
            method: Method::GET,
            path,
            prefer: None,
            body: None,
        };
        self.call_with(&call, |reply, attempt| {
            serde_json::from_slice::<Value>(&reply.body).map_err(|e| {
                Failure::from(DynamicsError::MalformedReply {
                    service: SERVICE,
                    detail: format!("invalid JSON at line {} column {}", e.line(), e.column()),
                    attempts: attempt,
                })
            })
        })
        .await
    }

    /// Sends a call, retrying transient failures, refreshing the token once on a 401, and
    /// hands a successful reply to `read` (whose transient failures are retried too).
    pub(crate) async fn call_with<T>(
        &self,
        call: &Call<'_>,
        read: impl Fn(&Reply, u32) -> Result<T, Failure>,
    ) -> Result<T, DynamicsError> {
        Ok(self.call_counted(call, read).await?.0)
    }

    /// [`DataverseClient::call_with`], with the throttled replies Dataverse gave on the way
    /// (each waited out and retried; token calls to Entra ID are not counted).
    pub(crate) async fn call_counted<T>(
        &self,
        call: &Call<'_>,
        read: impl Fn(&Reply, u32) -> Result<T, Failure>,
    ) -> Result<(T, u32), DynamicsError> {
        let url = self.url(call.path)?;
        let read = &read;
        let mut refreshed = false;
        loop {
            let token = self.inner.tokens.access_token().await?;
            let (token_ref, url_ref) = (&token, &url);
            let outcome = self
                .inner
                .transport
                .retry_counted("dataverse", |attempt| async move {
                    let mut request = self
                        .inner
                        .transport
                        .http
                        .request(call.method.clone(), url_ref.clone())
                        .bearer_auth(token_ref.expose())
                        .header("Accept", "application/json")
                        .header("OData-MaxVersion", "4.0")
                        .header("OData-Version", "4.0");
                    if let Some(prefer) = call.prefer {
                        request = request.header("Prefer", prefer);
                    }
                    if let Some((content_type, body)) = &call.body {
                        request = request
                            .header("Content-Type", content_type)
                            .body(body.clone());
                    }
                    let mut permit = self.inner.gate.acquire().await;
                    let mut hint = None;
                    let sent = self
                        .inner
                        .transport
                        .send_hinted(SERVICE, request, attempt, &mut hint)
                        .await;
                    permit.release();
                    let result = sent.and_then(|reply| {
                        if (200..300).contains(&reply.status) {
                            return read(&reply, attempt);
                        }
                        let (code, message) = dataverse_error(&reply.body);
                        Err(Failure::from(DynamicsError::from_dataverse_reply(
                            reply.status,
                            code,
                            message,
                        )))
                    });
                    let outcome = match &result {
                        Ok(_) => Outcome::Success,
                        Err(failure) if failure.throttled => Outcome::Throttled,
                        Err(_) => Outcome::Other,
                    };
                    permit.observe(hint, outcome);
                    result
                })
                .await;
            match outcome {
                Err(DynamicsError::Unauthorized { .. }) if !refreshed => {
                    tracing::info!("Dataverse refused the access token; refreshing it once");
                    self.inner.tokens.invalidate(&token).await;
                    refreshed = true;
                }
                other => return other,
            }
        }
    }
}

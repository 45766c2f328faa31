//! The [`InsiderClient`]: one upsert request per batch with Insider's headers
//! (`X-PARTNER-NAME`, `X-REQUEST-TOKEN`, `Content-Type: application/json`), retries with the
//! shared [`RetryPolicy`] on 429, 5xx, timeouts and connection errors (never sooner than
//! `Retry-After`, never longer than `MAX_WAIT`, never past the invocation's deadline:
//! `fits_before_deadline`), permanent errors for credentials and limits, and a credential
//! check.
//!
//! Timeout and retries: Insider's settings in the definition have neither, so
//! [`InsiderClient::for_integration`] uses the definition's `dynamics.retries` (the guide's
//! one "Request Retries" setting) and a fixed [`DEFAULT_TIMEOUT`] of 30 s: an upsert of at
//! most 5 MB is answered well within it, and the Dynamics timeout (up to 300 s) is sized for
//! large Dataverse pages, not for Insider.
//!
//! A rotated token: the client sends the token it was built with until Insider answers 401.
//! Built with [`InsiderClient::with_token_store`], it then re-reads the token secret once
//! through the secret store and, when the value changed, sends the same request again with
//! the new one (and keeps it for later requests); an unchanged secret fails as before. A warm
//! Lambda, which keeps its clients across invocations, so picks up a rotated key (once the
//! store's own cache, 5 minutes for Secrets Manager, serves the new value).
//!
//! Deleting users (`removals: delete_profile`): `delete.rs`, one request per user to the
//! Delete User Profile endpoint, whose URL is `insider.api_url` with its last path segment
//! (`upsert`) replaced by `delete` ([`InsiderClient::delete_url`]).
//!
//! Retrying is safe for profiles (upserts are idempotent by identifier) but a request that
//! timed out after Insider applied it will, when retried, append its events a second time:
//! the at-least-once trade-off the architecture accepts (ARCHITECTURE.md section 7).

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use dynsync_domain::batch::{MAX_BODY_BYTES, MAX_USERS_PER_BATCH, upsert_body};
use dynsync_domain::definition::InsiderSettings;
use dynsync_domain::ports::{
    BatchOutcome, DeleteOutcome, PortError, Secret, SecretStore, UserFailure, UserSink,
};
use dynsync_domain::retry::RetryPolicy;
use dynsync_domain::{InsiderUser, Integration};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{StatusCode, Url};

use crate::error::InsiderError;
use crate::reply::{batch_outcome, error_message};

mod send;

/// Per-request timeout used by [`InsiderClient::for_integration`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one Insider account's upsert endpoint.
#[derive(Debug, Clone)]
pub struct InsiderClient {
    http: reqwest::Client,
    url: Url,
    /// The Delete User Profile endpoint (see the module comment).
    pub(crate) delete_url: Url,
    policy: RetryPolicy,
    /// The `X-REQUEST-TOKEN` sent; replaced when a re-read after a 401 finds a new one.
    token: Arc<RwLock<HeaderValue>>,
    /// The secret holding the token (`insider.token.secret`).
    token_secret: String,
    /// Where the token is re-read after a 401 (none: a 401 fails at once).
    store: Option<TokenStore>,
}

/// The secret store, for re-reading the token.
#[derive(Clone)]
struct TokenStore(Arc<dyn SecretStore>);

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenStore")
    }
}

impl InsiderClient {
    /// A client for `settings` (URL and partner) with the token from the secret store.
    pub fn new(
        settings: &InsiderSettings,
        token: &Secret,
        timeout: Duration,
        retries: u32,
    ) -> Result<Self, InsiderError> {
        let url = Url::parse(&settings.api_url).map_err(|e| InsiderError::InvalidUrl {
            url: settings.api_url.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(InsiderError::InvalidUrl {
                url: settings.api_url.clone(),
                reason: "the scheme must be https (or http for a local emulator)".to_owned(),
            });
        }
        let delete_url = delete_url_of(&url);
        let mut headers = HeaderMap::new();
        let partner = HeaderValue::from_str(&settings.partner)
            .map_err(|_| InsiderError::InvalidPartnerHeader)?;
        let token = token_header(token)?;
        headers.insert("x-partner-name", partner);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(timeout)
            .build()
            .map_err(InsiderError::Client)?;
        Ok(Self {
            http,
            url,
            delete_url,
            policy: RetryPolicy::new(retries),
            token: Arc::new(RwLock::new(token)),
            token_secret: settings.token.secret.clone(),
            store: None,
        })
    }

    /// Re-reads the token secret from `secrets` after a 401 (see the module comment).
    pub fn with_token_store(mut self, secrets: Arc<dyn SecretStore>) -> Self {
        self.store = Some(TokenStore(secrets));
        self
    }

    /// A client for an integration: its `insider` section, [`DEFAULT_TIMEOUT`] and the
    /// definition's `dynamics.retries` (see the module comment).
    pub fn for_integration(
        integration: &Integration,
        token: &Secret,
    ) -> Result<Self, InsiderError> {
        let definition = integration.definition();
        Self::new(
            &definition.insider,
            token,
            DEFAULT_TIMEOUT,
            definition.dynamics.retries,
        )
    }

    /// The Delete User Profile endpoint: `insider.api_url` with its last path segment
    /// replaced by `delete` (`https://unification.useinsider.com/api/user/v1/delete`).
    pub fn delete_url(&self) -> &Url {
        &self.delete_url
    }

    /// Replaces the retry policy (tests use short backoffs).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sends one batch (at most 1,000 users, body under 5,000,000 bytes). Per-user failures
    /// come back in the outcome; an `Err` means the whole batch failed.
    pub async fn send_batch(
        &self,
        users: &[InsiderUser],
        skip_hook: bool,
    ) -> Result<BatchOutcome, InsiderError> {
        if users.is_empty() {
            return Ok(BatchOutcome::default());
        }
        if users.len() > MAX_USERS_PER_BATCH {
            return Err(InsiderError::TooManyUsers { count: users.len() });
        }
        let body = upsert_body(users, skip_hook);
        if body.len() >= MAX_BODY_BYTES {
            if users.len() == 1 {
                return Ok(BatchOutcome {
                    accepted: 0,
                    failures: vec![UserFailure {
                        index: 0,
                        reason: format!(
                            "user is {} bytes, over Insider's 5,000,000-byte request limit; \
                             shorten or unmap the largest fields",
                            body.len()
                        ),
                    }],
                });
            }
            return Err(InsiderError::TooLarge { bytes: body.len() });
        }
        let bytes = body.len();
        let (status, reply) = self.post_authorised(body).await?;
        if !status.is_success() {
            return Err(classify(status, &reply, bytes));
        }
        let outcome = batch_outcome(&reply, users.len())
            .map_err(|reason| InsiderError::BadReply { reason })?;
        let failed = outcome.failed_users(users.len()).len();
        tracing::debug!(
            users = users.len(),
            bytes,
            upserted = users.len().saturating_sub(failed),
            failed,
            "insider batch sent"
        );
        Ok(outcome)
    }

    /// Proves the partner/token pair without writing data: it sends
    /// `{"skip_hook":true,"users":[]}`, which cannot create or change anything. Insider
    /// checks the headers first, so a 401/400 "Partner is invalid" reply means bad
    /// credentials, while the body's own rejection (400 "users must be defined") or a 2xx
    /// means they were accepted.
    pub async fn check_credentials(&self) -> Result<(), InsiderError> {
        let (status, reply) = self.post_authorised(upsert_body(&[], true)).await?;
        if status.is_success() {
            return Ok(());
        }
        match classify(status, &reply, 0) {
            InsiderError::Rejected { status: 400, .. } => Ok(()),
            error => Err(error),
        }
    }

    /// [`Self::post`]s `body` to the upsert endpoint; after a 401, once more if re-reading
    /// the token secret gives a new token.
    async fn post_authorised(&self, body: Vec<u8>) -> Result<(StatusCode, Vec<u8>), InsiderError> {
        self.post_authorised_to(&self.url, body).await
    }

    /// [`Self::post_authorised`] to `url`.
    pub(crate) async fn post_authorised_to(
        &self,
        url: &Url,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Vec<u8>), InsiderError> {
        let token = self.current_token();
        let (status, reply) = self.post(url, body.clone(), &token).await?;
        if status != StatusCode::UNAUTHORIZED {
            return Ok((status, reply));
        }
        match self.renewed_token(&token).await? {
            Some(renewed) => {
                tracing::info!(
                    secret = %self.token_secret,
                    "Insider refused the token (401); sending again with the token re-read from the secret store"
                );
                self.post(url, body, &renewed).await
            }
            None => Ok((status, reply)),
        }
    }

    fn current_token(&self) -> HeaderValue {
        self.token
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The token to try after Insider refused `rejected`: one another request already
    /// renewed, or a new value of the token secret (kept for later requests); `None` when
    /// the secret still holds `rejected` or there is no secret store.
    async fn renewed_token(
        &self,
        rejected: &HeaderValue,
    ) -> Result<Option<HeaderValue>, InsiderError> {
        let Some(TokenStore(secrets)) = &self.store else {
            return Ok(None);
        };
        let current = self.current_token();
        if current != *rejected {
            return Ok(Some(current));
        }
        let stored = secrets
            .get_fresh(&self.token_secret)
            .await
            .map_err(|source| InsiderError::TokenSecret {
                name: self.token_secret.clone(),
                source,
            })?;
        let stored = token_header(&stored)?;
        if stored == *rejected {
            return Ok(None);
        }
        *self.token.write().unwrap_or_else(PoisonError::into_inner) = stored.clone();
        Ok(Some(stored))
    }
}

/// The `X-REQUEST-TOKEN` header of `token`, marked sensitive (never printed).
fn token_header(token: &Secret) -> Result<HeaderValue, InsiderError> {
    let mut header =
        HeaderValue::from_str(token.expose()).map_err(|_| InsiderError::InvalidToken)?;
    header.set_sensitive(true);
    Ok(header)
}
/// `.../api/user/v1/upsert` -> `.../api/user/v1/delete`: the last path segment replaced.
fn delete_url_of(upsert: &Url) -> Url {
    let mut url = upsert.clone();
    let path = upsert.path().trim_end_matches('/');
    let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent);
    url.set_path(&format!("{parent}/delete"));
    url.set_query(None);
    url
}

/// The permanent error of a non-2xx, non-transient reply.
pub(crate) fn classify(status: StatusCode, reply: &[u8], bytes: usize) -> InsiderError {
    let message = error_message(reply);
    match status {
        StatusCode::UNAUTHORIZED => InsiderError::Unauthorized,
        StatusCode::FORBIDDEN => InsiderError::Forbidden,
        StatusCode::BAD_REQUEST if message.to_ascii_lowercase().contains("partner is invalid") => {
            InsiderError::InvalidPartner
        }
        StatusCode::PAYLOAD_TOO_LARGE => InsiderError::PayloadTooLarge { bytes },
        _ if message.contains("bigger than maximum allowed size") => {
            InsiderError::PayloadTooLarge { bytes }
        }
        _ => InsiderError::Rejected {
            status: status.as_u16(),
            message,
        },
    }
}

#[async_trait::async_trait]
impl UserSink for InsiderClient {
    async fn upsert(
        &self,
        users: &[InsiderUser],
        skip_hook: bool,
    ) -> Result<BatchOutcome, PortError> {
        self.send_batch(users, skip_hook)
            .await
            .map_err(|error| PortError::from_error(error.kind(), error))
    }

    async fn delete_users(&self, users: &[InsiderUser]) -> Result<DeleteOutcome, PortError> {
        self.delete_all(users)
            .await
            .map_err(|error| PortError::from_error(error.kind(), error))
    }
}

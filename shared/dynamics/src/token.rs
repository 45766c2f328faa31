//! Access tokens from Entra ID for both auth methods. Client credentials ask with the
//! client secret; authorization code redeems the stored refresh token and writes a rotated
//! one back through the secret store (only when it changed). The token is cached until two
//! minutes before it expires (for half its life when it lives less than four minutes) and
//! shared by concurrent callers; one refresh runs at a time. The reply's `expires_in` is
//! bounded: a negative one means expired, one over a day means a day.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dynsync_domain::definition::{AuthMethod, DynamicsAuth};
use dynsync_domain::ports::{Secret, SecretStore};
use tokio::sync::Mutex;

use crate::error::{DynamicsError, TokenErrorBody};
use crate::transport::{Failure, Transport};

/// A token is renewed this long before it expires (half its lifetime for tokens that live
/// less than four minutes, so that they are still shared).
const EXPIRY_MARGIN: Duration = Duration::from_secs(120);

/// The longest lifetime believed from a reply (Entra's tokens live 60 to 90 minutes).
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// The lifetime assumed when the reply has no readable `expires_in`.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3599);

/// A bearer token and when it stops being used.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: Secret,
    pub renew_at: Instant,
}

/// Entra ID's token reply.
#[derive(serde::Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Gets, caches and renews access tokens for one definition's `dynamics.auth`.
pub struct TokenProvider {
    auth: DynamicsAuth,
    secrets: Arc<dyn SecretStore>,
    transport: Transport,
    cached: Mutex<Option<AccessToken>>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("token_url", &self.auth.token_url)
            .field("client_id", &self.auth.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    pub(crate) fn new(
        auth: DynamicsAuth,
        secrets: Arc<dyn SecretStore>,
        transport: Transport,
    ) -> Self {
        Self {
            auth,
            secrets,
            transport,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token: the cached one, or a new one (callers arriving during a
    /// refresh wait for it instead of starting their own).
    pub async fn access_token(&self) -> Result<Secret, DynamicsError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.token.clone());
        }
        let fresh = self.request_token().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets `rejected` (Dataverse answered 401 with it) so the next call gets a new
    /// token; a token already replaced by another caller is left alone.
    pub async fn invalidate(&self, rejected: &Secret) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|t| &t.token == rejected) {
            *cached = None;
        }
    }

    async fn request_token(&self) -> Result<AccessToken, DynamicsError> {
        let client_secret = self.secrets.get(&self.auth.client_secret.secret).await?;
        let scope = self.auth.scopes.join(" ");
        match self.auth.method {
            AuthMethod::ClientCredentials => {
                let form = vec![
                    ("grant_type", "client_credentials".to_owned()),
                    ("client_id", self.auth.client_id.clone()),
                    ("client_secret", client_secret.expose().to_owned()),
                    ("scope", scope),
                ];
                let (token, _) = self.post_token(form).await?;
                tracing::debug!(grant = "client_credentials", "access token obtained");
                Ok(token)
            }
            AuthMethod::AuthorizationCode => {
                let name = self.refresh_token_name()?;
                let stored = self.secrets.get(name).await.map_err(|e| match e {
                    dynsync_domain::ports::SecretError::NotFound { .. } => {
                        DynamicsError::MissingRefreshToken {
                            name: name.to_owned(),
                        }
                    }
                    other => DynamicsError::Secret(other),
                })?;
                let form = vec![
                    ("grant_type", "refresh_token".to_owned()),
                    ("client_id", self.auth.client_id.clone()),
                    ("client_secret", client_secret.expose().to_owned()),
                    ("refresh_token", stored.expose().to_owned()),
                    ("scope", scope),
                ];
                let (token, rotated) = self.post_token(form).await?;
                if let Some(rotated) = rotated.filter(|r| r != &stored) {
                    self.secrets.put(name, &rotated).await?;
                    tracing::info!(secret = name, "rotated refresh token stored");
                }
                Ok(token)
            }
        }
    }

    /// Redeems an authorization code (with its PKCE verifier) and stores the refresh token
    /// under the definition's `refresh_token` name. Used by `dynsync auth login`.
    pub async fn redeem_code(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<(), DynamicsError> {
        let name = self.refresh_token_name()?;
        let client_secret = self.secrets.get(&self.auth.client_secret.secret).await?;
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("client_id", self.auth.client_id.clone()),
            ("client_secret", client_secret.expose().to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
            ("code_verifier", verifier.to_owned()),
            ("scope", self.auth.scopes.join(" ")),
        ];
        let (token, refresh) = self.post_token(form).await?;
        let refresh = refresh.ok_or_else(|| DynamicsError::TokenRejected {
            error: "no_refresh_token".to_owned(),
            code: None,
            summary: "the reply had no refresh token: add offline_access to scopes".to_owned(),
        })?;
        self.secrets.put(name, &refresh).await?;
        *self.cached.lock().await = Some(token);
        Ok(())
    }

    fn refresh_token_name(&self) -> Result<&str, DynamicsError> {
        self.auth
            .refresh_token
            .as_ref()
            .map(|r| r.secret.as_str())
            .ok_or_else(|| DynamicsError::Config {
                problem: "dynamics.auth.refresh_token is required with method authorization_code: add refresh_token: { secret: NAME }".to_owned(),
            })
    }

    /// Posts a grant to the token endpoint; the access token and any refresh token.
    async fn post_token(
        &self,
        form: Vec<(&'static str, String)>,
    ) -> Result<(AccessToken, Option<Secret>), DynamicsError> {
        let form = &form;
        self.transport
            .retry("token", |attempt| async move {
                let request = self.transport.http.post(&self.auth.token_url).form(form);
                let reply = self.transport.send("Entra ID", request, attempt).await?;
                if !(200..300).contains(&reply.status) {
                    let body: TokenErrorBody =
                        serde_json::from_slice(&reply.body).unwrap_or_default();
                    if body.error == "temporarily_unavailable" || body.error == "server_error" {
                        return Err(Failure::from(DynamicsError::Server {
                            service: "Entra ID",
                            status: reply.status,
                            message: body.error,
                            attempts: attempt,
                        }));
                    }
                    if body.error.is_empty() {
                        return Err(Failure::from(DynamicsError::TokenRejected {
                            error: format!("HTTP {}", reply.status),
                            code: None,
                            summary:
                                "the token endpoint did not answer like Entra ID: check token_url"
                                    .to_owned(),
                        }));
                    }
                    return Err(Failure::from(DynamicsError::from_token_reply(
                        &self.auth.client_id,
                        &body,
                    )));
                }
                let parsed: TokenReply = serde_json::from_slice(&reply.body).map_err(|e| {
                    Failure::from(DynamicsError::MalformedReply {
                        service: "Entra ID",
                        detail: format!("token reply: {}", e.classify_name()),
                        attempts: attempt,
                    })
                })?;
                let now = Instant::now();
                let token = AccessToken {
                    token: Secret::new(parsed.access_token),
                    renew_at: now
                        .checked_add(reuse_for(parsed.expires_in.as_ref()))
                        .unwrap_or(now),
                };
                Ok((token, parsed.refresh_token.map(Secret::new)))
            })
            .await
    }
}

/// How long a token whose reply said `expires_in` (seconds, a number or a string) is used:
/// its lifetime less [`EXPIRY_MARGIN`], or half its lifetime when that is shorter. The
/// lifetime is bounded to `0..=MAX_LIFETIME`; [`DEFAULT_LIFETIME`] when unreadable.
fn reuse_for(expires_in: Option<&serde_json::Value>) -> Duration {
    let seconds = expires_in.and_then(|v| {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()))
    });
    let lifetime = match seconds {
        Some(s) if s.is_finite() => {
            Duration::try_from_secs_f64(s.clamp(0.0, MAX_LIFETIME.as_secs_f64()))
                .unwrap_or(DEFAULT_LIFETIME)
        }
        _ => DEFAULT_LIFETIME,
    };
    lifetime.saturating_sub(EXPIRY_MARGIN.min(lifetime / 2))
}

/// A serde_json error named by category only: its text could quote a token.
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "unexpected JSON shape",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_lived_tokens_are_reused_for_half_their_life_and_others_until_two_minutes_before() {
        let secs = |v: serde_json::Value| reuse_for(Some(&v)).as_secs();
        assert_eq!(secs(json!(60)), 30);
        assert_eq!(secs(json!(119)), 59);
        assert_eq!(secs(json!(200)), 100);
        assert_eq!(secs(json!(240)), 120);
        assert_eq!(secs(json!(3599)), 3479);
        assert_eq!(secs(json!("3599")), 3479);
        assert_eq!(secs(json!(0)), 0);
    }

    #[test]
    fn any_expires_in_is_bounded_and_never_panics() {
        let day_less_margin = MAX_LIFETIME.as_secs() - EXPIRY_MARGIN.as_secs();
        let secs = |v: serde_json::Value| reuse_for(Some(&v)).as_secs();
        assert_eq!(secs(json!(u64::MAX)), day_less_margin);
        assert_eq!(secs(json!(1e308)), day_less_margin);
        assert_eq!(secs(json!("18446744073709551615")), day_less_margin);
        assert_eq!(secs(json!("1e308")), day_less_margin);
        assert_eq!(secs(json!(-5)), 0);
        assert_eq!(secs(json!(-1e308)), 0);
        assert_eq!(secs(json!(i64::MIN)), 0);
        let default = DEFAULT_LIFETIME.as_secs() - EXPIRY_MARGIN.as_secs();
        assert_eq!(secs(json!("NaN")), default);
        assert_eq!(secs(json!("inf")), default);
        assert_eq!(secs(json!("soon")), default);
        assert_eq!(secs(json!({"not": "a number"})), default);
        assert_eq!(reuse_for(None).as_secs(), default);
        for v in [json!(u64::MAX), json!(1e308), json!(-1)] {
            assert!(Instant::now().checked_add(reuse_for(Some(&v))).is_some());
        }
    }
}

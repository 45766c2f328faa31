//! The pieces of `dynsync auth login` that are not I/O: a PKCE verifier and its S256
//! challenge, an unguessable `state`, and the authorize URL (API-FACTS.md 3.2). Redeeming
//! the code is [`crate::TokenProvider::redeem_code`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dynsync_domain::definition::DynamicsAuth;
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::error::DynamicsError;

const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

/// A PKCE pair (RFC 7636): the verifier stays here, the challenge goes in the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkce")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl Pkce {
    /// A fresh 64-character verifier and its S256 challenge.
    pub fn generate() -> Self {
        Self::from_verifier(random_string(64))
    }

    pub fn from_verifier(verifier: String) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// A random `state` value to match the redirect against.
pub fn random_state() -> String {
    random_string(32)
}

fn random_string(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| {
            let i = rng.random_range(0..UNRESERVED.len());
            char::from(UNRESERVED.get(i).copied().unwrap_or(b'A'))
        })
        .collect()
}

/// What goes into an authorize URL besides the definition's settings.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest<'a> {
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub pkce: &'a Pkce,
}

/// The authorize endpoint: `authorize_url`, else `token_url` with `/token` -> `/authorize`.
fn authorize_endpoint(auth: &DynamicsAuth) -> Result<url::Url, DynamicsError> {
    let text = match &auth.authorize_url {
        Some(url) => url.clone(),
        None => match auth.token_url.strip_suffix("/token") {
            Some(base) => format!("{base}/authorize"),
            None => {
                return Err(DynamicsError::Config {
                    problem: format!(
                        "cannot derive the authorize URL from token_url '{}': set dynamics.auth.authorize_url",
                        auth.token_url
                    ),
                });
            }
        },
    };
    url::Url::parse(&text).map_err(|e| DynamicsError::Config {
        problem: format!("authorize URL '{text}' is not a URL ({e})"),
    })
}

/// The URL a person opens to sign in and consent (authorization code with PKCE S256).
pub fn authorize_url(
    auth: &DynamicsAuth,
    request: &AuthorizeRequest<'_>,
) -> Result<String, DynamicsError> {
    let mut url = authorize_endpoint(auth)?;
    url.query_pairs_mut()
        .append_pair("client_id", &auth.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", request.redirect_uri)
        .append_pair("response_mode", "query")
        .append_pair("scope", &auth.scopes.join(" "))
        .append_pair("state", request.state)
        .append_pair("code_challenge", &request.pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(url.into())
}

/// Redeems the code the redirect carried; the refresh token lands in the secret store.
pub async fn exchange_code(
    tokens: &crate::TokenProvider,
    code: &str,
    redirect_uri: &str,
    pkce: &Pkce,
) -> Result<(), DynamicsError> {
    tokens.redeem_code(code, redirect_uri, &pkce.verifier).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use dynsync_domain::definition::{AuthMethod, SecretRef};

    #[test]
    fn the_challenge_is_the_rfc_7636_example() {
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned());
        assert_eq!(
            pkce.challenge,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(!format!("{pkce:?}").contains("dBjft"));
    }

    #[test]
    fn verifiers_and_states_are_random_and_unreserved() {
        let (a, b) = (Pkce::generate(), Pkce::generate());
        assert_ne!(a.verifier, b.verifier);
        assert_eq!(a.verifier.len(), 64);
        assert!(a.verifier.bytes().all(|c| UNRESERVED.contains(&c)));
        assert_ne!(random_state(), random_state());
    }

    #[test]
    fn the_authorize_url_is_derived_from_the_token_url_and_carries_pkce() {
        let auth = DynamicsAuth {
            method: AuthMethod::AuthorizationCode,
            token_url: "https://login.microsoftonline.com/t/oauth2/v2.0/token".to_owned(),
            authorize_url: None,
            scopes: vec![
                "https://o.crm.dynamics.com/user_impersonation".to_owned(),
                "offline_access".to_owned(),
            ],
            client_id: "app".to_owned(),
            client_secret: SecretRef {
                secret: "s".to_owned(),
            },
            refresh_token: None,
        };
        let pkce = Pkce::from_verifier("v".repeat(43));
        let url = authorize_url(
            &auth,
            &AuthorizeRequest {
                redirect_uri: "http://127.0.0.1:53682/callback",
                state: "st",
                pkce: &pkce,
            },
        )
        .unwrap();
        assert!(url.starts_with("https://login.microsoftonline.com/t/oauth2/v2.0/authorize?client_id=app&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A53682%2Fcallback"));
        assert!(
            url.contains("&state=st&code_challenge=")
                && url.ends_with("&code_challenge_method=S256")
        );
        assert!(url.contains(
            "scope=https%3A%2F%2Fo.crm.dynamics.com%2Fuser_impersonation+offline_access"
        ));
    }
}

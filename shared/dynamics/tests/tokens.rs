//! Token tests against the Dataverse + Entra emulator: both grants, refresh-token
//! rotation written back, one token shared by concurrent callers, a 401 refreshing once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::routing::post;
use common::*;
use dynsync_dynamics::{
    AuthorizeRequest, DynamicsError, Pkce, authorize_url, exchange_code, random_state,
};
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};

/// Follows the emulator's consent redirect by hand and returns (code, state).
async fn consent(url: &str) -> (String, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let reply = http.get(url).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), 302);
    let location = reply.headers()["location"].to_str().unwrap().to_owned();
    let location = url::Url::parse(&location).unwrap();
    let get = |k: &str| {
        location
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    (
        get("code").expect("a code in the redirect"),
        get("state").unwrap(),
    )
}

async fn login(
    emu: &DataverseEmulator,
    secrets: Arc<MemorySecrets>,
) -> dynsync_dynamics::DataverseClient {
    let settings = authorization_code(emu);
    let client = client(&settings, secrets);
    let (pkce, state) = (Pkce::generate(), random_state());
    let redirect = "http://127.0.0.1:53682/callback";
    let url = authorize_url(
        &settings.auth,
        &AuthorizeRequest {
            redirect_uri: redirect,
            state: &state,
            pkce: &pkce,
        },
    )
    .unwrap();
    let (code, returned_state) = consent(&url).await;
    assert_eq!(returned_state, state);
    exchange_code(client.tokens(), &code, redirect, &pkce)
        .await
        .unwrap();
    client
}

#[tokio::test]
async fn client_credentials_get_a_token_that_dataverse_accepts() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let who = client(&client_credentials(&emu), secrets())
        .who_am_i()
        .await
        .unwrap();
    assert!(!who.user_id.is_empty() && !who.organization_id.is_empty());
}

#[tokio::test]
async fn a_bad_client_secret_says_to_use_the_secrets_value() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let secrets = MemorySecrets::with(&[(SECRET_NAME, "8f1c2e5a-0000-4000-8000-000000000000")]);
    let error = client(&client_credentials(&emu), secrets)
        .who_am_i()
        .await
        .unwrap_err();
    assert!(
        matches!(error, DynamicsError::InvalidClientSecret),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("Value in the secret store, not its Secret ID")
    );
    assert!(!error.to_string().contains("8f1c2e5a"));
}

#[tokio::test]
async fn a_missing_client_secret_names_the_secret() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let error = client(&client_credentials(&emu), MemorySecrets::with(&[]))
        .who_am_i()
        .await
        .unwrap_err();
    assert!(error.to_string().contains(SECRET_NAME), "{error}");
}

#[tokio::test]
async fn login_stores_the_refresh_token_and_each_refresh_writes_the_rotated_one_back() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let secrets = secrets();
    let logged_in = login(&emu, secrets.clone()).await;
    let first = secrets
        .value(REFRESH_NAME)
        .expect("login stores a refresh token");
    assert_eq!(secrets.writes_of(REFRESH_NAME), 1);
    logged_in.who_am_i().await.unwrap();

    // A new client (a later run) has no cached token: it redeems the refresh token.
    let later = client(&authorization_code(&emu), secrets.clone());
    later.who_am_i().await.unwrap();
    let rotated = secrets.value(REFRESH_NAME).unwrap();
    assert_ne!(rotated, first);
    assert_eq!(secrets.writes_of(REFRESH_NAME), 2);
    // The cached access token serves further calls without another refresh.
    later.who_am_i().await.unwrap();
    assert_eq!(secrets.writes_of(REFRESH_NAME), 2);
}

#[tokio::test]
async fn a_revoked_refresh_token_says_to_sign_in_again() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let secrets = secrets();
    login(&emu, secrets.clone()).await;
    emu.faults().revoke_refresh_tokens();
    let error = client(&authorization_code(&emu), secrets)
        .who_am_i()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("dynsync auth login"), "{error}");
}

#[tokio::test]
async fn authorization_code_without_a_stored_refresh_token_says_to_run_login() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let error = client(&authorization_code(&emu), secrets())
        .who_am_i()
        .await
        .unwrap_err();
    assert!(
        matches!(error, DynamicsError::MissingRefreshToken { .. }),
        "{error}"
    );
}

/// A token endpoint in front of the emulator's that counts grants and, when `bogus_first`,
/// answers the first one with a token Dataverse will refuse.
async fn counting_token_endpoint(
    emu: &DataverseEmulator,
    bogus_first: bool,
) -> (String, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let upstream = emu.token_url();
    let counter = calls.clone();
    let app = Router::new().route(
        "/token",
        post(move |body: String| {
            let (upstream, counter) = (upstream.clone(), counter.clone());
            async move {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                if bogus_first && n == 0 {
                    return r#"{"token_type":"Bearer","expires_in":3599,"access_token":"not-a-real-token"}"#.to_owned();
                }
                reqwest::Client::new()
                    .post(upstream)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let (token_url, calls) = counting_token_endpoint(&emu, false).await;
    let mut settings = client_credentials(&emu);
    settings.auth.token_url = token_url;
    let client = client(&settings, secrets());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move { client.who_am_i().await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_401_mid_run_refreshes_the_token_once_and_retries() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let (token_url, calls) = counting_token_endpoint(&emu, true).await;
    let mut settings = client_credentials(&emu);
    settings.auth.token_url = token_url;
    let client = client(&settings, secrets());
    client.who_am_i().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(emu.requests(), 2);
}

#[tokio::test]
async fn a_token_dataverse_keeps_refusing_is_reported_with_the_application_user_hint() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    emu.faults().token_lifetime(0);
    let error = client(&client_credentials(&emu), secrets())
        .who_am_i()
        .await
        .unwrap_err();
    assert!(
        matches!(error, DynamicsError::Unauthorized { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("application user"));
    assert_eq!(emu.requests(), 2, "one retry after refreshing, no more");
}

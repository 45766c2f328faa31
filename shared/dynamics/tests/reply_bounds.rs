//! Numbers in replies are bounded: a token endpoint answering an absurd `expires_in`
//! (u64::MAX, 1e308, negative, a huge string) never panics, and a short-lived token (60 s)
//! is still cached for half its life instead of being fetched again for every request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::routing::post;
use common::*;
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};
use serde_json::Value;

/// A token endpoint in front of the emulator's that counts grants and replaces the reply's
/// `expires_in` with `expires_in` (when given).
async fn token_endpoint(
    emu: &DataverseEmulator,
    expires_in: Option<Value>,
) -> (String, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let upstream = emu.token_url();
    let counter = calls.clone();
    let app = Router::new().route(
        "/token",
        post(move |body: String| {
            let (upstream, counter, expires_in) =
                (upstream.clone(), counter.clone(), expires_in.clone());
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let reply = reqwest::Client::new()
                    .post(upstream)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                let mut reply: Value = serde_json::from_str(&reply).unwrap();
                if let Some(value) = expires_in {
                    reply["expires_in"] = value;
                }
                reply.to_string()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

#[tokio::test]
async fn an_absurd_expires_in_never_panics() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    for value in [
        serde_json::json!(u64::MAX),
        serde_json::json!(1e308),
        serde_json::json!(-5),
        serde_json::json!(-1e308),
        serde_json::json!(0.5),
        serde_json::json!("18446744073709551615"),
        serde_json::json!("1e308"),
        serde_json::json!("NaN"),
        serde_json::json!("inf"),
        serde_json::json!({"not": "a number"}),
    ] {
        let (token_url, calls) = token_endpoint(&emu, Some(value.clone())).await;
        let mut settings = client_credentials(&emu);
        settings.auth.token_url = token_url;
        let client = client(&settings, secrets());
        let task = tokio::spawn(async move { client.who_am_i().await });
        let result = task.await;
        assert!(
            result.as_ref().is_ok_and(Result::is_ok),
            "expires_in {value}: {result:?}"
        );
        assert!(calls.load(Ordering::SeqCst) >= 1);
    }
}

#[tokio::test]
async fn a_token_living_60_seconds_is_cached_for_half_its_life() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    emu.faults().token_lifetime(60);
    let (token_url, calls) = token_endpoint(&emu, None).await;
    let mut settings = client_credentials(&emu);
    settings.auth.token_url = token_url;
    let client = client(&settings, secrets());
    client.who_am_i().await.unwrap();
    client.who_am_i().await.unwrap();
    client.who_am_i().await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a 60 s token is reused within its first 30 s"
    );
}

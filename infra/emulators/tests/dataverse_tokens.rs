//! Entra token endpoint and Web API authentication: client credentials (form and Basic),
//! Entra-shaped errors, authorization code with PKCE, refresh-token rotation and
//! revocation, and 401s for missing, unknown and expired bearer tokens.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dataverse_common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use dataverse_common::*;
use dynsync_emulators::dataverse::{CLIENT_ID, CLIENT_SECRET, DataverseEmulator, Seed};
use serde_json::Value;
use sha2::{Digest, Sha256};

async fn post_token(emu: &DataverseEmulator, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(emu.token_url())
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-long-enough-verifier";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Runs the authorize step and returns the code from the redirect.
async fn authorize(emu: &DataverseEmulator, scope: &str, redirect: &str) -> String {
    let r = no_redirects()
        .get(emu.authorize_url())
        .query(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", redirect),
            ("scope", scope),
            ("state", "xyz"),
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert!(loc.as_str().starts_with(redirect));
    let q: std::collections::HashMap<_, _> = loc.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "xyz");
    q["code"].clone()
}

fn delegated_scope(emu: &DataverseEmulator) -> String {
    format!("{}/user_impersonation offline_access", emu.base_url())
}

#[tokio::test]
async fn client_credentials_issue_a_bearer_token_with_expiry() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let (s, body) = post_token(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", &emu.scope()),
        ],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body["access_token"].as_str().unwrap().len() >= 32);
    assert!(body.get("refresh_token").is_none());
    assert_eq!(emu.requests(), 0, "token calls are not Web API requests");
}

#[tokio::test]
async fn client_secret_may_come_by_http_basic() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let basic = STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let r = reqwest::Client::new()
        .post(emu.token_url())
        .header("Authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", &emu.scope()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn wrong_secret_is_invalid_client_in_entra_shape() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let (s, body) = post_token(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "nope"),
            ("scope", &emu.scope()),
        ],
    )
    .await;
    assert_eq!(s, 401);
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215: Invalid client secret provided.")
    );
    assert_eq!(body["error_codes"][0], 7000215);
    for field in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[field].is_string(), "{field}");
    }
}

#[tokio::test]
async fn unknown_client_id_is_aadsts700016() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let (s, body) = post_token(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "99999999-0000-0000-0000-000000000000"),
            ("client_secret", CLIENT_SECRET),
            ("scope", &emu.scope()),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(body["error_codes"][0], 700016);
}

#[tokio::test]
async fn client_credentials_need_exactly_one_default_scope_of_this_org() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let two = format!("{} https://other.crm.dynamics.com/.default", emu.scope());
    let cases = [
        (two.as_str(), "invalid_scope"),
        (
            &*format!("{}/user_impersonation", emu.base_url()),
            "invalid_scope",
        ),
        (
            "https://other.crm.dynamics.com/.default",
            "invalid_resource",
        ),
    ];
    for (scope, error) in cases {
        let (s, body) = post_token(
            &emu,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("scope", scope),
            ],
        )
        .await;
        assert_eq!(s, 400, "{scope}");
        assert_eq!(body["error"], error, "{scope}");
    }
}

#[tokio::test]
async fn authorization_code_with_pkce_yields_access_and_refresh_tokens_once() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let redirect = "http://127.0.0.1:53682/callback";
    let code = authorize(&emu, &delegated_scope(&emu), redirect).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", VERIFIER),
    ];
    let (s, body) = post_token(&emu, &form).await;
    assert_eq!(s, 200, "{body}");
    assert!(body["refresh_token"].is_string());
    let access = body["access_token"].as_str().unwrap();
    let (status, _) = get_json(&emu, access, "WhoAmI", None).await;
    assert_eq!(status, 200);
    let (s, again) = post_token(&emu, &form).await;
    assert_eq!(s, 400);
    assert_eq!(again["error"], "invalid_grant");
    assert_eq!(again["error_codes"][0], 54005);
}

#[tokio::test]
async fn a_wrong_code_verifier_or_redirect_uri_is_rejected() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let redirect = "http://127.0.0.1:53682/callback";
    let code = authorize(&emu, &delegated_scope(&emu), redirect).await;
    let base = |verifier: &'static str, redirect: &'static str| {
        vec![
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ]
    };
    let mut wrong_verifier = base("not-the-verifier-that-was-used-for-the-challenge", redirect);
    wrong_verifier.push(("code", &code));
    let (s, body) = post_token(&emu, &wrong_verifier).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
    let mut wrong_redirect = base(VERIFIER, "http://127.0.0.1:9/elsewhere");
    wrong_redirect.push(("code", &code));
    let (s, body) = post_token(&emu, &wrong_redirect).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn authorize_redirects_with_an_error_when_parameters_are_wrong() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let r = no_redirects()
        .get(emu.authorize_url())
        .query(&[
            ("response_type", "code"),
            ("client_id", CLIENT_ID),
            ("redirect_uri", "http://127.0.0.1:1/cb"),
            ("scope", &delegated_scope(&emu)),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.contains("error=invalid_request"), "{loc}");
    assert!(loc.contains("state=s1"));
    assert!(!loc.contains("code="));
}

#[tokio::test]
async fn refresh_rotates_tokens_and_old_ones_stay_valid_until_revoked() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let redirect = "http://localhost:8400/";
    let code = authorize(&emu, &delegated_scope(&emu), redirect).await;
    let (_, first) = post_token(
        &emu,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String| {
        let emu = &emu;
        async move {
            post_token(
                emu,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", CLIENT_ID),
                    ("client_secret", CLIENT_SECRET),
                    ("refresh_token", &rt),
                ],
            )
            .await
        }
    };
    let (s, second) = refresh(rt1.clone()).await;
    assert_eq!(s, 200);
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "every refresh returns a new refresh token");
    assert_eq!(
        refresh(rt1.clone()).await.0,
        200,
        "the old refresh token is not revoked by rotation"
    );
    emu.faults().revoke_refresh_tokens();
    let (s, body) = refresh(rt2).await;
    assert_eq!(s, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 70008);
    let (s, body) = refresh("never-issued".to_owned()).await;
    assert_eq!((s, body["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn web_api_rejects_missing_unknown_and_expired_tokens_with_401() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let r = reqwest::Client::new()
        .get(format!("{}/WhoAmI", emu.web_api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["code"].is_string());
    let (s, _) = get_json(&emu, "made-up-token", "WhoAmI", None).await;
    assert_eq!(s, 401);
    emu.faults().token_lifetime(0);
    let t = token(&emu).await;
    let (s, body) = get_json(&emu, &t, "WhoAmI", None).await;
    assert_eq!(s, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn token_lifetime_fault_sets_expires_in() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    emu.faults().token_lifetime(2);
    let (_, body) = post_token(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", &emu.scope()),
        ],
    )
    .await;
    assert_eq!(body["expires_in"], 2);
}

//! `dynsync auth login --no-browser` run as a user would: the test reads the printed URL,
//! lets the emulator's authorize endpoint consent, follows the redirect to the loopback
//! listener, and checks that the refresh token was stored and works.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;

use dynsync_emulators::dataverse::{CLIENT_ID, CLIENT_SECRET, DataverseEmulator, Seed};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, TOKEN};
use tokio::io::{AsyncBufReadExt, BufReader};

const SECRET_VAR: &str = "DYNSYNC_SECRET_DYNSYNC_TEST_DYNAMICS";
const REFRESH_NAME: &str = "dynsync/test/refresh";
/// For tests that never reach Insider.
const UNUSED_INSIDER: &str = "http://127.0.0.1:9/api/user/v1/upsert";

fn definition(emu: &DataverseEmulator, insider_url: &str, method: &str) -> String {
    let (scopes, refresh) = if method == "authorization_code" {
        (
            format!(
                "[\"{}/user_impersonation\", offline_access]",
                emu.base_url()
            ),
            format!("\n    refresh_token: {{ secret: {REFRESH_NAME} }}"),
        )
    } else {
        (format!("[\"{}\"]", emu.scope()), String::new())
    };
    format!(
        "id: cli-auth
method: entity
dynamics:
  web_api_url: {web}
  auth:
    method: {method}
    token_url: {token}
    scopes: {scopes}
    client_id: {CLIENT_ID}
    client_secret: {{ secret: dynsync/test/dynamics }}{refresh}
source:
  entity: contact
  fields: [contactid]
identifiers:
  - {{ type: uuid, field: contactid }}
insider:
  api_url: {insider_url}
  partner: acme
  token: {{ secret: dynsync/insider }}
",
        web = emu.web_api_url(),
        token = emu.token_url(),
    )
}

fn command(dir: &Path, yaml: &str, args: &[&str]) -> tokio::process::Command {
    let file = dir.join("integration.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dynsync"));
    command
        .args(&args[..args.len().min(2)])
        .arg(&file)
        .args(args.get(2..).unwrap_or_default())
        .arg("--state")
        .arg(dir.join("state"))
        .env(SECRET_VAR, CLIENT_SECRET)
        .env("DYNSYNC_SECRET_DYNSYNC_INSIDER", TOKEN);
    command
}

/// Starts `auth login --no-browser --port 0` and returns the child and the printed URL.
async fn start_login(dir: &Path, yaml: &str) -> (tokio::process::Child, String) {
    let mut child = command(dir, yaml, &["auth", "login", "--no-browser", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the sign-in URL is printed");
        if line.starts_with("http") {
            break line;
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn login_without_a_browser_stores_a_refresh_token_that_connect_then_uses() {
    let emu = DataverseEmulator::start(Seed::demo()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let insider = InsiderEmulator::start(InsiderConfig::default())
        .await
        .unwrap();
    let yaml = definition(&emu, &insider.upsert_url(), "authorization_code");
    let (mut child, url) = start_login(dir.path(), &yaml).await;
    assert!(url.contains("code_challenge_method=S256") && url.contains("state="));

    let consent = no_redirects().get(&url).send().await.unwrap();
    assert_eq!(consent.status().as_u16(), 302);
    let location = consent.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("http://127.0.0.1:") && location.contains("/callback?code="));
    let landing = reqwest::get(&location).await.unwrap();
    assert_eq!(landing.status().as_u16(), 200);
    assert!(landing.text().await.unwrap().contains("Signed in"));
    assert_eq!(child.wait().await.unwrap().code(), Some(0));

    let secrets: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state/secrets.json")).unwrap(),
    )
    .unwrap();
    let first = secrets[REFRESH_NAME]
        .as_str()
        .expect("refresh token stored")
        .to_owned();

    let connect = command(dir.path(), &yaml, &["connect"])
        .output()
        .await
        .unwrap();
    assert_eq!(
        connect.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&connect.stderr)
    );
    let secrets: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("state/secrets.json")).unwrap(),
    )
    .unwrap();
    assert_ne!(
        secrets[REFRESH_NAME].as_str().unwrap(),
        first,
        "the rotated token was written back"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_with_the_wrong_state_is_refused() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start_login(
        dir.path(),
        &definition(&emu, UNUSED_INSIDER, "authorization_code"),
    )
    .await;
    let redirect = url::Url::parse(&url).unwrap();
    let callback = redirect
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    let reply = reqwest::get(format!("{callback}?code=stolen&state=forged"))
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 400);
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(!dir.path().join("state/secrets.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn login_for_a_client_credentials_definition_is_invalid_input() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = command(
        dir.path(),
        &definition(&emu, UNUSED_INSIDER, "client_credentials"),
        &["auth", "login", "--no-browser"],
    )
    .output()
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("authorization_code"));
}

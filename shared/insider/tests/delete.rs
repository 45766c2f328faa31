//! Deleting users through the Insider client (`UserSink::delete_users`, issue 11) against the
//! Insider emulator over loopback: three users, one unknown, all counted deleted and their
//! profiles gone; a 429 honoured with its Retry-After; throttling that outlasts the retries
//! failing the call as transient; a refused token failing the whole call; users refused
//! alone (or without identifiers) failing by index; many users, one request each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use dynsync_domain::ports::UserSink;
use dynsync_domain::{ErrorKind, Identifiers, InsiderUser};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, TOKEN};
use dynsync_insider::InsiderClient;
use serde_json::json;
use support::{Canned, CannedServer, client_for};

async fn setup() -> (InsiderEmulator, InsiderClient) {
    let emu = InsiderEmulator::start(InsiderConfig::default())
        .await
        .unwrap();
    let client = client_for(&emu.upsert_url(), TOKEN);
    (emu, client)
}

fn by_uuid(uuid: &str) -> InsiderUser {
    InsiderUser {
        identifiers: Identifiers {
            uuid: Some(uuid.to_owned()),
            ..Identifiers::default()
        },
        ..InsiderUser::default()
    }
}

fn by_custom(name: &str, value: &str) -> InsiderUser {
    let mut user = InsiderUser::default();
    user.identifiers
        .custom
        .insert(name.to_owned(), value.to_owned());
    user
}

async fn seed(client: &InsiderClient, users: &[InsiderUser]) {
    let mut with_names = users.to_vec();
    for user in &mut with_names {
        user.attributes.set(&"name".into(), json!("Someone"));
    }
    let outcome = client.send_batch(&with_names, false).await.unwrap();
    assert_eq!(outcome.accepted, users.len() as u64);
}

#[tokio::test]
async fn the_delete_url_is_the_upsert_url_with_delete_as_its_last_segment() {
    let (emu, client) = setup().await;
    assert_eq!(client.delete_url().as_str(), emu.delete_url());
    let slash = client_for(&format!("{}/", emu.upsert_url()), TOKEN);
    assert_eq!(slash.delete_url().as_str(), emu.delete_url());
}

#[tokio::test]
async fn three_users_one_unknown_are_counted_deleted_and_their_profiles_are_gone() {
    let (emu, client) = setup().await;
    let known = [by_uuid("c-1"), by_custom("crm_id", "c-2")];
    seed(&client, &known).await;
    seed(&client, &[by_uuid("stays")]).await;
    assert_eq!(emu.profiles().len(), 3);
    let users = [known[0].clone(), known[1].clone(), by_uuid("never-synced")];
    let sink: &dyn UserSink = &client;
    let outcome = sink.delete_users(&users).await.unwrap();
    assert_eq!(outcome.deleted, 3);
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert!(emu.profile_by_identifier("uuid", "c-1").is_none());
    assert!(emu.profile_by_identifier("custom.crm_id", "c-2").is_none());
    assert!(emu.profile_by_identifier("uuid", "stays").is_some());
    assert_eq!(emu.delete_requests(), 3, "one request per user");
}

#[tokio::test]
async fn a_429_on_delete_is_retried_after_its_retry_after() {
    let (emu, client) = setup().await;
    seed(&client, &[by_uuid("c-1")]).await;
    emu.delete_faults()
        .throttle_every(2, Duration::from_secs(1));
    let started = Instant::now();
    let outcome = client.delete_users(&[by_uuid("c-1")]).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}, less than Retry-After",
        started.elapsed()
    );
    assert_eq!(outcome.deleted, 1);
    assert_eq!(emu.delete_requests(), 2, "429, then the delete");
    assert!(emu.profiles().is_empty());
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_fails_the_call_as_transient() {
    let (emu, client) = setup().await;
    seed(&client, &[by_uuid("c-1")]).await;
    emu.delete_faults()
        .throttle_every(1, Duration::from_secs(0));
    let error = client.delete_users(&[by_uuid("c-1")]).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transient, "{error}");
    assert!(error.to_string().contains("429"), "{error}");
    assert_eq!(emu.delete_requests(), 4, "the first attempt and 3 retries");
    emu.delete_faults().clear();
    let outcome = client.delete_users(&[by_uuid("c-1")]).await.unwrap();
    assert_eq!(outcome.deleted, 1, "a later call deletes it");
}

#[tokio::test]
async fn a_refused_token_fails_the_whole_call_and_starts_no_more_requests() {
    let (emu, client) = setup().await;
    seed(&client, &[by_uuid("c-1")]).await;
    let wrong = client_for(&emu.upsert_url(), "wrong-token");
    let users: Vec<InsiderUser> = (0..100).map(|i| by_uuid(&format!("u{i}"))).collect();
    let error = wrong.delete_users(&users).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Permanent);
    assert!(error.to_string().contains("token"), "{error}");
    assert!(!error.to_string().contains("wrong-token"), "{error}");
    assert!(
        emu.delete_requests() <= dynsync_insider::DELETE_CONCURRENCY as u64,
        "{} requests",
        emu.delete_requests()
    );
    assert!(emu.profile_by_identifier("uuid", "c-1").is_some());
}

#[tokio::test]
async fn users_refused_alone_or_without_identifiers_fail_by_index() {
    let server = CannedServer::start(vec![Canned::json(
        400,
        r#"{"error":"identifiers must be defined: bad request"}"#,
    )])
    .await;
    let client = client_for(&server.url, TOKEN);
    let users = [by_uuid("a"), InsiderUser::default(), by_uuid("b")];
    let outcome = client.delete_users(&users).await.unwrap();
    assert_eq!(outcome.deleted, 0);
    let indexes: Vec<usize> = outcome.failures.iter().map(|f| f.index).collect();
    assert_eq!(indexes, vec![0, 1, 2]);
    assert!(
        outcome.failures[0]
            .reason
            .contains("identifiers must be defined")
    );
    assert!(outcome.failures[1].reason.contains("no identifier"));
    assert_eq!(
        server.requests(),
        2,
        "the user without identifiers is not sent"
    );
}

#[tokio::test]
async fn many_users_are_deleted_one_request_each() {
    let (emu, client) = setup().await;
    let users: Vec<InsiderUser> = (0..120).map(|i| by_uuid(&format!("u{i}"))).collect();
    seed(&client, &users).await;
    let outcome = client.delete_users(&users).await.unwrap();
    assert_eq!(outcome.deleted, 120);
    assert!(emu.profiles().is_empty());
    assert_eq!(emu.delete_requests(), 120);
    assert!(client.delete_users(&[]).await.unwrap() == Default::default());
}

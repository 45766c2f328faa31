//! The Insider client against the Insider emulator over loopback: a page's users cut by
//! `dynsync_domain::batch::split` (by count and by bytes, as the engine cuts them) and each
//! batch sent by `send_batch`, per-user failures attributed to the right users, limits the
//! client itself refuses, 429 then success honouring Retry-After, 5xx retries, 401 and
//! invalid partner as permanent errors with clear messages, the credential check and the
//! `UserSink` port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use dynsync_domain::batch;
use dynsync_domain::ports::{Secret, UserSink};
use dynsync_domain::{ErrorKind, InsiderUser};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, PARTNER, TOKEN};
use dynsync_insider::{InsiderClient, InsiderError};
use serde_json::json;
use support::{client_with, fast_retries, settings, users};

async fn setup() -> (InsiderEmulator, InsiderClient) {
    let emu = InsiderEmulator::start(InsiderConfig::default())
        .await
        .unwrap();
    let client = client_with(&emu.upsert_url(), PARTNER, TOKEN);
    (emu, client)
}

/// What became of a page's users sent as the engine sends them.
#[derive(Debug, Default)]
struct Sent {
    batches: usize,
    accepted: usize,
    /// Failed users by index in the page, with their reasons.
    failed: Vec<(usize, String)>,
}

/// Cuts `users` with the split the engine uses and sends each batch with `send_batch`,
/// counting every user Insider did not confirm failed (`BatchOutcome::failed_users`).
async fn send_split(client: &InsiderClient, users: &[InsiderUser], skip_hook: bool) -> Sent {
    let mut sent = Sent::default();
    for range in batch::split(users, skip_hook) {
        let slice = &users[range.clone()];
        let outcome = client.send_batch(slice, skip_hook).await.unwrap();
        let failed = outcome.failed_users(slice.len());
        sent.batches += 1;
        sent.accepted += slice.len() - failed.len();
        sent.failed.extend(
            failed
                .into_iter()
                .map(|(index, reason)| (range.start + index, reason)),
        );
    }
    sent
}

#[tokio::test]
async fn a_page_is_split_by_user_count_into_requests_of_at_most_1000() {
    let (emu, client) = setup().await;
    let sent = send_split(&client, &users(2_345), false).await;
    assert_eq!((sent.batches, sent.accepted), (3, 2_345));
    assert!(sent.failed.is_empty());
    assert_eq!(emu.requests(), 3);
    assert_eq!(emu.profiles().len(), 2_345);
}

#[tokio::test]
async fn a_page_is_split_by_bytes_and_a_user_too_large_for_any_request_fails_unsent() {
    let (emu, client) = setup().await;
    let mut all = users(7);
    for user in &mut all {
        user.attributes
            .set(&"surname".into(), json!("x".repeat(1_300_000)));
    }
    all[5]
        .attributes
        .set(&"surname".into(), json!("y".repeat(5_000_000)));
    let sent = send_split(&client, &all, true).await;
    assert_eq!(sent.accepted, 6);
    assert_eq!(sent.failed.len(), 1);
    assert_eq!(sent.failed[0].0, 5);
    assert!(
        sent.failed[0].1.contains("5,000,000-byte"),
        "{}",
        sent.failed[0].1
    );
    // 3 + 2 under 5 MB each, then the oversized user alone (never sent), then the last one.
    assert_eq!(sent.batches, 4);
    assert_eq!(emu.requests(), 3);
    assert_eq!(emu.skip_hooks(), vec![true, true, true]);
}

#[tokio::test]
async fn the_client_refuses_a_batch_over_the_limits_without_a_request() {
    let (emu, client) = setup().await;
    let error = client.send_batch(&users(1_001), false).await.unwrap_err();
    assert!(
        matches!(error, InsiderError::TooManyUsers { count: 1_001 }),
        "{error}"
    );
    assert_eq!(error.kind(), ErrorKind::Permanent);
    let mut big = users(2);
    for user in &mut big {
        user.attributes
            .set(&"surname".into(), json!("x".repeat(2_600_000)));
    }
    let error = client.send_batch(&big, false).await.unwrap_err();
    assert!(matches!(error, InsiderError::TooLarge { .. }), "{error}");
    assert_eq!(emu.requests(), 0);
}

#[tokio::test]
async fn per_user_failures_are_attributed_to_the_right_users() {
    let (emu, client) = setup().await;
    let mut batch = users(1_500);
    batch[3].identifiers.email = Some("not-an-email".into());
    batch[1_200].identifiers.phone_number = Some("12345".into());
    let sent = send_split(&client, &batch, false).await;
    assert_eq!(sent.accepted, 1_498);
    let failed: Vec<usize> = sent.failed.iter().map(|f| f.0).collect();
    assert_eq!(failed, vec![3, 1_200]);
    assert!(sent.failed[0].1.contains("not a valid email address"));
    assert!(
        !sent.failed[0].1.contains("not-an-email"),
        "values stay out of reasons"
    );
    assert!(sent.failed[1].1.contains("invalid phone number"));
    assert!(emu.profile_by_email("user3@example.com").is_none());
    assert!(emu.profile_by_email("user4@example.com").is_some());
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after_and_then_succeeds() {
    let (emu, client) = setup().await;
    emu.faults().throttle_every(2, Duration::from_secs(1));
    let started = Instant::now();
    let outcome = client.send_batch(&users(2), false).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(outcome.accepted, 2);
    assert_eq!(emu.requests(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_and_reported_transient_when_they_persist() {
    let (emu, client) = setup().await;
    emu.faults().fail_every(2, 503);
    assert_eq!(
        client.send_batch(&users(1), false).await.unwrap().accepted,
        1
    );
    emu.faults().fail_every(1, 500);
    let error = client.send_batch(&users(1), false).await.unwrap_err();
    assert!(
        matches!(
            error,
            InsiderError::Server {
                status: 500,
                attempts: 4,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert_eq!(emu.requests(), 2 + 4);
}

#[tokio::test]
async fn a_wrong_token_is_a_permanent_error_that_says_what_to_fix() {
    let (emu, _) = setup().await;
    let client = client_with(&emu.upsert_url(), PARTNER, "wrong-token");
    let error = client.send_batch(&users(1), false).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert_eq!(
        error.to_string(),
        "Partner token authentication failed: check insider.partner and the token secret"
    );
    assert!(!error.to_string().contains("wrong-token"));
    assert_eq!(emu.requests(), 1, "permanent errors are not retried");

    let port_error = UserSink::upsert(&client, &users(1), false)
        .await
        .unwrap_err();
    assert_eq!(port_error.kind(), ErrorKind::Permanent);
    assert!(error.is_credential_error());
}

#[tokio::test]
async fn the_credential_check_tells_good_credentials_from_bad_without_writing() {
    let (emu, client) = setup().await;
    client.check_credentials().await.unwrap();
    let error = client_with(&emu.upsert_url(), "acme-typo", TOKEN)
        .check_credentials()
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("Partner is invalid: check insider.partner"),
        "{error}"
    );
    let error = client_with(&emu.upsert_url(), PARTNER, "nope")
        .check_credentials()
        .await
        .unwrap_err();
    assert!(matches!(error, InsiderError::Unauthorized));
    assert!(emu.profiles().is_empty() && emu.events().is_empty());
}

#[tokio::test]
async fn the_client_is_a_user_sink() {
    let (emu, client) = setup().await;
    let sink: &dyn UserSink = &client;
    let outcome = sink.upsert(&users(3), true).await.unwrap();
    assert_eq!(outcome.accepted, 3);
    assert!(outcome.failures.is_empty());
    assert_eq!(emu.skip_hooks(), vec![true]);
}

#[tokio::test]
async fn an_unreachable_insider_is_a_transient_error_after_retries() {
    let emu = InsiderEmulator::start(InsiderConfig::default())
        .await
        .unwrap();
    let settings = settings(&emu.upsert_url(), PARTNER);
    drop(emu);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let client = InsiderClient::new(&settings, &Secret::new(TOKEN), Duration::from_secs(2), 1)
        .unwrap()
        .with_retry_policy(fast_retries(1));
    let error = client.send_batch(&users(1), false).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
    assert!(
        matches!(error, InsiderError::Transport { attempts: 2, .. }),
        "{error}"
    );
}

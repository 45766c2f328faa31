//! Waits before a retry are bounded: an absurd `Retry-After` (1e308) never panics, and a
//! `Retry-After` longer than the invocation has left (a day, with the process deadline 30 s
//! ahead) ends the batch at once with a transient error that says the wait would outlive the
//! invocation, so the page is handed back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use dynsync_domain::definition::InsiderSettings;
use dynsync_domain::ports::Secret;
use dynsync_domain::retry::{RetryPolicy, set_deadline};
use dynsync_domain::{ErrorKind, Identifiers, InsiderUser};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, PARTNER, TOKEN};
use dynsync_insider::InsiderClient;
use serde_json::json;
use support::{Canned, CannedServer};

fn client(url: &str) -> InsiderClient {
    let settings: InsiderSettings = serde_json::from_value(json!({
        "api_url": url,
        "partner": PARTNER,
        "token": {"secret": "dynsync/insider"},
    }))
    .unwrap();
    InsiderClient::new(&settings, &Secret::new(TOKEN), Duration::from_secs(10), 3)
        .unwrap()
        .with_retry_policy(RetryPolicy {
            retries: 3,
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
        })
}

fn users(n: usize) -> Vec<InsiderUser> {
    (0..n)
        .map(|i| {
            let mut user = InsiderUser {
                identifiers: Identifiers {
                    email: Some(format!("user{i}@example.com")),
                    ..Identifiers::default()
                },
                ..InsiderUser::default()
            };
            user.attributes.insert("name".into(), json!("Someone"));
            user
        })
        .collect()
}

/// Sends with the process deadline 30 s ahead; the result, or `None` after 15 s.
async fn send_with_deadline(
    client: &InsiderClient,
) -> Option<Result<dynsync_domain::ports::BatchOutcome, dynsync_insider::InsiderError>> {
    set_deadline(Some(Instant::now() + Duration::from_secs(30)));
    let result = tokio::time::timeout(Duration::from_secs(15), client.send_batch(&users(2), false))
        .await
        .ok();
    set_deadline(None);
    result
}

#[tokio::test]
async fn a_retry_after_of_a_day_is_not_slept_when_the_invocation_ends_sooner() {
    let emu = InsiderEmulator::start(InsiderConfig::default())
        .await
        .unwrap();
    emu.faults().throttle_every(1, Duration::from_secs(86_400));
    let client = client(&emu.upsert_url());
    let started = Instant::now();
    let error = send_with_deadline(&client)
        .await
        .expect("the batch must not wait out a day-long Retry-After")
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
    let message = error.to_string();
    assert!(
        message.contains("would outlive the invocation"),
        "{message}"
    );
    assert!(message.contains("429"), "{message}");
    assert_eq!(emu.requests(), 1, "the throttled request is not retried");
}

#[tokio::test]
async fn an_absurd_retry_after_neither_panics_nor_outlives_the_invocation() {
    for value in ["1e308", "18446744073709551615", "NaN", "-1", "inf"] {
        let server = CannedServer::start(vec![
            Canned::json(429, r#"{"error":"rejected: too many requests"}"#)
                .header("retry-after", value),
        ])
        .await;
        let client = client(&server.url);
        let task = tokio::spawn(async move { send_with_deadline(&client).await });
        let result = task.await;
        let Ok(Some(Err(error))) = result else {
            panic!("Retry-After {value}: a panic or a hang: {result:?}");
        };
        assert_eq!(error.kind(), ErrorKind::Transient, "{error}");
        // A value that is no number of seconds leaves the short backoff: all retries run.
        let expected = if value.starts_with('1') { 1 } else { 4 };
        assert_eq!(server.requests(), expected, "Retry-After {value}: {error}");
    }
}

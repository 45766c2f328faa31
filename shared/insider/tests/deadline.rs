//! Waits before a retry are bounded: an absurd `Retry-After` (1e308) never panics, and a
//! `Retry-After` longer than the invocation has left (a day, with the process deadline 30 s
//! ahead) ends the batch at once with a transient error that says the wait would outlive the
//! invocation, so the page is handed back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use dynsync_domain::ErrorKind;
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, TOKEN};
use dynsync_insider::InsiderClient;
use support::deadline::{assert_not_waited_out, with_deadline_in_30s};
use support::{Canned, CannedServer, client_for, users};

/// Sends two users with the process deadline 30 s ahead; the result, or `None` after 15 s.
async fn send_with_deadline(
    client: &InsiderClient,
) -> Option<Result<dynsync_domain::ports::BatchOutcome, dynsync_insider::InsiderError>> {
    with_deadline_in_30s(client.send_batch(&users(2), false)).await
}

#[tokio::test]
async fn a_retry_after_of_a_day_is_not_slept_when_the_invocation_ends_sooner() {
    let emu = InsiderEmulator::start(InsiderConfig::default())
        .await
        .unwrap();
    emu.faults().throttle_every(1, Duration::from_secs(86_400));
    let client = client_for(&emu.upsert_url(), TOKEN);
    let started = Instant::now();
    let error = send_with_deadline(&client)
        .await
        .expect("the batch must not wait out a day-long Retry-After")
        .unwrap_err();
    assert_not_waited_out(started, error.kind(), &error.to_string());
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
        let client = client_for(&server.url, TOKEN);
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

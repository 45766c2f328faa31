//! Fault tests: throttling honours Retry-After, 5xx and dropped connections are retried,
//! timeouts end in a timeout error after the configured retries, a malformed page is a
//! clear error and never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use dynsync_domain::ErrorKind;
use dynsync_dynamics::DynamicsError;
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};

const QUERY: &str =
    "<fetch count='10'><entity name='contact'><attribute name='contactid'/></entity></fetch>";

#[tokio::test]
async fn a_429_with_retry_after_2_waits_at_least_2_seconds_then_succeeds() {
    let emu = DataverseEmulator::start(Seed::contacts(20, 1))
        .await
        .unwrap();
    let client = client(&client_credentials(&emu), secrets());
    client.who_am_i().await.unwrap();
    emu.faults().throttle_every(2, 2);
    let started = Instant::now();
    let page = client.fetch("contacts", QUERY, false).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(page.records.len(), 10);
    assert_eq!(emu.requests(), 3);
}

#[tokio::test]
async fn a_503_then_200_succeeds() {
    let emu = DataverseEmulator::start(Seed::contacts(20, 1))
        .await
        .unwrap();
    let client = client(&client_credentials(&emu), secrets());
    client.who_am_i().await.unwrap();
    emu.faults().fail_every(2, 503);
    assert_eq!(
        client
            .fetch("contacts", QUERY, false)
            .await
            .unwrap()
            .records
            .len(),
        10
    );
    assert_eq!(emu.requests(), 3);
}

#[tokio::test]
async fn server_errors_that_persist_fail_transient_after_the_retries() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let mut settings = client_credentials(&emu);
    settings.retries = 1;
    emu.faults().fail_every(1, 500);
    let error = client(&settings, secrets()).who_am_i().await.unwrap_err();
    assert!(
        matches!(
            error,
            DynamicsError::Server {
                status: 500,
                attempts: 2,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.kind(), ErrorKind::Transient);
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let emu = DataverseEmulator::start(Seed::contacts(20, 1))
        .await
        .unwrap();
    let client = client(&client_credentials(&emu), secrets());
    client.who_am_i().await.unwrap();
    emu.faults().drop_every(2);
    assert_eq!(
        client
            .fetch("contacts", QUERY, false)
            .await
            .unwrap()
            .records
            .len(),
        10
    );
}

#[tokio::test]
async fn a_reply_slower_than_the_timeout_is_retried_then_fails_with_a_timeout_error() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let mut settings = client_credentials(&emu);
    settings.request_timeout_ms = 1_000;
    settings.retries = 2;
    emu.faults().set_latency(Duration::from_millis(1_500));
    let started = Instant::now();
    let error = client(&settings, secrets()).who_am_i().await.unwrap_err();
    assert!(
        matches!(
            error,
            DynamicsError::Timeout {
                timeout_ms: 1_000,
                attempts: 3,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert!(error.to_string().contains("request_timeout_ms"));
    assert_eq!(emu.requests(), 3);
    assert!(started.elapsed() >= Duration::from_secs(3));
}

#[tokio::test]
async fn a_malformed_page_is_retried_and_one_that_stays_malformed_is_a_clear_error() {
    let emu = DataverseEmulator::start(Seed::contacts(20, 1))
        .await
        .unwrap();
    let mut settings = client_credentials(&emu);
    settings.retries = 1;
    let client = client(&settings, secrets());
    emu.faults().malformed_page_every(2);
    client.fetch("contacts", QUERY, false).await.unwrap();
    assert_eq!(
        client
            .fetch("contacts", QUERY, false)
            .await
            .unwrap()
            .records
            .len(),
        10
    );

    emu.faults().malformed_page_every(1);
    let error = client.fetch("contacts", QUERY, false).await.unwrap_err();
    assert!(
        matches!(error, DynamicsError::MalformedReply { attempts: 2, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("malformed"));
}

#[tokio::test]
async fn throttling_that_persists_is_a_transient_error_after_the_retries() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let mut settings = client_credentials(&emu);
    settings.retries = 1;
    emu.faults().throttle_every(1, 0);
    let error = client(&settings, secrets()).who_am_i().await.unwrap_err();
    assert!(
        matches!(error, DynamicsError::Throttled { attempts: 2, ref code, .. } if code == "0x80072322"),
        "{error}"
    );
    assert_eq!(error.kind(), ErrorKind::Transient);
    assert!(error.to_string().contains("dynamics.partitions"));
}

//! The client's parallelism gate against the emulator's service protection limits: with
//! `x-ms-dop-hint: 2`, eight concurrent page fetches (on clones of one client) never have
//! more than two requests in flight; with a concurrent-requests limit of 3 and no hint,
//! eight concurrent fetches all succeed (the 429s waited out) and the cap ends at or under 3.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use dynsync_dynamics::{DataverseClient, FetchPage};
use dynsync_emulators::dataverse::{DataverseEmulator, Seed, ServiceProtection};

const QUERY: &str = "<fetch count='5'><entity name='contact'><attribute name='contactid'/><order attribute='contactid'/></entity></fetch>";

/// `n` page fetches at once, each on its own clone of `client`.
async fn fetch_at_once(client: &DataverseClient, n: usize) -> Vec<FetchPage> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.fetch("contacts", QUERY, false).await })
        })
        .collect();
    let mut pages = Vec::new();
    for task in tasks {
        pages.push(task.await.unwrap().expect("every fetch succeeds"));
    }
    pages
}

async fn emulator() -> DataverseEmulator {
    let emu = DataverseEmulator::start(Seed::contacts(40, 3))
        .await
        .unwrap();
    // Each request stays in flight long enough for the others to arrive beside it.
    emu.faults().set_latency(Duration::from_millis(100));
    emu
}

#[tokio::test]
async fn with_a_dop_hint_of_2_eight_concurrent_fetches_keep_two_in_flight() {
    let emu = emulator().await;
    emu.faults().dop_hint(Some(2));
    emu.faults()
        .service_protection(ServiceProtection::DATAVERSE);
    let client =
        DataverseClient::with_concurrency(&client_credentials(&emu), secrets(), 8).unwrap();
    assert_eq!(client.parallelism_cap(), 8);
    let pages = fetch_at_once(&client, 8).await;
    assert!(
        pages
            .iter()
            .all(|p| p.records.len() == 5 && p.throttles == 0)
    );
    let peak = emu.faults().peak_concurrent_requests();
    assert!((1..=2).contains(&peak), "peak {peak}");
    assert_eq!(emu.faults().throttled().total(), 0);
    assert_eq!(client.parallelism_cap(), 2);
    assert_eq!(emu.requests(), 8);
}

#[tokio::test]
async fn past_a_concurrency_limit_of_3_the_cap_steps_down_and_every_fetch_succeeds() {
    let emu = emulator().await;
    emu.faults().service_protection(ServiceProtection {
        concurrent: 3,
        ..ServiceProtection::DATAVERSE
    });
    let client =
        DataverseClient::with_concurrency(&client_credentials(&emu), secrets(), 8).unwrap();
    let pages = fetch_at_once(&client, 8).await;
    assert_eq!(pages.len(), 8);
    assert!(pages.iter().all(|p| p.records.len() == 5));
    let throttled = emu.faults().throttled();
    let waited: u32 = pages.iter().map(|p| p.throttles).sum();
    assert_eq!(u64::from(waited), throttled.concurrency, "{throttled:?}");
    assert!(
        throttled.concurrency > 0,
        "the limit was reached: {throttled:?}"
    );
    assert!(
        client.parallelism_cap() <= 3,
        "cap {}",
        client.parallelism_cap()
    );
    assert!(client.parallelism_cap() >= 1);
}

#[tokio::test]
async fn without_a_configured_concurrency_the_cap_starts_at_dataverses_limit() {
    let emu = emulator().await;
    let client = client(&client_credentials(&emu), secrets());
    assert_eq!(
        client.parallelism_cap(),
        dynsync_dynamics::DEFAULT_CONCURRENCY
    );
    // A hint above the configured concurrency does not raise the cap.
    emu.faults().dop_hint(Some(500));
    fetch_at_once(&client, 2).await;
    assert_eq!(
        client.parallelism_cap(),
        dynsync_dynamics::DEFAULT_CONCURRENCY
    );
}

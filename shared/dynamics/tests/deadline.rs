//! A `Retry-After` longer than the invocation has left is not waited out: with the process
//! deadline 30 s ahead, a Dataverse 429 asking for a day ends the call at once with a
//! transient error that says the wait would outlive the invocation (the page is handed back).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::deadline::{assert_not_waited_out, with_deadline_in_30s};
use common::*;
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};

#[tokio::test]
async fn a_retry_after_of_a_day_is_not_slept_when_the_invocation_ends_sooner() {
    let emu = DataverseEmulator::start(Seed::contacts(5, 1))
        .await
        .unwrap();
    let client = client(&client_credentials(&emu), secrets());
    client.who_am_i().await.unwrap();
    emu.faults().throttle_every(1, 86_400);
    let started = Instant::now();
    let error = with_deadline_in_30s(client.who_am_i())
        .await
        .expect("the call must not wait out a day-long Retry-After")
        .unwrap_err();
    assert_not_waited_out(started, error.kind(), &error.to_string());
    assert_eq!(emu.requests(), 2, "the throttled request is not retried");
}

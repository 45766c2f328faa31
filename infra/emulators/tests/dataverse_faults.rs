//! Fault knobs over HTTP: throttling (429 + Retry-After + 0x80072322), 5xx failures,
//! dropped connections, malformed pages, latency, `clear()`, and the request counter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dataverse_common;

use dataverse_common::*;
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};
use std::time::{Duration, Instant};

const PAGE: &str = "contacts?fetchXml=%3Cfetch%20count%3D%272%27%3E%3Centity%20name%3D%27contact%27%3E%3Cattribute%20name%3D%27contactid%27%2F%3E%3C%2Fentity%3E%3C%2Ffetch%3E";

#[tokio::test]
async fn throttling_answers_429_with_retry_after_and_the_service_protection_code() {
    let emu = DataverseEmulator::start(Seed::contacts(5, 1))
        .await
        .unwrap();
    let t = token(&emu).await;
    emu.faults().throttle_every(2, 7);
    let (s1, _, _) = get(&emu, &t, "WhoAmI", None).await;
    let (s2, h2, b2) = get(&emu, &t, "WhoAmI", None).await;
    let (s3, _, _) = get(&emu, &t, "WhoAmI", None).await;
    assert_eq!((s1, s2, s3), (200, 429, 200));
    assert_eq!(h2["retry-after"], "7");
    let v: serde_json::Value = serde_json::from_str(&b2).unwrap();
    assert_eq!(v["error"]["code"], "0x80072322");
    assert_eq!(emu.requests(), 3);
}

#[tokio::test]
async fn fail_every_returns_the_chosen_server_error() {
    let emu = DataverseEmulator::start(Seed::contacts(5, 1))
        .await
        .unwrap();
    let t = token(&emu).await;
    emu.faults().fail_every(3, 503);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get(&emu, &t, PAGE, None).await.0);
    }
    assert_eq!(statuses, vec![200, 200, 503, 200, 200, 503]);
}

#[tokio::test]
async fn drop_every_closes_the_connection_without_a_reply() {
    let emu = DataverseEmulator::start(Seed::contacts(5, 1))
        .await
        .unwrap();
    let t = token(&emu).await;
    emu.faults().drop_every(2);
    let client = reqwest::Client::new();
    let url = format!("{}/WhoAmI", emu.web_api_url());
    assert_eq!(
        client
            .get(&url)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let dropped = client.get(&url).bearer_auth(&t).send().await;
    assert!(dropped.is_err(), "{dropped:?}");
    assert_eq!(
        client
            .get(&url)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn malformed_pages_are_invalid_json_while_other_calls_stay_fine() {
    let emu = DataverseEmulator::start(Seed::contacts(5, 1))
        .await
        .unwrap();
    let t = token(&emu).await;
    emu.faults().malformed_page_every(2);
    let (_, _, first) = get(&emu, &t, PAGE, None).await;
    assert!(serde_json::from_str::<serde_json::Value>(&first).is_ok());
    let (s, _, second) = get(&emu, &t, PAGE, None).await;
    assert_eq!(s, 200);
    assert!(
        serde_json::from_str::<serde_json::Value>(&second).is_err(),
        "{second}"
    );
    let (s, _, who) = get(&emu, &t, "WhoAmI", None).await;
    assert_eq!(s, 200);
    assert!(serde_json::from_str::<serde_json::Value>(&who).is_ok());
}

#[tokio::test]
async fn latency_delays_every_reply_and_clear_turns_faults_off() {
    let emu = DataverseEmulator::start(Seed::contacts(5, 1))
        .await
        .unwrap();
    let t = token(&emu).await;
    emu.faults().set_latency(Duration::from_millis(150));
    let started = Instant::now();
    assert_eq!(get(&emu, &t, "WhoAmI", None).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    emu.faults().throttle_every(1, 1);
    assert_eq!(get(&emu, &t, "WhoAmI", None).await.0, 429);
    emu.faults().clear();
    assert_eq!(get(&emu, &t, "WhoAmI", None).await.0, 200);
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let url = format!("{}/WhoAmI", emu.web_api_url());
    emu.shutdown().await;
    assert!(reqwest::Client::new().get(&url).send().await.is_err());
}

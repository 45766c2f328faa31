//! Service protection limits over HTTP (API-FACTS.md 2.7): the concurrent-requests limit
//! (429, `Retry-After`, `0x80072326`), the sliding window of requests (429, `Retry-After`,
//! `0x80072322`), both per user (every token of the app shares them), `x-ms-dop-hint` on
//! every reply, and the observables: the peak of requests in flight and the 429s by reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dataverse_common;

use std::time::Duration;

use dataverse_common::*;
use dynsync_emulators::dataverse::{DataverseEmulator, Seed, ServiceProtection, Throttled};
use serde_json::Value;

fn limits(requests: u64, concurrent: u64) -> ServiceProtection {
    ServiceProtection {
        requests,
        window: Duration::from_secs(300),
        concurrent,
    }
}

/// `n` WhoAmI requests sent at once, alternating between `tokens`: (status, Retry-After,
/// error code) of each.
async fn at_once(
    emu: &DataverseEmulator,
    tokens: &[String],
    n: usize,
) -> Vec<(u16, String, String)> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let url = format!("{}/WhoAmI", emu.web_api_url());
        let token = tokens[i % tokens.len()].clone();
        tasks.push(tokio::spawn(async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            let code = body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (status, retry, code)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn past_the_concurrency_limit_requests_get_429_with_0x80072326_per_user() {
    let emu = DataverseEmulator::start(Seed::contacts(3, 1))
        .await
        .unwrap();
    // Requests stay in flight long enough for all of them to arrive together.
    emu.faults().set_latency(Duration::from_millis(600));
    emu.faults().service_protection(limits(6_000, 2));
    // Two tokens of the same application: the same user, one limit.
    let tokens = [token(&emu).await, token(&emu).await];
    let replies = at_once(&emu, &tokens, 5).await;
    let served = replies.iter().filter(|r| r.0 == 200).count();
    let refused: Vec<_> = replies.iter().filter(|r| r.0 == 429).collect();
    assert_eq!((served, refused.len()), (2, 3), "{replies:?}");
    for (_, retry, code) in refused {
        assert_eq!((retry.as_str(), code.as_str()), ("1", "0x80072326"));
    }
    let faults = emu.faults();
    // The two served and at least one refused were in flight together (refusals reply at
    // once, so the others may not overlap).
    let peak = faults.peak_concurrent_requests();
    assert!((3..=5).contains(&peak), "peak {peak}");
    assert_eq!(
        faults.throttled(),
        Throttled {
            concurrency: 3,
            requests: 0,
            injected: 0
        }
    );
    // Their slots are free again once they replied.
    let (status, _, body) = get(&emu, &tokens[0], "WhoAmI", None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_concurrency_message_names_the_limit() {
    let emu = DataverseEmulator::start(Seed::contacts(3, 1))
        .await
        .unwrap();
    emu.faults().set_latency(Duration::from_millis(600));
    emu.faults().service_protection(ServiceProtection {
        concurrent: 1,
        ..ServiceProtection::DATAVERSE
    });
    let t = token(&emu).await;
    let slow = {
        let (emu_url, t) = (format!("{}/WhoAmI", emu.web_api_url()), t.clone());
        tokio::spawn(async move {
            reqwest::Client::new()
                .get(emu_url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    // Wait until the first request is in flight, then send the second.
    while emu.faults().peak_concurrent_requests() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, headers, body) = get(&emu, &t, "WhoAmI", None).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "1");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "0x80072326");
    assert_eq!(
        v["error"]["message"],
        "Number of concurrent requests exceeded the limit of 1."
    );
    assert_eq!(slow.await.unwrap(), 200);
}

#[tokio::test]
async fn past_the_request_window_requests_get_429_with_0x80072322_and_retry_after() {
    let emu = DataverseEmulator::start(Seed::contacts(3, 1))
        .await
        .unwrap();
    emu.faults().service_protection(limits(3, 52));
    let t = token(&emu).await;
    for _ in 0..3 {
        assert_eq!(get(&emu, &t, "WhoAmI", None).await.0, 200);
    }
    let (status, headers, body) = get(&emu, &t, "WhoAmI", None).await;
    assert_eq!(status, 429);
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "Retry-After {retry}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], "0x80072322");
    assert_eq!(
        v["error"]["message"],
        "Number of requests exceeded the limit of 3 over time window of 300 seconds."
    );
    // A new token of the same application is the same user.
    let other = token(&emu).await;
    assert_eq!(get(&emu, &other, "WhoAmI", None).await.0, 429);
    assert_eq!(emu.faults().throttled().requests, 2);
    emu.faults().clear();
    assert_eq!(get(&emu, &other, "WhoAmI", None).await.0, 200);
}

#[tokio::test]
async fn the_dop_hint_is_on_every_reply_and_injected_429s_are_counted() {
    let emu = DataverseEmulator::start(Seed::contacts(3, 1))
        .await
        .unwrap();
    let t = token(&emu).await;
    let (_, headers, _) = get(&emu, &t, "WhoAmI", None).await;
    assert!(headers.get("x-ms-dop-hint").is_none(), "no hint by default");
    emu.faults().dop_hint(Some(8));
    emu.faults().throttle_every(4, 2);
    let (ok, ok_headers, _) = get(&emu, &t, "WhoAmI", None).await;
    let (missing, missing_headers, _) = get(&emu, &t, "nosuchset", None).await;
    let (throttled, throttled_headers, _) = get(&emu, &t, "WhoAmI", None).await;
    assert_eq!((ok, missing, throttled), (200, 404, 429));
    for h in [ok_headers, missing_headers, throttled_headers] {
        assert_eq!(h["x-ms-dop-hint"], "8");
    }
    let (unauthorised, h, _) = get(&emu, "not-a-token", "WhoAmI", None).await;
    assert_eq!(
        (unauthorised, &h["x-ms-dop-hint"]),
        (401, &"8".parse().unwrap())
    );
    assert_eq!(
        emu.faults().throttled(),
        Throttled {
            concurrency: 0,
            requests: 0,
            injected: 1
        }
    );
    emu.faults().dop_hint(None);
    assert!(
        get(&emu, &t, "WhoAmI", None)
            .await
            .1
            .get("x-ms-dop-hint")
            .is_none()
    );
}

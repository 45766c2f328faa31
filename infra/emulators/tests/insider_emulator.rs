//! The Insider emulator over real HTTP: header auth shapes, limits, per-user validation in
//! Insider's reply shape, merging by identifier, appended events, inspection endpoints and
//! fault knobs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, PARTNER, TOKEN};
use serde_json::{Value, json};

async fn emulator() -> InsiderEmulator {
    InsiderEmulator::start(InsiderConfig::default())
        .await
        .unwrap()
}

async fn post(
    emu: &InsiderEmulator,
    partner: &str,
    token: &str,
    body: Vec<u8>,
) -> (u16, Value, Option<String>) {
    let response = reqwest::Client::new()
        .post(emu.upsert_url())
        .header("X-PARTNER-NAME", partner)
        .header("X-REQUEST-TOKEN", token)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body, retry_after)
}

async fn upsert(emu: &InsiderEmulator, body: Value) -> (u16, Value) {
    let (status, body, _) = post(emu, PARTNER, TOKEN, serde_json::to_vec(&body).unwrap()).await;
    (status, body)
}

#[tokio::test]
async fn wrong_partner_and_wrong_token_get_insiders_error_shapes() {
    let emu = emulator().await;
    let body = serde_json::to_vec(&json!({"users": []})).unwrap();
    let (status, reply, _) = post(&emu, "other", TOKEN, body.clone()).await;
    assert_eq!(
        (status, reply),
        (
            400,
            json!({"success": false, "message": "Partner is invalid."})
        )
    );
    let (status, reply, _) = post(&emu, PARTNER, "wrong", body).await;
    assert_eq!(
        (status, reply),
        (
            401,
            json!({"success": false, "message": "Partner token authentication failed."})
        )
    );
}

#[tokio::test]
async fn missing_users_oversized_bodies_and_too_many_users_are_rejected() {
    let emu = emulator().await;
    let (status, reply) = upsert(&emu, json!({"users": []})).await;
    assert_eq!(
        (status, reply),
        (400, json!({"error": "users must be defined: bad request"}))
    );

    let big = json!({"users": [{"identifiers": {"uuid": "u"}, "attributes": {"name": "x".repeat(5_000_000)}}]});
    let (status, reply) = upsert(&emu, big).await;
    assert_eq!(status, 413);
    assert_eq!(
        reply["message"],
        json!("request body is bigger than maximum allowed size 5,000,000 bytes")
    );

    let users: Vec<Value> = (0..1001)
        .map(|i| json!({"identifiers": {"uuid": format!("u{i}")}, "attributes": {"name": "a"}}))
        .collect();
    let (status, _) = upsert(&emu, json!({"users": users})).await;
    assert_eq!(status, 400);
    assert!(emu.profiles().is_empty());
}

#[tokio::test]
async fn invalid_users_fail_alone_with_insiders_error_keys() {
    let emu = emulator().await;
    let (status, reply) = upsert(
        &emu,
        json!({"users": [
            {"identifiers": {"email": "ada@example.com"}, "attributes": {"name": "Ada"}},
            {"identifiers": {"email": "sample"}, "attributes": {"name": "Bad"}},
            {"identifiers": {"uuid": 12345}, "attributes": {"name": "Num"}},
            {"identifiers": {"phone_number": "12345"}, "attributes": {"name": "Phone"}},
            {"identifiers": {"uuid": "only-ids"}},
            {"identifiers": {"uuid": "ev"}, "events": [{"event_name": "Homepage View", "timestamp": "2026-01-01T00:00:00Z"}]}
        ]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reply["data"]["successful"], json!({"count": 1}));
    assert_eq!(reply["data"]["fail"]["count"], json!(5));
    let errors = &reply["data"]["fail"]["errors"];
    assert_eq!(
        errors[r"users.1.identifiers.*.regexp(^.+@.+\..+$)"],
        json!(["not a valid email address: sample"])
    );
    assert_eq!(
        errors["users.2.identifiers.*.type(string)"],
        json!(["uuid must be string: 12345"])
    );
    assert_eq!(
        errors[r"users.3.identifiers.*.regexp(^\+[1-9]\d{6,14}$)"],
        json!(["user has an invalid phone number: 12345"])
    );
    assert!(
        errors
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("users.4."))
    );
    assert!(
        errors
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("users.5.events.0.event_name"))
    );
    assert_eq!(emu.profiles().len(), 1);
}

#[tokio::test]
async fn upserts_merge_by_identifier_and_events_append() {
    let emu = emulator().await;
    let user = json!({"identifiers": {"email": "ada@example.com"},
                      "attributes": {"name": "Ada", "static_segment_id": [1], "custom": {"tier": "gold"}},
                      "events": [{"event_name": "signup", "timestamp": "2026-01-01T00:00:00Z"}]});
    upsert(&emu, json!({"skip_hook": true, "users": [user.clone()]})).await;
    upsert(&emu, json!({"users": [user]})).await;
    upsert(
        &emu,
        json!({"users": [{"identifiers": {"email": "ada@example.com", "phone_number": "+905321234567"},
                          "attributes": {"surname": "Lovelace", "static_segment_id": [2], "custom": {"since": 2020}}}]}),
    )
    .await;
    let profiles = emu.profiles();
    assert_eq!(profiles.len(), 1, "same email, same profile");
    let profile = emu.profile_by_email("ada@example.com").unwrap();
    assert_eq!(profile.upserts, 3);
    assert_eq!(
        Value::Object(profile.attributes.clone()),
        json!({"name": "Ada", "static_segment_id": [1, 2], "custom": {"tier": "gold", "since": 2020},
               "surname": "Lovelace"})
    );
    assert_eq!(
        emu.profile_by_identifier("phone_number", "+905321234567")
            .map(|p| p.id),
        Some(profile.id.clone())
    );
    let events = emu.events();
    assert_eq!(events.len(), 2, "events are not deduplicated");
    assert_eq!(
        events.iter().map(|e| e.skip_hook).collect::<Vec<_>>(),
        vec![true, false]
    );
    assert_eq!(emu.skip_hooks(), vec![true, false, false]);
    assert_eq!(emu.requests(), 3);

    let http = reqwest::Client::new();
    let listed: Value = http
        .get(format!("{}/_emulator/profiles", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let events: Value = http
        .get(format!("{}/_emulator/events", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(events[0]["event_name"], json!("signup"));
    let reset = http
        .post(format!("{}/_emulator/reset", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status().as_u16(), 204);
    assert!(emu.profiles().is_empty() && emu.events().is_empty());
    assert_eq!(emu.requests(), 0);
}

#[tokio::test]
async fn fault_knobs_throttle_fail_and_clear() {
    let emu = emulator().await;
    let body = || {
        serde_json::to_vec(
            &json!({"users": [{"identifiers": {"uuid": "u"}, "attributes": {"name": "a"}}]}),
        )
        .unwrap()
    };
    emu.faults().throttle_every(2, Duration::from_secs(3));
    let (status, reply, retry_after) = post(&emu, PARTNER, TOKEN, body()).await;
    assert_eq!((status, retry_after.as_deref()), (429, Some("3")));
    assert_eq!(reply, json!({"error": "rejected: too many requests"}));
    assert_eq!(post(&emu, PARTNER, TOKEN, body()).await.0, 200);
    assert_eq!(post(&emu, PARTNER, TOKEN, body()).await.0, 429);

    let http = reqwest::Client::new();
    let set = http
        .post(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!({"fail_every": 1, "fail_status": 503}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status().as_u16(), 204);
    assert_eq!(post(&emu, PARTNER, TOKEN, body()).await.0, 503);
    emu.faults().clear();
    assert_eq!(post(&emu, PARTNER, TOKEN, body()).await.0, 200);
    assert_eq!(emu.requests(), 5);
}

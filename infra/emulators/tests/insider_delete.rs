//! The Insider emulator's delete-user-profile endpoint over HTTP (`POST /api/user/v1/delete`,
//! API-FACTS.md 1.4): one user per request by its identifiers, the upsert's header auth, the
//! profile store forgetting the user, an unknown user answered 404, and 429 + Retry-After
//! (a knob, and the 10,000-requests-a-minute limit).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, PARTNER, TOKEN};
use serde_json::{Value, json};

async fn emulator() -> InsiderEmulator {
    InsiderEmulator::start(InsiderConfig::default())
        .await
        .unwrap()
}

async fn post(url: &str, partner: &str, token: &str, body: &Value) -> (u16, Value, Option<String>) {
    let response = reqwest::Client::new()
        .post(url)
        .header("X-PARTNER-NAME", partner)
        .header("X-REQUEST-TOKEN", token)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(body).unwrap())
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

async fn delete(emu: &InsiderEmulator, body: Value) -> (u16, Value, Option<String>) {
    post(&emu.delete_url(), PARTNER, TOKEN, &body).await
}

async fn seed(emu: &InsiderEmulator) {
    let users = json!({"users": [
        {"identifiers": {"email": "ada@example.com"}, "attributes": {"name": "Ada"}},
        {"identifiers": {"uuid": "u-2"}, "attributes": {"name": "Bob"}},
        {"identifiers": {"custom": {"crm_id": "c-3"}}, "attributes": {"name": "Cem"}},
    ]});
    let (status, reply, _) = post(&emu.upsert_url(), PARTNER, TOKEN, &users).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(emu.profiles().len(), 3);
}

#[tokio::test]
async fn a_deleted_user_is_forgotten_by_each_kind_of_identifier() {
    let emu = emulator().await;
    seed(&emu).await;
    assert_eq!(
        emu.delete_url(),
        format!("{}/api/user/v1/delete", emu.base_url())
    );
    let (status, reply, _) =
        delete(&emu, json!({"identifiers": {"email": "ada@example.com"}})).await;
    assert_eq!((status, reply), (200, json!({})));
    assert!(emu.profile_by_email("ada@example.com").is_none());
    let (status, _, _) = delete(&emu, json!({"identifiers": {"uuid": "u-2"}})).await;
    assert_eq!(status, 200);
    let (status, _, _) = delete(&emu, json!({"identifiers": {"custom": {"crm_id": "c-3"}}})).await;
    assert_eq!(status, 200);
    assert!(emu.profiles().is_empty());
    assert_eq!(emu.delete_requests(), 3);
    // The identifier is free again: a later upsert makes a new profile.
    let again = json!({"users": [{"identifiers": {"email": "ada@example.com"}, "attributes": {"name": "Ada"}}]});
    let (status, _, _) = post(&emu.upsert_url(), PARTNER, TOKEN, &again).await;
    assert_eq!(status, 200);
    let profile = emu.profile_by_email("ada@example.com").unwrap();
    assert_eq!(profile.upserts, 1);
}

#[tokio::test]
async fn deleting_one_user_leaves_the_others_findable() {
    let emu = emulator().await;
    seed(&emu).await;
    let (status, _, _) = delete(&emu, json!({"identifiers": {"uuid": "u-2"}})).await;
    assert_eq!(status, 200);
    assert!(emu.profile_by_email("ada@example.com").is_some());
    assert!(emu.profile_by_identifier("custom.crm_id", "c-3").is_some());
    // Profiles after the removed one are still matched by the upsert.
    let users = json!({"users": [{"identifiers": {"custom": {"crm_id": "c-3"}}, "attributes": {"age": 3}}]});
    let (status, _, _) = post(&emu.upsert_url(), PARTNER, TOKEN, &users).await;
    assert_eq!(status, 200);
    assert_eq!(emu.profiles().len(), 2);
    let cem = emu.profile_by_identifier("custom.crm_id", "c-3").unwrap();
    assert_eq!(cem.upserts, 2);
}

#[tokio::test]
async fn an_unknown_user_is_answered_404_as_insiders_data_governance_apis_do() {
    let emu = emulator().await;
    seed(&emu).await;
    let (status, reply, _) = delete(
        &emu,
        json!({"identifiers": {"email": "nobody@example.com"}}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        reply,
        json!({"error": "no such user for these identifiers: no data"})
    );
    assert_eq!(emu.profiles().len(), 3);
}

#[tokio::test]
async fn delete_uses_the_upserts_auth_and_refuses_bodies_that_are_not_one_user() {
    let emu = emulator().await;
    seed(&emu).await;
    let one = json!({"identifiers": {"email": "ada@example.com"}});
    let (status, reply, _) = post(&emu.delete_url(), "other", TOKEN, &one).await;
    assert_eq!(
        (status, reply),
        (
            400,
            json!({"success": false, "message": "Partner is invalid."})
        )
    );
    let (status, reply, _) = post(&emu.delete_url(), PARTNER, "wrong", &one).await;
    assert_eq!(
        (status, reply),
        (
            401,
            json!({"success": false, "message": "Partner token authentication failed."})
        )
    );
    for bad in [
        json!({}),
        json!({"identifiers": {}}),
        json!({"users": [{"identifiers": {"email": "ada@example.com"}}]}),
        json!({"identifiers": {"email": 5}}),
    ] {
        let (status, reply, _) = delete(&emu, bad.clone()).await;
        assert_eq!(status, 400, "{bad} -> {reply}");
        assert!(reply["error"].as_str().is_some(), "{reply}");
    }
    assert_eq!(emu.profiles().len(), 3, "nothing deleted");
}

#[tokio::test]
async fn the_throttle_knob_answers_429_with_retry_after_and_deletes_nothing() {
    let emu = emulator().await;
    seed(&emu).await;
    emu.delete_faults()
        .throttle_every(2, Duration::from_secs(3));
    let one = json!({"identifiers": {"email": "ada@example.com"}});
    let (status, reply, retry_after) = delete(&emu, one.clone()).await;
    assert_eq!(status, 429);
    assert_eq!(reply, json!({"error": "rejected: too many requests"}));
    assert_eq!(retry_after.as_deref(), Some("3"));
    assert!(emu.profile_by_email("ada@example.com").is_some());
    let (status, _, _) = delete(&emu, one).await;
    assert_eq!(status, 200);
    assert!(emu.profile_by_email("ada@example.com").is_none());
    emu.reset();
    let (status, _, _) = delete(&emu, json!({"identifiers": {"uuid": "x"}})).await;
    assert_eq!(status, 404, "reset clears the knob");
}

#[tokio::test]
async fn the_per_minute_limit_answers_429_until_the_minute_ends() {
    let emu = emulator().await;
    seed(&emu).await;
    assert_eq!(
        emu.delete_faults().per_minute(),
        10_000,
        "Insider's limit by default"
    );
    emu.delete_faults().limit_per_minute(2);
    let (s1, _, _) = delete(&emu, json!({"identifiers": {"uuid": "x1"}})).await;
    let (s2, _, _) = delete(&emu, json!({"identifiers": {"uuid": "x2"}})).await;
    let (s3, _, retry_after) = delete(&emu, json!({"identifiers": {"uuid": "u-2"}})).await;
    assert_eq!((s1, s2, s3), (404, 404, 429));
    let wait: u64 = retry_after.unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(emu.profile_by_identifier("uuid", "u-2").is_some());
}

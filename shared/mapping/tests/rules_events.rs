//! Table-driven tests of the guide's event mapping (Step 9): a fixed event with processing
//! time and params, dynamic event names through mappings, and the accounting of records
//! with nothing to send, no id, or a user too large for any request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use dynsync_mapping::{Outcome, UNKNOWN_RECORD_ID};
use serde_json::{Value, json};
use support::*;

const EVENTS: &str = "identifiers:\n  - { type: email, field: emailaddress1 }\n";

#[test]
fn a_fixed_event_uses_processing_time_and_maps_params() {
    let m = mapper(&format!(
        "{EVENTS}events:
  name: {{ fixed: purchase }}
  params:
    - {{ key: product_id, field: f_product }}
    - {{ key: quantity, field: f_qty }}
    - {{ key: custom.stage, field: f_stage }}
  fixed_params:
    - {{ key: custom.channel, value: crm }}
    - {{ key: currency, value: EUR }}
"
    ));
    let mapped = map(
        &m,
        json!({"emailaddress1": "a@b.co", "f_product": 77, "f_qty": "2", "f_stage": "won"}),
    );
    assert_eq!(
        user_json(&mapped)["events"],
        json!([{"event_name": "purchase", "timestamp": "2026-11-27T10:00:00Z",
                "event_params": {"product_id": "77", "quantity": 2, "currency": "EUR",
                                 "custom": {"stage": "won", "channel": "crm"}}}])
    );
    assert_eq!(mapped.events_not_sent, 0);
}

#[test]
fn dynamic_event_names_translate_through_mappings_or_are_counted_as_not_sent() {
    let m = mapper(&format!(
        "{EVENTS}fixed_attributes:\n  - {{ key: custom.source, value: Dynamics }}\nevents:
  name: {{ field: new_eventtype, mappings: {{ \"100000000\": purchase, signup: sign_up }} }}
  timestamp: {{ field: createdon }}
"
    ));
    let cases = [
        (
            json!(100000000),
            json!("2025-01-01T10:00:00+02:00"),
            Some(("purchase", "2025-01-01T08:00:00Z")),
        ),
        (
            json!("signup"),
            json!("2025-01-01T10:00:00Z"),
            Some(("sign_up", "2025-01-01T10:00:00Z")),
        ),
        (json!(5), json!("2025-01-01T10:00:00Z"), None),
        (json!(100000000), Value::Null, None),
        (json!(100000000), json!("soon"), None),
        (Value::Null, json!("2025-01-01T10:00:00Z"), None),
    ];
    for (name, created, expected) in cases {
        let mapped = map(
            &m,
            json!({"emailaddress1": "a@b.co", "new_eventtype": name, "createdon": created}),
        );
        let user = user_json(&mapped);
        match expected {
            Some((event, at)) => {
                assert_eq!(user["events"][0]["event_name"], json!(event));
                assert_eq!(user["events"][0]["timestamp"], json!(at));
                assert_eq!(mapped.events_not_sent, 0);
            }
            None => {
                assert!(user.get("events").is_none(), "{name} {created}");
                assert_eq!(mapped.events_not_sent, 1);
                assert!(mapped.notes.iter().any(|n| n.starts_with("event not sent")));
            }
        }
    }
}

#[test]
fn records_with_nothing_to_send_or_no_id_are_accounted_for() {
    let m = mapper(&format!(
        "{EMAIL_ID}attributes:\n  - {{ key: name, field: firstname }}\n"
    ));
    let mapped = map(&m, json!({"emailaddress1": "a@b.co"}));
    assert_eq!(mapped.record_id, UNKNOWN_RECORD_ID);
    assert!(skip_reason(&mapped).starts_with("nothing to send"));
}

#[test]
fn a_user_too_large_for_any_request_fails_with_a_reason() {
    let m = mapper(&format!(
        "{EMAIL_ID}attributes:\n  - {{ key: name, field: firstname }}\n"
    ));
    let mapped = map(
        &m,
        json!({"contactid": "big", "emailaddress1": "a@b.co", "firstname": "x".repeat(5_000_000)}),
    );
    match mapped.outcome {
        Outcome::Failed { reason } => assert!(reason.contains("5,000,000"), "{reason}"),
        other => panic!("expected failure, got {other:?}"),
    }
}

//! Table-driven tests of every mapping rule of the guide (Steps 6 to 9), including its own
//! examples: Email Opt-In from an opt-out field with invert boolean, gender code to label,
//! `Source = Dynamics` as a fixed value, phone normalisation, skip identifier vs skip user,
//! unknown code raw vs skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use dynsync_domain::{Integration, OptionLabels, Record};
use dynsync_mapping::{MappedRecord, Mapper, Outcome, UNKNOWN_RECORD_ID};
use serde_json::{Value, json};

const BASE: &str = r#"
id: contacts
method: entity
dynamics:
  web_api_url: https://contoso.crm4.dynamics.com/api/data/v9.2
  auth:
    method: client_credentials
    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token
    scopes: ["https://contoso.crm4.dynamics.com/.default"]
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: { secret: dynsync/contacts/dynamics }
source:
  entity: contact
  fields: [contactid, emailaddress1, telephone1, firstname, gendercode, donotbulkemail, accountnumber,
           new_eventtype, createdon, f_age, f_birthday, f_sms, f_surname, f_lists, f_since, f_score,
           f_city, f_product, f_qty, f_stage]
insider:
  partner: acme
  token: { secret: dynsync/insider }
"#;

/// `extra` is appended to the base definition; a trailing `insider_unknown_code_skip`
/// marker sets `insider.unknown_code: skip_attribute` instead.
fn mapper_with(extra: &str, labels: OptionLabels) -> Mapper {
    let yaml = match extra.strip_suffix("insider_unknown_code_skip") {
        Some(extra) => format!("{BASE}  unknown_code: skip_attribute\n{extra}"),
        None => format!("{BASE}{extra}"),
    };
    let integration = Integration::from_yaml(&yaml).expect("valid definition");
    Mapper::new(&integration, &labels, "contactid")
}

fn mapper(extra: &str) -> Mapper {
    mapper_with(extra, gender_labels())
}

fn gender_labels() -> OptionLabels {
    let mut labels = OptionLabels::new();
    labels.insert(
        "gendercode".into(),
        [(1, "Male".to_owned()), (2, "Female".to_owned())].into(),
    );
    labels
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()
}

fn record(value: Value) -> Record {
    match value {
        Value::Object(map) => map,
        _ => panic!("records are objects"),
    }
}

fn map(mapper: &Mapper, value: Value) -> MappedRecord {
    mapper.map(&record(value), now())
}

fn user_json(mapped: &MappedRecord) -> Value {
    match &mapped.outcome {
        Outcome::User(user) => serde_json::to_value(user).unwrap(),
        other => panic!("expected a user, got {other:?} ({:?})", mapped.notes),
    }
}

fn skip_reason(mapped: &MappedRecord) -> String {
    match &mapped.outcome {
        Outcome::Skipped { reason } => reason.clone(),
        other => panic!("expected a skip, got {other:?}"),
    }
}

const EMAIL_ID: &str = "identifiers:\n  - { type: email, field: emailaddress1 }\n";

#[test]
fn the_guides_attribute_examples_map_as_described() {
    let m = mapper(&format!(
        "{EMAIL_ID}attributes:
  - {{ key: email_optin, field: donotbulkemail, invert_boolean: true }}
  - {{ key: gender, field: gendercode, code_to_label: true }}
  - {{ key: name, field: firstname }}
fixed_attributes:
  - {{ key: custom.source, value: Dynamics }}
"
    ));
    let mapped = map(
        &m,
        json!({"contactid": "c1", "emailaddress1": " ada@example.com ", "donotbulkemail": false,
               "gendercode": 2, "firstname": "Ada"}),
    );
    assert_eq!(mapped.record_id, "c1");
    assert_eq!(
        user_json(&mapped),
        json!({"identifiers": {"email": "ada@example.com"},
               "attributes": {"email_optin": true, "gender": "Female", "name": "Ada",
                              "custom": {"source": "Dynamics"}}})
    );
}

#[test]
fn invert_boolean_accepts_every_boolean_spelling() {
    let m = mapper(&format!(
        "{EMAIL_ID}attributes:\n  - {{ key: email_optin, field: donotbulkemail, invert_boolean: true }}\n"
    ));
    for (input, expected) in [
        (json!(true), json!(false)),
        (json!(false), json!(true)),
        (json!(1), json!(false)),
        (json!(0), json!(true)),
        (json!("true"), json!(false)),
        (json!("false"), json!(true)),
        (json!("yes"), json!(false)),
        (json!("no"), json!(true)),
    ] {
        let mapped = map(
            &m,
            json!({"emailaddress1": "a@b.co", "donotbulkemail": input}),
        );
        assert_eq!(
            user_json(&mapped)["attributes"]["email_optin"],
            expected,
            "{input}"
        );
    }
    let mapped = map(
        &m,
        json!({"emailaddress1": "a@b.co", "donotbulkemail": "perhaps", "x": 1}),
    );
    assert!(matches!(mapped.outcome, Outcome::Skipped { .. }));
    assert!(
        mapped.notes.iter().any(|n| n.contains("not a boolean")),
        "{:?}",
        mapped.notes
    );
}

#[test]
fn mapping_labels_win_over_dataverse_labels_and_unknown_codes_follow_the_setting() {
    let attrs = "attributes:\n  - { key: gender, field: gendercode, code_to_label: true, labels: { \"1\": man } }\nfixed_attributes:\n  - { key: custom.source, value: Dynamics }\n";
    let raw = mapper(&format!("{EMAIL_ID}{attrs}"));
    let skip = mapper(&format!("{EMAIL_ID}{attrs}insider_unknown_code_skip"));
    let cases = [
        (&raw, json!(1), Some(json!("man"))),
        (&raw, json!(2), Some(json!("Female"))),
        (&raw, json!(99), Some(json!(99))),
        (&skip, json!(1), Some(json!("man"))),
        (&skip, json!(99), None),
    ];
    for (m, code, expected) in cases {
        let mapped = map(m, json!({"emailaddress1": "a@b.co", "gendercode": code}));
        assert_eq!(
            user_json(&mapped)["attributes"].get("gender"),
            expected.as_ref(),
            "{code}"
        );
    }
    let mapped = map(&skip, json!({"emailaddress1": "a@b.co", "gendercode": 99}));
    assert!(mapped.notes.iter().any(|n| n.contains("skip_attribute")));
}

#[test]
fn labels_fall_back_to_dataverse_formatted_values() {
    let m = mapper_with(
        &format!(
            "{EMAIL_ID}attributes:\n  - {{ key: gender, field: gendercode, code_to_label: true }}\n"
        ),
        OptionLabels::new(),
    );
    let mapped = map(
        &m,
        json!({"emailaddress1": "a@b.co", "gendercode": 3,
               "gendercode@OData.Community.Display.V1.FormattedValue": "Other"}),
    );
    assert_eq!(user_json(&mapped)["attributes"]["gender"], json!("Other"));
}

const PHONE_ID: &str = "identifiers:\n  - { type: phone_number, field: telephone1 }\nfixed_attributes:\n  - { key: custom.source, value: Dynamics }\n";

#[test]
fn phones_normalise_with_and_without_country_code() {
    let cases = [
        (
            "phone: { country_code: \"90\" }\n",
            "0532 123 45 67",
            Some("+905321234567"),
        ),
        (
            "phone: { country_code: \"90\" }\n",
            "5321234567",
            Some("+905321234567"),
        ),
        (
            "phone: { country_code: \"90\", international_format: true }\n",
            "+90 532 123 4567",
            Some("+905321234567"),
        ),
        (
            "phone: { international_format: true }\n",
            "+90 (532) 123-45-67",
            Some("+905321234567"),
        ),
        ("phone: { international_format: true }\n", "0090 532", None),
        ("", "+905321234567", Some("+905321234567")),
        ("", "0532 123 45 67", None),
    ];
    for (settings, input, expected) in cases {
        let m = mapper(&format!("{PHONE_ID}{settings}"));
        let mapped = map(&m, json!({"telephone1": input}));
        match expected {
            Some(e164) => assert_eq!(
                user_json(&mapped)["identifiers"]["phone_number"],
                json!(e164),
                "{settings}{input}"
            ),
            None => assert!(
                skip_reason(&mapped).contains("phone_number (telephone1)"),
                "{settings}{input}"
            ),
        }
    }
}

const BOTH_IDS: &str = "identifiers:\n  - { type: email, field: emailaddress1 }\n  - { type: phone_number, field: telephone1 }\nfixed_attributes:\n  - { key: custom.source, value: Dynamics }\n";

#[test]
fn skip_identifier_drops_the_bad_one_and_skip_user_drops_the_record() {
    let keep = mapper(BOTH_IDS);
    let strict = mapper(&format!("{BOTH_IDS}invalid_identifier: skip_user\n"));
    let row = json!({"contactid": "c9", "emailaddress1": "ada@example.com", "telephone1": "12345"});

    let kept = map(&keep, row.clone());
    assert_eq!(
        user_json(&kept)["identifiers"],
        json!({"email": "ada@example.com"})
    );
    assert!(
        kept.notes
            .iter()
            .any(|n| n.contains("identifier dropped: phone_number (telephone1)"))
    );

    let skipped = map(&strict, row);
    let reason = skip_reason(&skipped);
    assert!(
        reason.contains("skip_user") && reason.contains("phone_number (telephone1)"),
        "{reason}"
    );
    assert!(
        !reason.contains("12345"),
        "reasons never carry values: {reason}"
    );
}

#[test]
fn a_record_without_a_valid_identifier_is_skipped_with_every_reason_and_no_value() {
    let m = mapper(BOTH_IDS);
    let mapped = map(
        &m,
        json!({"contactid": "c1", "emailaddress1": "not-an-email", "telephone1": null}),
    );
    let reason = skip_reason(&mapped);
    assert!(reason.starts_with("no valid identifier"), "{reason}");
    assert!(
        reason.contains("email (emailaddress1): not a valid email address"),
        "{reason}"
    );
    assert!(
        reason.contains("phone_number (telephone1): missing"),
        "{reason}"
    );
    assert!(!reason.contains("not-an-email"), "{reason}");
}

#[test]
fn uuid_and_custom_identifiers_are_sent_as_strings() {
    let m = mapper(
        "identifiers:\n  - { type: uuid, field: contactid }\n  - { type: custom, name: crm_id, field: accountnumber }\nfixed_attributes:\n  - { key: custom.source, value: Dynamics }\n",
    );
    let mapped = map(&m, json!({"contactid": 12345, "accountnumber": "A-1"}));
    assert_eq!(
        user_json(&mapped)["identifiers"],
        json!({"uuid": "12345", "custom": {"crm_id": "A-1"}})
    );
    assert_eq!(mapped.record_id, "12345");
}

#[test]
fn attribute_values_are_coerced_to_insider_types_or_omitted_with_a_note() {
    let m = mapper(&format!(
        "{EMAIL_ID}attributes:
  - {{ key: age, field: f_age }}
  - {{ key: birthday, field: f_birthday }}
  - {{ key: sms_optin, field: f_sms }}
  - {{ key: surname, field: f_surname }}
  - {{ key: static_segment_id, field: f_lists }}
  - {{ key: custom.since, field: f_since }}
  - {{ key: custom.score, field: f_score }}
  - {{ key: city, field: f_city }}
"
    ));
    let mapped = map(
        &m,
        json!({"emailaddress1": "a@b.co", "f_age": "abc", "f_birthday": "1990-05-17",
               "f_sms": "1", "f_surname": 42, "f_lists": "7,8", "f_since": "2024-01-02T12:00:00+03:00",
               "f_score": 9.5, "f_city": null}),
    );
    assert_eq!(
        user_json(&mapped)["attributes"],
        json!({"birthday": "1990-05-17T00:00:00Z", "sms_optin": true, "surname": "42",
               "static_segment_id": [7, 8], "custom": {"since": "2024-01-02T09:00:00Z", "score": 9.5}})
    );
    assert_eq!(
        mapped.notes,
        vec!["age: 'f_age' is not a number; omitted".to_owned()]
    );
}

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

//! Table-driven tests of every mapping rule of the guide (Steps 6 to 9), including its own
//! examples: Email Opt-In from an opt-out field with invert boolean, gender code to label,
//! `Source = Dynamics` as a fixed value, phone normalisation, skip identifier vs skip user,
//! unknown code raw vs skip.
//! Events and per-record accounting are in `rules_events.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use dynsync_domain::OptionLabels;
use dynsync_mapping::Outcome;
use serde_json::json;
use support::*;

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

//! Property test: mapping never panics on arbitrary JSON records (wrong types, huge and
//! non-ASCII strings, nulls, nested objects), and every record ends with an outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use dynsync_domain::batch::{self, upsert_body};
use dynsync_domain::{Integration, OptionLabels};
use dynsync_mapping::{Mapper, Outcome};
use proptest::prelude::*;
use serde_json::{Map, Value};

mod support;

/// Every kind of mapping over the nine fields, several reading the same field.
const MAPPINGS: &str = r#"identifiers:
  - { type: email, field: emailaddress1 }
  - { type: phone_number, field: telephone1 }
  - { type: uuid, field: contactid }
  - { type: custom, name: crm_id, field: firstname }
phone: { country_code: "90", international_format: true }
attributes:
  - { key: name, field: firstname }
  - { key: age, field: gendercode }
  - { key: gender, field: gendercode, code_to_label: true, labels: { "1": male } }
  - { key: email_optin, field: donotbulkemail, invert_boolean: true }
  - { key: birthday, field: birthdate }
  - { key: static_segment_id, field: new_type }
  - { key: custom.anything, field: createdon }
events:
  name: { field: new_type, mappings: { "1": purchase } }
  timestamp: { field: createdon }
  params:
    - { key: quantity, field: gendercode }
    - { key: taxonomy, field: firstname }
    - { key: custom.raw, field: telephone1 }
"#;

const FIELDS: [&str; 9] = [
    "contactid",
    "emailaddress1",
    "telephone1",
    "firstname",
    "gendercode",
    "donotbulkemail",
    "birthdate",
    "new_type",
    "createdon",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".*".prop_map(Value::String),
        "[0-9 +()-]{0,30}".prop_map(Value::String),
        "[a-z]{1,8}@[a-z]{1,8}\\.[a-z]{2,3}".prop_map(Value::String),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2}))?"
            .prop_map(Value::String),
        (1usize..200_000).prop_map(|n| Value::String("é".repeat(n))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn record() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(prop::option::of(json_value()), FIELDS.len()).prop_map(|values| {
        FIELDS
            .iter()
            .zip(values)
            .filter_map(|(field, value)| value.map(|v| ((*field).to_owned(), v)))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mapping_never_panics_on_arbitrary_records(records in prop::collection::vec(record(), 1..6)) {
        let yaml = support::definition(
            "contacts",
            &FIELDS.join(", "),
            MAPPINGS,
            "  unknown_code: skip_attribute\n",
        );
        let integration = Integration::from_yaml(&yaml).unwrap();
        let mut labels = OptionLabels::new();
        labels.insert("gendercode".into(), [(2, "female".to_owned())].into());
        let mapper = Mapper::new(&integration, &labels, "contactid");
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut users = Vec::new();
        for record in &records {
            let mapped = mapper.map(record, now);
            prop_assert!(!mapped.record_id.is_empty());
            match mapped.outcome {
                Outcome::User(user) => {
                    prop_assert!(!user.identifiers.is_empty());
                    prop_assert!(batch::size_bound(&user) >= batch::user_size(&user));
                    prop_assert!(!user.attributes.is_empty() || !user.events.is_empty());
                    users.push(user);
                }
                Outcome::Skipped { reason } | Outcome::Failed { reason } => {
                    prop_assert!(!reason.is_empty());
                }
            }
        }
        let ranges = batch::split(&users, false);
        let covered: usize = ranges.iter().map(|r| r.len()).sum();
        prop_assert_eq!(covered, users.len());
        for range in ranges {
            let single = range.len() == 1;
            let body = upsert_body(users.get(range).unwrap_or(&[]), false);
            prop_assert!(serde_json::from_slice::<Value>(&body).is_ok());
            prop_assert!(single || body.len() < batch::MAX_BODY_BYTES);
        }
    }
}

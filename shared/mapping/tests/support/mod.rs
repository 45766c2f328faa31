//! Fixtures of the mapping rule tests (`rules.rs`, `rules_events.rs`): a base definition,
//! mappers built from it with extra YAML, records, and readers of a mapped record.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use dynsync_domain::{Integration, OptionLabels, Record};
use dynsync_mapping::{MappedRecord, Mapper, Outcome};
use serde_json::Value;

pub const BASE: &str = r#"
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
pub fn mapper_with(extra: &str, labels: OptionLabels) -> Mapper {
    let yaml = match extra.strip_suffix("insider_unknown_code_skip") {
        Some(extra) => format!("{BASE}  unknown_code: skip_attribute\n{extra}"),
        None => format!("{BASE}{extra}"),
    };
    let integration = Integration::from_yaml(&yaml).expect("valid definition");
    Mapper::new(&integration, &labels, "contactid")
}

pub fn mapper(extra: &str) -> Mapper {
    mapper_with(extra, gender_labels())
}

pub fn gender_labels() -> OptionLabels {
    let mut labels = OptionLabels::new();
    labels.insert(
        "gendercode".into(),
        [(1, "Male".to_owned()), (2, "Female".to_owned())].into(),
    );
    labels
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()
}

pub fn record(value: Value) -> Record {
    match value {
        Value::Object(map) => map,
        _ => panic!("records are objects"),
    }
}

pub fn map(mapper: &Mapper, value: Value) -> MappedRecord {
    mapper.map(&record(value), now())
}

pub fn user_json(mapped: &MappedRecord) -> Value {
    match &mapped.outcome {
        Outcome::User(user) => serde_json::to_value(user).unwrap(),
        other => panic!("expected a user, got {other:?} ({:?})", mapped.notes),
    }
}

pub fn skip_reason(mapped: &MappedRecord) -> String {
    match &mapped.outcome {
        Outcome::Skipped { reason } => reason.clone(),
        other => panic!("expected a skip, got {other:?}"),
    }
}

pub const EMAIL_ID: &str = "identifiers:\n  - { type: email, field: emailaddress1 }\n";

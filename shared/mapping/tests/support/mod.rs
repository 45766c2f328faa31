//! Fixtures of the mapping rule tests (`rules.rs`, `rules_events.rs`): a base definition,
//! mappers built from it with extra YAML, records, and readers of a mapped record.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeZone, Utc};
use dynsync_domain::{Integration, OptionLabels, Record};
use dynsync_mapping::{MappedRecord, Mapper, Outcome};
use serde_json::Value;

/// An integration definition: the common `dynamics` block (connection and secret named
/// after `id`), `source.fields` (a YAML list body), the mapping sections `mappings` and the
/// `insider` block followed by `insider_extra` (indented `insider` keys).
pub fn definition(id: &str, fields: &str, mappings: &str, insider_extra: &str) -> String {
    format!(
        r#"
id: {id}
method: entity
dynamics:
  web_api_url: https://contoso.crm4.dynamics.com/api/data/v9.2
  auth:
    method: client_credentials
    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token
    scopes: ["https://contoso.crm4.dynamics.com/.default"]
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: {{ secret: dynsync/{id}/dynamics }}
source:
  entity: contact
  fields: [{fields}]
{mappings}insider:
  partner: acme
  token: {{ secret: dynsync/insider }}
{insider_extra}"#
    )
}

/// The fields of the rule tests' base definition.
const BASE_FIELDS: &str = "contactid, emailaddress1, telephone1, firstname, gendercode, \
    donotbulkemail, accountnumber, new_eventtype, createdon, f_age, f_birthday, f_sms, f_surname, \
    f_lists, f_since, f_score, f_city, f_product, f_qty, f_stage";

/// `extra` is appended to the base definition; a trailing `insider_unknown_code_skip`
/// marker sets `insider.unknown_code: skip_attribute` instead.
pub fn mapper_with(extra: &str, labels: OptionLabels) -> Mapper {
    let yaml = match extra.strip_suffix("insider_unknown_code_skip") {
        Some(extra) => {
            let base = definition(
                "contacts",
                BASE_FIELDS,
                "",
                "  unknown_code: skip_attribute\n",
            );
            format!("{base}{extra}")
        }
        None => format!("{}{extra}", definition("contacts", BASE_FIELDS, "", "")),
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

/// The mapping benchmark's fields: 20-field contacts.
pub const BENCH_FIELDS: &str = "contactid, emailaddress1, telephone1, firstname, lastname, \
    gendercode, familystatuscode, donotbulkemail, birthdate, address1_city, jobtitle, createdon, \
    modifiedon, new_productid, new_amount, new_quantity, new_channel, preferredcontactmethodcode, \
    new_score, description";

/// The mapping benchmark's mappings: 3 identifiers, 8 attributes with 2 label conversions and
/// one inverted boolean, one event with 3 parameters.
pub const BENCH_MAPPINGS: &str = r#"identifiers:
  - { type: email, field: emailaddress1 }
  - { type: phone_number, field: telephone1 }
  - { type: uuid, field: contactid }
phone: { country_code: "90" }
attributes:
  - { key: name, field: firstname }
  - { key: surname, field: lastname }
  - { key: gender, field: gendercode, code_to_label: true }
  - { key: custom.family_status, field: familystatuscode, code_to_label: true }
  - { key: email_optin, field: donotbulkemail, invert_boolean: true }
  - { key: birthday, field: birthdate }
  - { key: city, field: address1_city }
  - { key: custom.job_title, field: jobtitle }
events:
  name: { fixed: purchase }
  timestamp: { field: createdon }
  params:
    - { key: product_id, field: new_productid }
    - { key: unit_price, field: new_amount }
    - { key: quantity, field: new_quantity }
"#;

/// The option-set labels of the benchmark's two `code_to_label` fields.
pub fn bench_labels() -> OptionLabels {
    let mut labels = OptionLabels::new();
    labels.insert(
        "gendercode".into(),
        [(1, "Male".into()), (2, "Female".into())].into(),
    );
    labels.insert(
        "familystatuscode".into(),
        [
            (1, "Single".into()),
            (2, "Married".into()),
            (3, "Divorced".into()),
            (4, "Widowed".into()),
        ]
        .into(),
    );
    labels
}

/// The benchmark's mapper, or `None` if its definition does not parse.
pub fn bench_mapper() -> Option<Mapper> {
    let yaml = definition("bench", BENCH_FIELDS, BENCH_MAPPINGS, "");
    let integration = Integration::from_yaml(&yaml).ok()?;
    Some(Mapper::new(&integration, &bench_labels(), "contactid"))
}

/// Record `i` of the benchmark's page.
pub fn bench_record(i: usize) -> Value {
    serde_json::json!({
        "@odata.etag": format!("W/\"{}\"", 1000 + i),
        "contactid": format!("{:08x}-0000-4000-8000-{:012x}", i, i * 7),
        "emailaddress1": format!("contact{i}@example.com"),
        "telephone1": format!("0532 {:03} {:02} {:02}", i % 1000, i % 100, (i / 100) % 100),
        "firstname": format!("Given{i}"),
        "lastname": format!("Family{i}"),
        "gendercode": 1 + (i % 2),
        "familystatuscode": 1 + (i % 4),
        "donotbulkemail": i.is_multiple_of(3),
        "birthdate": format!("19{:02}-0{}-1{}", 50 + i % 50, 1 + i % 9, i % 10),
        "address1_city": "İstanbul",
        "jobtitle": "Engineer",
        "createdon": format!("2025-0{}-1{}T10:{:02}:00Z", 1 + i % 9, i % 10, i % 60),
        "modifiedon": "2026-11-01T08:00:00Z",
        "new_productid": format!("SKU-{}", i % 97),
        "new_amount": 10.5 + (i % 50) as f64,
        "new_quantity": 1 + i % 5,
        "new_channel": "web",
        "preferredcontactmethodcode": 1,
        "new_score": i % 100,
        "description": "A contact synthesised for the mapping benchmark."
    })
}

/// The benchmark's page of `records` records, as Dataverse sends it: `{"value": [...]}`.
pub fn bench_page(records: usize) -> Vec<u8> {
    let records: Vec<Value> = (0..records).map(bench_record).collect();
    serde_json::to_vec(&serde_json::json!({ "value": records })).unwrap_or_default()
}

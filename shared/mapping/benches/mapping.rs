//! Benchmark: mapping a 5,000-record page of 20-field contacts (3 identifiers, 8 attributes
//! with 2 label conversions and one inverted boolean, one event with 3 parameters) from the
//! page's JSON bytes into upsert bodies, against a baseline that parses the same bytes into
//! `serde_json::Value` and serialises them back. Prints records/s for both, the ratio and
//! whether it holds (target, issue 13: mapping at least 0.7x the baseline). Run with
//! `cargo bench -p dynsync-mapping --bench mapping`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use dynsync_domain::batch::{self, upsert_body};
use dynsync_domain::{Integration, OptionLabels, Record};
use dynsync_mapping::{Mapper, Outcome};
use serde_json::{Value, json};

const RECORDS: usize = 5_000;
const ROUNDS: usize = 12;
/// Mapping's records/s at least this share of the baseline's (issue 13).
const TARGET_RATIO: f64 = 0.7;

const DEFINITION: &str = r#"
id: bench
method: entity
dynamics:
  web_api_url: https://contoso.crm4.dynamics.com/api/data/v9.2
  auth:
    method: client_credentials
    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token
    scopes: ["https://contoso.crm4.dynamics.com/.default"]
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: { secret: dynsync/bench/dynamics }
source:
  entity: contact
  fields: [contactid, emailaddress1, telephone1, firstname, lastname, gendercode, familystatuscode,
           donotbulkemail, birthdate, address1_city, jobtitle, createdon, modifiedon, new_productid,
           new_amount, new_quantity, new_channel, preferredcontactmethodcode, new_score, description]
identifiers:
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
insider:
  partner: acme
  token: { secret: dynsync/insider }
"#;

fn page() -> Vec<u8> {
    let records: Vec<Value> = (0..RECORDS)
        .map(|i| {
            json!({
                "@odata.etag": format!("W/\"{}\"", 1000 + i),
                "contactid": format!("{:08x}-0000-4000-8000-{:012x}", i, i * 7),
                "emailaddress1": format!("contact{i}@example.com"),
                "telephone1": format!("0532 {:03} {:02} {:02}", i % 1000, i % 100, (i / 100) % 100),
                "firstname": format!("Given{i}"),
                "lastname": format!("Family{i}"),
                "gendercode": 1 + (i % 2),
                "familystatuscode": 1 + (i % 4),
                "donotbulkemail": i % 3 == 0,
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
        })
        .collect();
    serde_json::to_vec(&json!({ "value": records })).unwrap_or_default()
}

fn labels() -> OptionLabels {
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

#[derive(serde::Deserialize)]
struct Page {
    value: Vec<Record>,
}

/// Parse the page, map every record, split into batches and write every upsert body.
fn map_page(bytes: &[u8], mapper: &Mapper) -> (usize, usize) {
    let processing_time = Utc
        .with_ymd_and_hms(2026, 11, 27, 10, 0, 0)
        .single()
        .unwrap_or_default();
    let Ok(page) = serde_json::from_slice::<Page>(bytes) else {
        return (0, 0);
    };
    let mut users = Vec::with_capacity(page.value.len());
    for record in &page.value {
        if let Outcome::User(user) = mapper.map(record, processing_time).outcome {
            users.push(user);
        }
    }
    let bytes: usize = batch::split(&users, false)
        .into_iter()
        .map(|range| upsert_body(users.get(range).unwrap_or_default(), false).len())
        .sum();
    (users.len(), bytes)
}

fn baseline(bytes: &[u8]) -> usize {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|value| serde_json::to_vec(&value).ok())
        .map_or(0, |out| out.len())
}

/// Times `a` and `b` alternately for `ROUNDS` rounds after one warm-up each, so load on a
/// shared machine hits both alike; returns the median of each.
fn medians(mut a: impl FnMut(), mut b: impl FnMut()) -> (Duration, Duration) {
    a();
    b();
    let mut times_a = Vec::with_capacity(ROUNDS);
    let mut times_b = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        a();
        times_a.push(start.elapsed());
        let start = Instant::now();
        b();
        times_b.push(start.elapsed());
    }
    times_a.sort();
    times_b.sort();
    let median = |times: &[Duration]| times.get(ROUNDS / 2).copied().unwrap_or_default();
    (median(&times_a), median(&times_b))
}

fn main() {
    let bytes = page();
    let Ok(integration) = Integration::from_yaml(DEFINITION) else {
        eprintln!("benchmark definition is invalid");
        std::process::exit(2);
    };
    let mapper = Mapper::new(&integration, &labels(), "contactid");
    let (users, body_bytes) = map_page(&bytes, &mapper);
    if users != RECORDS {
        eprintln!("only {users} of {RECORDS} records mapped to users");
        std::process::exit(1);
    }

    let (base, mapping) = medians(
        || {
            black_box(baseline(black_box(&bytes)));
        },
        || {
            black_box(map_page(black_box(&bytes), &mapper));
        },
    );
    let rate = |d: Duration| RECORDS as f64 / d.as_secs_f64().max(f64::EPSILON);
    println!(
        "page: {RECORDS} records, {} bytes of JSON; upsert bodies: {body_bytes} bytes",
        bytes.len()
    );
    println!(
        "baseline (parse to Value + serialise): {:>12.0} records/s ({base:?} per page)",
        rate(base)
    );
    println!(
        "mapping  (parse + map + upsert body):  {:>12.0} records/s ({mapping:?} per page)",
        rate(mapping)
    );
    let ratio = rate(mapping) / rate(base);
    println!(
        "ratio mapping/baseline: {ratio:.2}x (target >= {TARGET_RATIO}x: {})",
        if ratio >= TARGET_RATIO {
            "holds"
        } else {
            "MISSED"
        }
    );
}

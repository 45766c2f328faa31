//! Golden output: the benchmark's records and a set of awkward ones (phones in every shape,
//! codes without labels, wrong types, missing and reordered fields) mapped by the benchmark's
//! definition and by a variant of it (no dial code, `unknown_code: skip_attribute`), written
//! as each record's outcome and notes followed by the exact upsert bodies. The transcript must
//! equal `tests/golden/mapping.txt` byte for byte, so a faster mapping cannot change what is
//! sent. `DYNSYNC_MAPPING_BLESS=1` rewrites the file (only when the change is intended).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fmt::Write;

use dynsync_domain::batch::{split, upsert_body};
use dynsync_domain::{Integration, Record};
use dynsync_mapping::{Mapper, Outcome};
use serde_json::{Value, json};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/mapping.txt");

fn awkward_records() -> Vec<Value> {
    let phones = [
        json!("+90 532 123 45 67"),
        json!("0090 532 123 45 67"),
        json!("905321234567"),
        json!("532-123-45-67"),
        json!("(0532) 123 45 67"),
        json!("0212 555 12 34"),
        json!("+44 20 7946 0958"),
        json!("+1 415 555 2671"),
        json!("001 415 555 2671"),
        json!("tel:+90-532-123-4567"),
        json!("0532 123 45 67 ext. 12"),
        json!("٠٥٣٢١٢٣٤٥٦٧"),
        json!("call me"),
        json!("1234"),
        json!(""),
        json!(null),
        json!(5_321_234_567_u64),
        json!("05321234567"),
        json!("5321234567"),
        json!("+905321234567"),
        json!("00905321234567"),
        json!("0 800 123 45 67"),
    ];
    let mut records: Vec<Value> = phones
        .iter()
        .enumerate()
        .map(|(i, phone)| {
            let mut record = support::bench_record(9_000 + i);
            record["telephone1"] = phone.clone();
            record
        })
        .collect();
    let variants = [
        json!({"gendercode": 3, "familystatuscode": 9}),
        json!({"gendercode": "2", "familystatuscode": 7,
               "familystatuscode@OData.Community.Display.V1.FormattedValue": "Engaged"}),
        json!({"gendercode": 1.0, "familystatuscode": "1,2"}),
        json!({"donotbulkemail": "yes"}),
        json!({"donotbulkemail": "maybe"}),
        json!({"donotbulkemail": 0}),
        json!({"birthdate": "1990-05-17T10:00:00+03:00"}),
        json!({"birthdate": "not a date"}),
        json!({"birthdate": "1990-02-30"}),
        json!({"createdon": null}),
        json!({"createdon": "2025-01-02 10:00:00"}),
        json!({"createdon": 20_250_102}),
        json!({"new_amount": "12.50", "new_quantity": "x"}),
        json!({"new_amount": null, "new_quantity": 2.5, "new_productid": 77}),
        json!({"emailaddress1": "a@b"}),
        json!({"emailaddress1": null, "telephone1": null}),
        json!({"emailaddress1": null, "telephone1": null, "contactid": null}),
        json!({"contactid": 12345}),
        json!({"firstname": 42, "lastname": true, "jobtitle": ["a", 1]}),
        json!({"jobtitle": {"nested": "object"}, "address1_city": ""}),
        json!({"firstname": null, "lastname": null, "gendercode": null, "familystatuscode": null,
               "donotbulkemail": null, "birthdate": null, "address1_city": null,
               "jobtitle": null, "createdon": null}),
    ];
    for (i, variant) in variants.iter().enumerate() {
        let mut record = support::bench_record(9_100 + i);
        for (key, value) in variant.as_object().into_iter().flatten() {
            record[key] = value.clone();
        }
        records.push(record);
    }
    // The same fields in another order, with fields missing, and with unrelated ones.
    let reversed: serde_json::Map<String, Value> = support::bench_record(9_200)
        .as_object()
        .unwrap()
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    records.push(Value::Object(reversed));
    let mut sparse = support::bench_record(9_201);
    for key in ["lastname", "gendercode", "birthdate", "new_quantity"] {
        sparse.as_object_mut().unwrap().remove(key);
    }
    sparse["new_extra"] = json!("unmapped");
    records.push(sparse);
    records.push(json!({"emailaddress1": "only@example.com", "firstname": "Only"}));
    records.push(json!({}));
    records
}

fn transcript(name: &str, mapper: &Mapper, records: &[Record]) -> String {
    let mut out = format!("== {name}\n");
    let mut users = Vec::new();
    for record in records {
        let mapped = mapper.map(record, support::now());
        let outcome = match mapped.outcome {
            Outcome::User(user) => {
                users.push(user);
                "user".to_owned()
            }
            Outcome::Skipped { reason } => format!("skipped: {reason}"),
            Outcome::Failed { reason } => format!("failed: {reason}"),
        };
        writeln!(
            out,
            "{} | {outcome} | events not sent: {} | notes: {:?}",
            mapped.record_id, mapped.events_not_sent, mapped.notes
        )
        .unwrap();
    }
    for skip_hook in [false, true] {
        for range in split(&users, skip_hook) {
            let body = upsert_body(&users[range.clone()], skip_hook);
            writeln!(out, "-- body {range:?} skip_hook {skip_hook}").unwrap();
            out.push_str(std::str::from_utf8(&body).unwrap());
            out.push('\n');
        }
    }
    out
}

#[test]
fn mapping_output_matches_the_golden_transcript() {
    let mut records: Vec<Value> = (0..60).map(support::bench_record).collect();
    records.extend(awkward_records());
    let records: Vec<Record> = records.into_iter().map(support::record).collect();

    let bench = support::bench_mapper().expect("the benchmark definition parses");
    let variant_yaml = support::definition(
        "golden",
        support::BENCH_FIELDS,
        &support::BENCH_MAPPINGS.replace(
            r#"phone: { country_code: "90" }"#,
            "phone: { international_format: true }",
        ),
        "  unknown_code: skip_attribute\n",
    );
    let variant = Mapper::new(
        &Integration::from_yaml(&variant_yaml).expect("the variant parses"),
        &support::bench_labels(),
        "contactid",
    );
    let got = transcript("benchmark definition", &bench, &records)
        + &transcript("no dial code, unknown codes skipped", &variant, &records);

    if std::env::var_os("DYNSYNC_MAPPING_BLESS").is_some() {
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden")).unwrap();
        std::fs::write(GOLDEN, &got).unwrap();
    }
    let want = std::fs::read_to_string(GOLDEN).expect("tests/golden/mapping.txt exists");
    // Line by line first, so a difference is shown where it is.
    for (number, (got, want)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(got, want, "line {} differs", number + 1);
    }
    assert_eq!(got, want);
}

use super::*;
use serde_json::json;

#[test]
fn booleans_are_read_in_every_common_spelling() {
    for (input, expected) in [
        (json!(true), Some(true)),
        (json!(0), Some(false)),
        (json!(1), Some(true)),
        (json!(" Yes "), Some(true)),
        (json!("FALSE"), Some(false)),
        (json!("no"), Some(false)),
        (json!("maybe"), None),
        (json!(2), None),
        (json!([true]), None),
    ] {
        assert_eq!(parse_bool(&input), expected, "{input}");
    }
}

#[test]
fn coercions_follow_insider_types_per_key() {
    let cases = [
        ("age", json!("42"), Some(json!(42))),
        ("age", json!("41.5"), Some(json!(41.5))),
        ("age", json!("abc"), None),
        ("age", json!(true), None),
        ("name", json!(7), Some(json!("7"))),
        ("name", json!({"a": 1}), None),
        ("email_optin", json!("true"), Some(json!(true))),
        (
            "birthday",
            json!("1990-05-17"),
            Some(json!("1990-05-17T00:00:00Z")),
        ),
        (
            "birthday",
            json!("1990-05-17T03:00:00+03:00"),
            Some(json!("1990-05-17T00:00:00Z")),
        ),
        ("birthday", json!("yesterday"), None),
        ("static_segment_id", json!("1, 2"), Some(json!([1, 2]))),
        ("static_segment_id", json!(["3", 4]), Some(json!([3, 4]))),
        ("static_segment_id", json!("x"), None),
        (
            "custom.since",
            json!("2024-01-02T10:00:00+01:00"),
            Some(json!("2024-01-02T09:00:00Z")),
        ),
        (
            "custom.note",
            json!("2024 was good"),
            Some(json!("2024 was good")),
        ),
        ("custom.nested", json!({"a": 1}), None),
    ];
    for (key, input, expected) in cases {
        let coercion = Coercion::for_attribute(key);
        assert_eq!(coercion.apply(input.clone()), expected, "{key} <- {input}");
    }
}

#[test]
fn the_plain_datetime_shortcut_agrees_with_chrono() {
    let inputs = [
        "1990-05-17",
        "2024-02-29",
        "2023-02-29",
        "2023-13-01",
        "2023-00-10",
        "0000-01-01",
        "9999-12-31",
        "2025-01-10T10:00:00Z",
        "2025-01-10T23:59:59Z",
        "2025-01-10T24:00:00Z",
        "2025-01-10T10:60:00Z",
        "2025-01-10T10:00:60Z",
        "2016-12-31T23:59:60Z",
        "2023-02-29T10:00:00Z",
        "2025-01-10t10:00:00z",
        "2025-01-10T10:00:00+",
        "2025-1-10T10:00:00Z",
        "+2025-01-1",
        "2025/01/10",
    ];
    for input in inputs {
        assert_eq!(
            normalise_datetime(input),
            parse_and_format(input),
            "{input:?}"
        );
        if let Some(fast) = plain_utc_datetime(input) {
            assert_eq!(fast, parse_and_format(input), "{input:?}");
        }
    }
}

#[test]
fn datetimes_keep_fractions_and_end_in_z() {
    assert_eq!(
        normalise_datetime("2024-03-01T10:20:30.5Z").as_deref(),
        Some("2024-03-01T10:20:30.500Z")
    );
    assert_eq!(
        normalise_datetime("2024-03-01T10:20:30").as_deref(),
        Some("2024-03-01T10:20:30Z")
    );
}

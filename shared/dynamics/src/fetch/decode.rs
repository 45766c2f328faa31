//! Decoding a FetchXML page reply: the JSON page read straight into its records, and the
//! one inner response of a `$batch` reply.

use dynsync_domain::Record;
use serde_json::Value;

use super::FetchPage;
use crate::client::SERVICE;
use crate::error::DynamicsError;
use crate::transport::{Failure, Reply, dataverse_error};

const MORE_RECORDS: &str = "@Microsoft.Dynamics.CRM.morerecords";
const PAGING_COOKIE: &str = "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie";

fn malformed(detail: String, attempt: u32) -> Failure {
    Failure::from(DynamicsError::MalformedReply {
        service: SERVICE,
        detail,
        attempts: attempt,
    })
}

/// Reads a page reply; anything but `{"value": [objects...]}` is malformed.
///
/// The page is decoded straight into its records: no `Value` tree of the whole reply is
/// built and then taken apart, and each record's `@odata.etag` (nothing reads it) is
/// skipped while decoding, so a 5,000-record page costs its records and nothing more.
pub(super) fn page(body: &[u8], attempt: u32) -> Result<FetchPage, Failure> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let decoded = serde::de::Deserializer::deserialize_any(&mut deserializer, PageVisitor)
        .and_then(|page| deserializer.end().map(|()| page));
    match decoded {
        Ok(Decoded {
            records: Some(records),
            more,
            paging_cookie,
        }) => Ok(FetchPage {
            records,
            more,
            paging_cookie,
            throttles: 0,
        }),
        Ok(Decoded { records: None, .. }) => Err(malformed(
            "a page without a value array".to_owned(),
            attempt,
        )),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            let text = e.to_string();
            let detail = match text.find(" at line ") {
                Some(at) => text.get(..at).unwrap_or_default().to_owned(),
                None => text,
            };
            Err(malformed(detail, attempt))
        }
        Err(e) => Err(malformed(
            format!(
                "a page that is not valid JSON (line {} column {})",
                e.line(),
                e.column()
            ),
            attempt,
        )),
    }
}

/// A page as decoded: `records` is `None` when the reply had no `value` array.
struct Decoded {
    records: Option<Vec<Record>>,
    more: bool,
    paging_cookie: Option<String>,
}

const NOT_AN_OBJECT: &str = "a page that is not a JSON object";
const NO_VALUE_ARRAY: &str = "a page without a value array";
const NON_OBJECT_RECORD: &str = "a page whose value holds a non-object";
/// The per-record annotation skipped while decoding.
const ETAG: &str = "@odata.etag";

/// The reply object: `value`, `morerecords` and the paging cookie; other keys skipped.
struct PageVisitor;

impl<'de> serde::de::Visitor<'de> for PageVisitor {
    type Value = Decoded;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NOT_AN_OBJECT)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Decoded, A::Error> {
        let mut page = Decoded {
            records: None,
            more: false,
            paging_cookie: None,
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "value" => page.records = Some(map.next_value_seed(RecordsSeed)?),
                MORE_RECORDS => {
                    page.more = map.next_value::<Value>()?.as_bool().unwrap_or(false);
                }
                PAGING_COOKIE => {
                    page.paging_cookie = match map.next_value::<Value>()? {
                        Value::String(cookie) => Some(cookie),
                        _ => None,
                    };
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(page)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Decoded, A::Error> {
        Err(serde::de::Error::custom(NOT_AN_OBJECT))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Decoded, E> {
        Err(E::custom(NOT_AN_OBJECT))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Decoded, E> {
        Err(E::custom(NOT_AN_OBJECT))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Decoded, E> {
        Err(E::custom(NOT_AN_OBJECT))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Decoded, E> {
        Err(E::custom(NOT_AN_OBJECT))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Decoded, E> {
        Err(E::custom(NOT_AN_OBJECT))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Decoded, E> {
        Err(E::custom(NOT_AN_OBJECT))
    }
}

/// `value`: an array of record objects.
struct RecordsSeed;

impl<'de> serde::de::DeserializeSeed<'de> for RecordsSeed {
    type Value = Vec<Record>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Record>, D::Error> {
        d.deserialize_any(RecordsVisitor)
    }
}

struct RecordsVisitor;

impl<'de> serde::de::Visitor<'de> for RecordsVisitor {
    type Value = Vec<Record>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NO_VALUE_ARRAY)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Record>, A::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(5_000));
        while let Some(record) = seq.next_element_seed(RecordSeed)? {
            records.push(record);
        }
        Ok(records)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Vec<Record>, A::Error> {
        Err(serde::de::Error::custom(NO_VALUE_ARRAY))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Vec<Record>, E> {
        Err(E::custom(NO_VALUE_ARRAY))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Vec<Record>, E> {
        Err(E::custom(NO_VALUE_ARRAY))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Vec<Record>, E> {
        Err(E::custom(NO_VALUE_ARRAY))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Vec<Record>, E> {
        Err(E::custom(NO_VALUE_ARRAY))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Vec<Record>, E> {
        Err(E::custom(NO_VALUE_ARRAY))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<Record>, E> {
        Err(E::custom(NO_VALUE_ARRAY))
    }
}

/// One record object, its `@odata.etag` skipped.
struct RecordSeed;

impl<'de> serde::de::DeserializeSeed<'de> for RecordSeed {
    type Value = Record;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Record, D::Error> {
        d.deserialize_any(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> serde::de::Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NON_OBJECT_RECORD)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut record = Record::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == ETAG {
                map.next_value::<serde::de::IgnoredAny>()?;
            } else {
                let value = map.next_value::<Value>()?;
                record.insert(key, value);
            }
        }
        Ok(record)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Record, A::Error> {
        Err(serde::de::Error::custom(NON_OBJECT_RECORD))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Record, E> {
        Err(E::custom(NON_OBJECT_RECORD))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Record, E> {
        Err(E::custom(NON_OBJECT_RECORD))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Record, E> {
        Err(E::custom(NON_OBJECT_RECORD))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Record, E> {
        Err(E::custom(NON_OBJECT_RECORD))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Record, E> {
        Err(E::custom(NON_OBJECT_RECORD))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Record, E> {
        Err(E::custom(NON_OBJECT_RECORD))
    }
}

/// Reads the one inner response of a `$batch` reply: `HTTP/1.1 200 OK`, headers, a blank
/// line, the JSON body, then the closing boundary.
pub(super) fn batch_page(reply: &Reply, attempt: u32) -> Result<FetchPage, Failure> {
    let text = String::from_utf8_lossy(&reply.body);
    let start = text.find("HTTP/1.1 ").ok_or_else(|| {
        malformed(
            "a $batch reply without an inner response".to_owned(),
            attempt,
        )
    })?;
    let inner = text.get(start..).unwrap_or_default();
    let status: u16 = inner
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            malformed(
                "a $batch inner response without a status".to_owned(),
                attempt,
            )
        })?;
    let body_start = inner
        .find("\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| inner.find("\n\n").map(|i| i + 2))
        .ok_or_else(|| malformed("a $batch inner response without a body".to_owned(), attempt))?;
    let rest = inner.get(body_start..).unwrap_or_default();
    let body = match rest.find("\n--") {
        Some(end) => rest.get(..end).unwrap_or_default(),
        None => rest,
    }
    .trim();
    if (200..300).contains(&status) {
        return page(body.as_bytes(), attempt);
    }
    let (code, message) = dataverse_error(body.as_bytes());
    if status == 429 || status >= 500 {
        let error = DynamicsError::Server {
            service: SERVICE,
            status,
            message,
            attempts: attempt,
        };
        return Err(match status {
            429 => Failure::throttled(error, None),
            _ => Failure::from(error),
        });
    }
    Err(Failure::from(DynamicsError::from_dataverse_reply(
        status, code, message,
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_page_reads_records_and_annotations() {
        let body = br#"{"@Microsoft.Dynamics.CRM.morerecords":true,"@Microsoft.Dynamics.CRM.fetchxmlpagingcookie":"<cookie/>","value":[{"contactid":"a"}]}"#;
        let page = page(body, 1).unwrap();
        assert!(page.more);
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.paging_cookie.as_deref(), Some("<cookie/>"));
    }

    #[test]
    fn malformed_pages_are_transient_errors_not_panics() {
        for body in [
            &b"{\"value\":[{\"a\""[..],
            b"[]",
            b"{\"value\":3}",
            b"{\"value\":[1]}",
        ] {
            let failure = page(body, 2).unwrap_err();
            assert!(failure.error.kind().is_transient());
            assert!(
                failure.error.to_string().contains("malformed"),
                "{}",
                failure.error
            );
        }
    }

    #[test]
    fn records_are_decoded_without_their_etag_and_in_order() {
        let body = br#"{"@odata.context":"x","value":[{"@odata.etag":"W/\"1\"","contactid":"a","n":1,"gendercode@OData.Community.Display.V1.FormattedValue":"Male","o":{"k":[1,"x"]}},{"contactid":"b"}],"@odata.nextLink":"y"}"#;
        let page = page(body, 1).unwrap();
        assert!(!page.more);
        assert_eq!(page.paging_cookie, None);
        assert_eq!(page.records.len(), 2);
        let first = page.records.first().unwrap();
        assert_eq!(
            first.keys().collect::<Vec<_>>(),
            [
                "contactid",
                "n",
                "gendercode@OData.Community.Display.V1.FormattedValue",
                "o"
            ]
        );
        assert_eq!(first.get("o"), Some(&serde_json::json!({"k": [1, "x"]})));
    }

    #[test]
    fn each_malformed_shape_is_named() {
        for (body, says) in [
            (&b"[]"[..], "not a JSON object"),
            (b"\"text\"", "not a JSON object"),
            (b"{}", "without a value array"),
            (b"{\"value\":null}", "without a value array"),
            (b"{\"value\":{}}", "without a value array"),
            (b"{\"value\":[{},[]]}", "holds a non-object"),
            (b"{\"value\":[]} x", "not valid JSON"),
            (b"{\"value\":[{\"a\":1,}]}", "not valid JSON"),
        ] {
            let failure = page(body, 1).unwrap_err();
            let text = failure.error.to_string();
            assert!(
                text.contains(says),
                "{}: {text}",
                String::from_utf8_lossy(body)
            );
            assert!(!text.contains(" at line "), "{text}");
        }
    }

    #[test]
    fn a_batch_reply_yields_its_inner_page() {
        let body = "--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"value\":[{\"contactid\":\"a\"}]}\r\n--batchresponse_1--\r\n";
        let reply = Reply {
            status: 200,
            body: body.as_bytes().to_vec(),
        };
        assert_eq!(batch_page(&reply, 1).unwrap().records.len(), 1);
        let bad = "--b\r\n\r\nHTTP/1.1 400 Bad Request\r\n\r\n{\"error\":{\"code\":\"0x80041103\",\"message\":\"x Name = 'foo' y\"}}\r\n--b--";
        let reply = Reply {
            status: 200,
            body: bad.as_bytes().to_vec(),
        };
        assert!(
            batch_page(&reply, 1)
                .unwrap_err()
                .error
                .to_string()
                .contains("'foo'")
        );
    }
}

//! Decoding a FetchXML page reply: the JSON page read straight into its records, and the
//! one inner response of a `$batch` reply.

use dynsync_domain::Record;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
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
    let decoded = Only(PageObject)
        .deserialize(&mut deserializer)
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

/// One JSON shape of a page reply (the reply object, its `value` array, a record object),
/// read by [`Only`]: a shape reads an object or an array, and any other JSON (or the other
/// of the two) is refused with the shape's own message, which names no value, so no
/// record's contents reach an error.
trait Shape<'de>: Sized {
    type Value;
    /// Why any other JSON is malformed.
    const REFUSAL: &'static str;

    fn object<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(Self::REFUSAL))
    }

    fn array<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(Self::REFUSAL))
    }
}

/// Reads shape `S`: the seed handed to `next_value_seed` / `next_element_seed`, and the
/// visitor that `deserialize_any` calls.
struct Only<S>(S);

impl<'de, S: Shape<'de>> DeserializeSeed<'de> for Only<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, S: Shape<'de>> Visitor<'de> for Only<S> {
    type Value = S::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(S::REFUSAL)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<S::Value, A::Error> {
        self.0.object(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<S::Value, A::Error> {
        self.0.array(seq)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<S::Value, E> {
        Err(E::custom(S::REFUSAL))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<S::Value, E> {
        Err(E::custom(S::REFUSAL))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<S::Value, E> {
        Err(E::custom(S::REFUSAL))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<S::Value, E> {
        Err(E::custom(S::REFUSAL))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<S::Value, E> {
        Err(E::custom(S::REFUSAL))
    }
    fn visit_unit<E: de::Error>(self) -> Result<S::Value, E> {
        Err(E::custom(S::REFUSAL))
    }
}

/// The reply object: `value`, `morerecords` and the paging cookie; other keys skipped.
struct PageObject;

impl<'de> Shape<'de> for PageObject {
    type Value = Decoded;
    const REFUSAL: &'static str = NOT_AN_OBJECT;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Decoded, A::Error> {
        let mut page = Decoded {
            records: None,
            more: false,
            paging_cookie: None,
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "value" => page.records = Some(map.next_value_seed(Only(RecordArray))?),
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
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(page)
    }
}

/// `value`: an array of record objects.
struct RecordArray;

impl<'de> Shape<'de> for RecordArray {
    type Value = Vec<Record>;
    const REFUSAL: &'static str = NO_VALUE_ARRAY;

    fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Record>, A::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(5_000));
        // The records of a page carry the same fields (the query's attributes), so each
        // map is sized by the record before it instead of growing 4 -> 8 -> 16 -> 32.
        let mut fields = 0;
        while let Some(record) = seq.next_element_seed(Only(RecordObject { fields }))? {
            fields = record.len();
            records.push(record);
        }
        Ok(records)
    }
}

/// One record object, its `@odata.etag` skipped; `fields` sizes its map.
struct RecordObject {
    fields: usize,
}

impl<'de> Shape<'de> for RecordObject {
    type Value = Record;
    const REFUSAL: &'static str = NON_OBJECT_RECORD;

    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut record = Record::with_capacity(self.fields);
        while let Some(key) = map.next_key::<String>()? {
            if key == ETAG {
                map.next_value::<de::IgnoredAny>()?;
            } else {
                let value = map.next_value::<Value>()?;
                record.insert(key, value);
            }
        }
        Ok(record)
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
            (b"true", "not a JSON object"),
            (b"-3", "not a JSON object"),
            (b"null", "not a JSON object"),
            (b"{\"value\":\"secret\"}", "without a value array"),
            (b"{\"value\":1.5}", "without a value array"),
            (b"{\"value\":[\"secret\"]}", "holds a non-object"),
            (b"{\"value\":[{},true]}", "holds a non-object"),
            (b"{\"value\":[7]}", "holds a non-object"),
            (b"{\"value\":[null]}", "holds a non-object"),
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
            assert!(
                !text.contains("secret"),
                "a value reached the error: {text}"
            );
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

//! FetchXML queries on an entity set (API-FACTS.md 2.3). The query travels URL-encoded in
//! `fetchXml`; when the GET URL would pass 32,768 characters it is sent inside a `$batch`
//! request (multipart/mixed), where the inner URL may be up to 64 KB.

use dynsync_domain::Record;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde_json::Value;

use crate::client::{Call, DataverseClient, SERVICE};
use crate::error::DynamicsError;
use crate::transport::{Failure, Reply, dataverse_error, note_throttle};

/// Longest GET URL Dataverse accepts.
pub const MAX_GET_URL: usize = 32_768;
/// Longest URL of a GET inside `$batch`.
pub const MAX_BATCH_URL: usize = 65_536;

const MORE_RECORDS: &str = "@Microsoft.Dynamics.CRM.morerecords";
const PAGING_COOKIE: &str = "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie";

/// Characters left as they are in a query value (RFC 3986 unreserved).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One page of a FetchXML query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FetchPage {
    pub records: Vec<Record>,
    /// Dataverse said more records follow (`morerecords`).
    pub more: bool,
    /// The raw paging-cookie annotation. The source does not follow it: its fallback
    /// synthesizes cookies from the page cursor (`dynsync_fetchxml::cookie_after`).
    pub paging_cookie: Option<String>,
}

impl DataverseClient {
    /// Runs a FetchXML query on `entity_set`; with `formatted_values` each value has its
    /// label beside it (`<field>@OData.Community.Display.V1.FormattedValue`).
    pub async fn fetch(
        &self,
        entity_set: &str,
        fetchxml: &str,
        formatted_values: bool,
    ) -> Result<FetchPage, DynamicsError> {
        if entity_set.is_empty()
            || !entity_set
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(DynamicsError::Config {
                problem: format!("'{entity_set}' is not an entity set name"),
            });
        }
        // "*" rather than a list: it is what Dataverse documents for formatted values plus
        // paging annotations, and servers that split the header on commas still read it.
        let annotations = if formatted_values {
            "*"
        } else {
            "Microsoft.Dynamics.CRM.fetchxmlpagingcookie,Microsoft.Dynamics.CRM.morerecords"
        };
        let prefer = format!("odata.include-annotations=\"{annotations}\"");
        let path = format!(
            "{entity_set}?fetchXml={}",
            utf8_percent_encode(fetchxml, QUERY_VALUE)
        );
        let url = self.url(&path)?;
        if url.as_str().len() <= MAX_GET_URL {
            let call = Call {
                method: Method::GET,
                path: &path,
                prefer: Some(&prefer),
                body: None,
            };
            return self
                .call_with(&call, |reply, attempt| page(&reply.body, attempt))
                .await;
        }
        if url.as_str().len() > MAX_BATCH_URL {
            return Err(DynamicsError::Config {
                problem: format!(
                    "the FetchXML query needs a {}-character URL, more than Dataverse accepts even in $batch ({MAX_BATCH_URL}); shorten source.filter or source.fields",
                    url.as_str().len()
                ),
            });
        }
        tracing::debug!(
            url_len = url.as_str().len(),
            "FetchXML query sent through $batch"
        );
        let boundary = format!("batch_{}", uuid::Uuid::new_v4().simple());
        let body = format!(
            "--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET {url} HTTP/1.1\r\nAccept: application/json\r\nOData-MaxVersion: 4.0\r\nOData-Version: 4.0\r\nPrefer: {prefer}\r\n\r\n--{boundary}--\r\n"
        );
        let call = Call {
            method: Method::POST,
            path: "$batch",
            prefer: None,
            body: Some((
                format!("multipart/mixed; boundary={boundary}"),
                body.into_bytes(),
            )),
        };
        self.call_with(&call, batch_page).await
    }
}

fn malformed(detail: String, attempt: u32) -> Failure {
    Failure::from(DynamicsError::MalformedReply {
        service: SERVICE,
        detail,
        attempts: attempt,
    })
}

/// Reads a page reply; anything but `{"value": [objects...]}` is malformed.
fn page(body: &[u8], attempt: u32) -> Result<FetchPage, Failure> {
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        malformed(
            format!(
                "a page that is not valid JSON (line {} column {})",
                e.line(),
                e.column()
            ),
            attempt,
        )
    })?;
    let Value::Object(mut object) = json else {
        return Err(malformed(
            "a page that is not a JSON object".to_owned(),
            attempt,
        ));
    };
    let Some(Value::Array(values)) = object.remove("value") else {
        return Err(malformed(
            "a page without a value array".to_owned(),
            attempt,
        ));
    };
    let records = values
        .into_iter()
        .map(|v| match v {
            Value::Object(record) => Ok(record),
            _ => Err(malformed(
                "a page whose value holds a non-object".to_owned(),
                attempt,
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FetchPage {
        records,
        more: object
            .get(MORE_RECORDS)
            .and_then(Value::as_bool)
            .unwrap_or(false),
        paging_cookie: object
            .get(PAGING_COOKIE)
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// Reads the one inner response of a `$batch` reply: `HTTP/1.1 200 OK`, headers, a blank
/// line, the JSON body, then the closing boundary.
fn batch_page(reply: &Reply, attempt: u32) -> Result<FetchPage, Failure> {
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
    if status == 429 {
        note_throttle();
    }
    if status == 429 || status >= 500 {
        return Err(Failure::from(DynamicsError::Server {
            service: SERVICE,
            status,
            message,
            attempts: attempt,
        }));
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

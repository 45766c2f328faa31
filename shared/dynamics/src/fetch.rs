//! FetchXML queries on an entity set (API-FACTS.md 2.3). The query travels URL-encoded in
//! `fetchXml`; when the GET URL would pass 32,768 characters it is sent inside a `$batch`
//! request (multipart/mixed), where the inner URL may be up to 64 KB.

use dynsync_domain::Record;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;

use crate::client::{Call, DataverseClient};
use crate::error::DynamicsError;

mod decode;

use decode::{batch_page, page};

/// Longest GET URL Dataverse accepts.
pub const MAX_GET_URL: usize = 32_768;
/// Longest URL of a GET inside `$batch`.
pub const MAX_BATCH_URL: usize = 65_536;

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
    /// Throttled replies Dataverse gave on the way to this page (each waited out).
    pub throttles: u32,
}

/// Decodes a FetchXML page reply as [`DataverseClient::fetch`] does: the records straight
/// from the JSON, each `@odata.etag` skipped. Public for the mapping benchmark, which
/// measures the page path from the reply's bytes.
pub fn decode_page(body: &[u8]) -> Result<FetchPage, DynamicsError> {
    page(body, 1).map_err(|failure| failure.error)
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
                .call_counted(&call, |reply, attempt| page(&reply.body, attempt))
                .await
                .map(with_throttles);
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
        self.call_counted(&call, batch_page)
            .await
            .map(with_throttles)
    }
}

fn with_throttles((page, throttles): (FetchPage, u32)) -> FetchPage {
    FetchPage { throttles, ..page }
}

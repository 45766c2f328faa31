//! Change tracking (API-FACTS.md 2.6, ARCHITECTURE.md section 9) in two steps, because a
//! tracked read refuses `$filter`:
//!
//! 1. [`DataverseClient::change_page`] reads one page of changes: the initial full read
//!    `GET <entity_set>?$select=<primary id>` with `Prefer: odata.track-changes,
//!    odata.maxpagesize=<page_size>`, or a link of an earlier page (`@odata.nextLink`) or
//!    run (`@odata.deltaLink`), followed only when it points at `web_api_url`'s scheme,
//!    host, port and path. It returns the changed ids (in Dataverse's order), the deleted
//!    ids, and the next or delta link. Dataverse's `ExpiredVersionStamp` becomes
//!    [`DynamicsError::ChangeTokenExpired`], its `ChangeTrackingNotEnabledForEntity`
//!    [`DynamicsError::ChangeTrackingOff`] naming the table and the setting to turn on.
//! 2. [`DataverseClient::fetch_ids`] reads those ids' records with the definition's fields
//!    and record filter through FetchXML `in` conditions ([`dynsync_fetchxml::ids_query`]),
//!    in batches of [`IDS_PER_QUERY`] (a batch's GET URL stays under 32,768 characters for
//!    ordinary filters; a longer one goes through `$batch`, as every FetchXML query does).
//!    An id the reply lacks is one the filter does not select (or one deleted since).
//!
//! Every count read from a reply is bounded: a page holds at most [`MAX_CHANGES_PER_PAGE`]
//! entries, a link at most [`MAX_LINK`] characters, a batch's reply at most its ids.

use std::collections::{HashMap, HashSet};

use dynsync_domain::Record;
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::client::{Call, DataverseClient, SERVICE};
use crate::error::DynamicsError;
use crate::transport::Failure;

/// Ids per `in` query: about 24,000 characters of the GET URL for the ids.
pub const IDS_PER_QUERY: usize = 400;
/// Most entries (changed rows and deletions) one change page may hold.
pub const MAX_CHANGES_PER_PAGE: usize = 10_000;
/// Longest continuation or delta link accepted (Dataverse's GET URL limit).
pub const MAX_LINK: usize = 32_768;
/// Dataverse's largest `odata.maxpagesize`.
const MAX_PAGE_SIZE: u32 = 5_000;

/// One page of a change-tracking read, before the records are fetched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeRead {
    /// Primary ids of rows created or updated (on a full read: every row), in order.
    pub changed: Vec<String>,
    /// Primary ids of rows deleted.
    pub deleted: Vec<String>,
    /// The next page of this read.
    pub next_link: Option<String>,
    /// On the read's last page: where the next read starts.
    pub delta_link: Option<String>,
    /// Throttled replies Dataverse gave on the way to this page (each waited out).
    pub throttles: u32,
}

/// The records of a change page's ids ([`DataverseClient::fetch_ids`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FetchedIds {
    /// The records the filter selects, in the order of the ids asked.
    pub records: Vec<Record>,
    /// The ids not returned (not selected by the filter, or deleted since).
    pub missing: Vec<String>,
    /// Throttled replies Dataverse gave on the way (each waited out).
    pub throttles: u32,
}

/// Which table a change read is for.
#[derive(Debug, Clone, Copy)]
pub struct ChangeTable<'a> {
    /// Logical name (`contact`), for error messages.
    pub entity: &'a str,
    pub entity_set: &'a str,
    pub primary_id: &'a str,
}

impl DataverseClient {
    /// Reads one page of changes of `table`: from `link` (a next or delta link), or, with
    /// `None`, the first page of a full read that starts tracking.
    pub async fn change_page(
        &self,
        table: ChangeTable<'_>,
        page_size: u32,
        link: Option<&str>,
    ) -> Result<ChangeRead, DynamicsError> {
        for (what, name) in [
            ("an entity set", table.entity_set),
            ("a primary id attribute", table.primary_id),
        ] {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(DynamicsError::Config {
                    problem: format!("'{name}' is not {what} name"),
                });
            }
        }
        let path = match link {
            Some(link) => self.trusted_link(link)?,
            None => format!("{}?$select={}", table.entity_set, table.primary_id),
        };
        let prefer = format!(
            "odata.track-changes,odata.maxpagesize={}",
            page_size.clamp(1, MAX_PAGE_SIZE)
        );
        let call = Call {
            method: Method::GET,
            path: &path,
            prefer: Some(&prefer),
            body: None,
        };
        self.call_counted(&call, |reply, attempt| {
            read_changes(&reply.body, table.primary_id).map_err(|detail| {
                Failure::from(DynamicsError::MalformedReply {
                    service: SERVICE,
                    detail: format!("a change page of '{}' {detail}", table.entity),
                    attempts: attempt,
                })
            })
        })
        .await
        .map(|(read, throttles)| ChangeRead { throttles, ..read })
        .map_err(|e| match e {
            DynamicsError::ChangeTrackingOff { .. } => DynamicsError::ChangeTrackingOff {
                entity: table.entity.to_owned(),
            },
            other => other,
        })
    }

    /// The records of `ids` that `filter` (a record filter's `<filter>` block) selects,
    /// with `fields`, in the order of `ids`, and the ids not returned.
    pub async fn fetch_ids(
        &self,
        table: ChangeTable<'_>,
        fields: &[String],
        filter: Option<&str>,
        ids: &[String],
    ) -> Result<FetchedIds, DynamicsError> {
        let mut found: HashMap<Uuid, Record> = HashMap::with_capacity(ids.len());
        let mut throttles = 0u32;
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let fetchxml =
                dynsync_fetchxml::ids_query(table.entity, table.primary_id, fields, filter, chunk)?;
            let page = self.fetch(table.entity_set, &fetchxml, false).await?;
            throttles = throttles.saturating_add(page.throttles);
            if page.records.len() > chunk.len() {
                return Err(DynamicsError::MalformedReply {
                    service: SERVICE,
                    detail: format!(
                        "{} records of '{}' for {} ids asked",
                        page.records.len(),
                        table.entity,
                        chunk.len()
                    ),
                    attempts: 1,
                });
            }
            let asked: HashSet<Uuid> = chunk.iter().filter_map(|id| guid(id)).collect();
            for record in page.records {
                let id = record
                    .get(table.primary_id)
                    .and_then(Value::as_str)
                    .and_then(guid)
                    .filter(|id| asked.contains(id))
                    .ok_or_else(|| DynamicsError::MalformedReply {
                        service: SERVICE,
                        detail: format!(
                            "a record of '{}' without one of the asked primary ids '{}'",
                            table.entity, table.primary_id
                        ),
                        attempts: 1,
                    })?;
                found.insert(id, record);
            }
        }
        let mut records = Vec::with_capacity(found.len());
        let mut missing = Vec::new();
        for id in ids {
            match guid(id).and_then(|g| found.remove(&g)) {
                Some(record) => records.push(record),
                None => missing.push(id.clone()),
            }
        }
        Ok(FetchedIds {
            records,
            missing,
            throttles,
        })
    }

    /// `link` when it points at `web_api_url` (scheme, host, port, and below its path).
    fn trusted_link(&self, link: &str) -> Result<String, DynamicsError> {
        let base = self.url("")?;
        let expected = origin(&base);
        if link.len() > MAX_LINK {
            return Err(DynamicsError::UntrustedLink {
                got: format!("a {}-character link", link.len()),
                expected,
            });
        }
        let parsed = url::Url::parse(link).map_err(|_| DynamicsError::UntrustedLink {
            got: "something that is not an absolute URL".to_owned(),
            expected: expected.clone(),
        })?;
        let same = parsed.scheme() == base.scheme()
            && parsed.host_str() == base.host_str()
            && parsed.port_or_known_default() == base.port_or_known_default()
            && parsed.username().is_empty()
            && parsed.password().is_none()
            && parsed.path().starts_with(base.path());
        if !same {
            return Err(DynamicsError::UntrustedLink {
                got: format!("{}{}", origin(&parsed), parsed.path()),
                expected: format!("{expected}{}", base.path()),
            });
        }
        Ok(parsed.to_string())
    }
}

/// `https://host:port` of a URL (never its query, which may be long).
fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

fn guid(text: &str) -> Option<Uuid> {
    Uuid::parse_str(text.trim().trim_matches(|c| c == '{' || c == '}')).ok()
}

/// Reads a change page: `value` entries are changed rows (with the primary id) or
/// `$deletedEntity` entries (`id`, `reason: deleted`); then the next or delta link.
fn read_changes(body: &[u8], primary_id: &str) -> Result<ChangeRead, String> {
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "is not valid JSON (line {} column {})",
            e.line(),
            e.column()
        )
    })?;
    let values = json
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| "has no value array".to_owned())?;
    if values.len() > MAX_CHANGES_PER_PAGE {
        return Err(format!(
            "holds {} entries, more than {MAX_CHANGES_PER_PAGE}",
            values.len()
        ));
    }
    let mut read = ChangeRead::default();
    for (i, entry) in values.iter().enumerate() {
        let Some(entry) = entry.as_object() else {
            return Err(format!("has entry {} that is not an object", i + 1));
        };
        let deleted = entry.get("reason").and_then(Value::as_str) == Some("deleted")
            || entry
                .get("@odata.context")
                .and_then(Value::as_str)
                .is_some_and(|c| c.ends_with("$deletedEntity"));
        let key = if deleted { "id" } else { primary_id };
        let id = entry
            .get(key)
            .and_then(Value::as_str)
            .filter(|id| guid(id).is_some())
            .ok_or_else(|| {
                format!(
                    "has {} entry {} without a GUID '{key}'",
                    if deleted { "deleted" } else { "changed" },
                    i + 1
                )
            })?;
        if deleted {
            read.deleted.push(id.to_owned());
        } else {
            read.changed.push(id.to_owned());
        }
    }
    let link = |key: &str| -> Result<Option<String>, String> {
        match json.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= MAX_LINK => Ok(Some(s.clone())),
            Some(Value::String(s)) => Err(format!("has a {}-character {key}", s.len())),
            Some(_) => Err(format!("has a {key} that is not a string")),
        }
    };
    read.next_link = link("@odata.nextLink")?;
    read.delta_link = if read.next_link.is_some() {
        None
    } else {
        link("@odata.deltaLink")?
    };
    if read.next_link.is_none() && read.delta_link.is_none() {
        return Err("has neither @odata.nextLink nor @odata.deltaLink".to_owned());
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const A: &str = "00000000-0000-0000-0000-00000000000a";
    const B: &str = "00000000-0000-0000-0000-00000000000b";

    #[test]
    fn a_page_splits_changed_and_deleted_ids_and_keeps_the_link() {
        let body = format!(
            r#"{{"value":[{{"contactid":"{A}"}},{{"@odata.context":"x/$metadata#contacts/$deletedEntity","id":"{B}","reason":"deleted"}}],"@odata.deltaLink":"https://o/api/data/v9.2/contacts?$deltatoken=1"}}"#
        );
        let read = read_changes(body.as_bytes(), "contactid").unwrap();
        assert_eq!(read.changed, vec![A]);
        assert_eq!(read.deleted, vec![B]);
        assert!(read.next_link.is_none());
        assert!(read.delta_link.unwrap().ends_with("deltatoken=1"));
    }

    #[test]
    fn malformed_pages_say_what_is_wrong() {
        for (body, says) in [
            (
                r#"{"value":[{"firstname":"x"}],"@odata.deltaLink":"l"}"#,
                "without a GUID",
            ),
            (
                r#"{"value":[{"contactid":"nope"}],"@odata.deltaLink":"l"}"#,
                "without a GUID",
            ),
            (r#"{"value":[]}"#, "neither"),
            (r#"{"value":[], "@odata.nextLink": 3}"#, "not a string"),
            (r#"[]"#, "no value"),
        ] {
            let error = read_changes(body.as_bytes(), "contactid").unwrap_err();
            assert!(error.contains(says), "{body}: {error}");
        }
        let many = format!(
            r#"{{"value":[{}],"@odata.deltaLink":"l"}}"#,
            vec![format!(r#"{{"contactid":"{A}"}}"#); MAX_CHANGES_PER_PAGE + 1].join(",")
        );
        assert!(
            read_changes(many.as_bytes(), "contactid")
                .unwrap_err()
                .contains("more than")
        );
    }
}

//! A fetched page read for paging: each record's primary id checked and placed in SQL Server
//! GUID order, the next cursor chosen, and, on the paging-cookie fallback, the partition's
//! bounds applied client-side.

use dynsync_domain::Record;
use dynsync_domain::ports::PageRequest;
use dynsync_fetchxml::sql_server_key;
use serde_json::Value;
use uuid::Uuid;

use crate::client::SERVICE;
use crate::error::DynamicsError;
use crate::fetch::FetchPage;

/// A page's records, the cursor of the next page, and the throttled replies Dataverse
/// gave on the way.
pub(super) struct Paged {
    pub(super) records: Vec<Record>,
    pub(super) next_cursor: Option<String>,
    pub(super) throttles: u32,
}

/// Whether more pages follow a page of `len` records.
fn more_follow(request: &PageRequest<'_>, len: usize, more: bool) -> bool {
    let page_size = request.integration.definition().dynamics.page_size;
    more || u32::try_from(len).is_ok_and(|n| n >= page_size)
}

pub(super) fn keyset_page(
    request: &PageRequest<'_>,
    page: FetchPage,
) -> Result<Paged, DynamicsError> {
    let keys = primary_keys(request, &page.records)?;
    let next_cursor = match keys.last() {
        Some((_, id)) if more_follow(request, page.records.len(), page.more) => Some(id.clone()),
        _ => None,
    };
    Ok(Paged {
        records: page.records,
        next_cursor,
        throttles: page.throttles,
    })
}

/// A page of the paging-cookie fallback: the partition's bounds applied here.
pub(super) fn cookie_page(
    request: &PageRequest<'_>,
    page: FetchPage,
) -> Result<Paged, DynamicsError> {
    let keys = primary_keys(request, &page.records)?;
    let bound = |what, value: Option<&str>| {
        value
            .map(|v| dynsync_fetchxml::parse_guid(what, v).map(|id| sql_server_key(&id)))
            .transpose()
    };
    let partition = request.partition;
    let after = bound("the partition start", partition.after.as_deref())?;
    let cursor = bound("the page cursor", request.cursor)?;
    let until = bound("the partition end", partition.until.as_deref())?;
    let start = after.max(cursor);
    let next = match keys.last() {
        // A page ending at the partition's end (or past it) is its last.
        Some((key, _)) if until.is_some_and(|until| *key >= until) => None,
        Some((_, id)) if more_follow(request, page.records.len(), page.more) => Some(id.clone()),
        _ => None,
    };
    let mut past_end = false;
    let records = page
        .records
        .into_iter()
        .zip(keys)
        .filter(|(_, (key, _))| {
            if until.is_some_and(|until| *key > until) {
                past_end = true;
                return false;
            }
            start.is_none_or(|start| *key > start)
        })
        .map(|(record, _)| record)
        .collect();
    Ok(Paged {
        records,
        next_cursor: if past_end { None } else { next },
        throttles: page.throttles,
    })
}

/// Each record's position in SQL Server order and its primary id; a record without a
/// primary id, or with one that is not a GUID, makes the page malformed (paging must not end
/// there silently, nor go on from a wrong position).
fn primary_keys(
    request: &PageRequest<'_>,
    records: &[Record],
) -> Result<Vec<(u128, String)>, DynamicsError> {
    let plan = request.plan;
    let malformed = |position: usize, problem: String| DynamicsError::MalformedReply {
        service: SERVICE,
        detail: format!(
            "record {} of {} in the page of '{}' {problem}",
            position + 1,
            records.len(),
            plan.entity
        ),
        attempts: 1,
    };
    records
        .iter()
        .enumerate()
        .map(|(i, record)| match record.get(&plan.primary_id) {
            None | Some(Value::Null) => Err(malformed(
                i,
                format!("has no primary id '{}'", plan.primary_id),
            )),
            Some(Value::String(id)) => Uuid::parse_str(id)
                .map(|uuid| (sql_server_key(&uuid), id.clone()))
                .map_err(|_| {
                    malformed(
                        i,
                        format!(
                            "has a primary id '{}' that is not a GUID: '{id}'",
                            plan.primary_id
                        ),
                    )
                }),
            Some(other) => Err(malformed(
                i,
                format!(
                    "has a primary id '{}' that is not a GUID but {}",
                    plan.primary_id,
                    json_type(other)
                ),
            )),
        })
        .collect()
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

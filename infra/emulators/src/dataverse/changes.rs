//! Change tracking (`Prefer: odata.track-changes`): a `$deltatoken` holds the change-log
//! version it was issued at; a delta request returns rows written since then, followed by
//! `$deletedEntity` entries for rows deleted since then, and a new `@odata.deltaLink`.
//!
//! Paging: with `Prefer: odata.maxpagesize=N` (default 5,000) a delta read returns at most N
//! entries a page (changed rows in primary-id order, then deletions in the order they
//! happened) and an `@odata.nextLink` that keeps the `$deltatoken` and adds a `$skiptoken`
//! holding the version the read covers up to (fixed by its first page) and where it stopped.
//! A row written while the read pages is left to the next read (its delta link starts at
//! that version), so every change is reported exactly once.
//!
//! Expiry: a token issued before [`super::store::DataStore::expire_change_tokens`], or one
//! this organization never issued (a version ahead of its change log), is answered with
//! Dataverse's `ExpiredVersionStamp` error (0x80044352, "Version stamp associated with the
//! client has expired. Please perform a full sync."), HTTP 400.

use super::errors::ApiError;
use super::guid_order::SqlGuid;
use super::schema::EntityDef;
use super::store::{Row, State};
use super::values::parse_guid;
use super::web_api::Reply;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Dataverse's `ExpiredVersionStamp` error.
pub fn expired() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "0x80044352",
        "Version stamp associated with the client has expired. Please perform a full sync.",
    )
}

/// Dataverse's `ChangeTrackingNotEnabledForEntity` error.
pub fn not_enabled(entity: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "0x80072491",
        format!("Entity {entity} isn't enabled for change tracking."),
    )
}

/// A delta token for changes after `version`: the change-log version, then the time, as
/// Dataverse shapes it (`919042!08/22/2017 08:10:44`).
pub fn delta_token_at(st: &State, version: u64) -> String {
    format!("{version}!{}", st.clock().format("%m/%d/%Y %H:%M:%S"))
}

/// The version a token was issued at, when this organization still keeps changes since it.
fn token_version(st: &State, token: &str) -> Result<u64, ApiError> {
    let version = token
        .split('!')
        .next()
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::bad_query(format!(
                "The $deltatoken '{token}' is not valid; start a new change-tracking sync."
            ))
        })?;
    if version < st.tokens_valid_from || version > st.version {
        return Err(expired());
    }
    Ok(version)
}

/// Where a delta read's next page starts: after a changed row, or after a deletion (its
/// index in the change log's deletions).
#[derive(Debug, Clone, Copy)]
enum Resume {
    AfterRow(SqlGuid),
    AfterDeletion(usize),
}

/// The `$skiptoken` of a delta read: `until!r!{guid}` or `until!d!{index}`.
fn skiptoken(until: u64, resume: Resume) -> String {
    match resume {
        Resume::AfterRow(g) => format!("{until}!r!{}", g.uuid()),
        Resume::AfterDeletion(i) => format!("{until}!d!{i}"),
    }
}

fn read_skiptoken(tok: &str) -> Result<(u64, Resume), ApiError> {
    let bad = || {
        ApiError::bad_query(format!(
            "The $skiptoken '{tok}' is not valid; follow @odata.nextLink verbatim."
        ))
    };
    let mut parts = tok.splitn(3, '!');
    let until = parts
        .next()
        .and_then(|u| u.parse::<u64>().ok())
        .ok_or_else(bad)?;
    let resume = match (parts.next(), parts.next()) {
        (Some("r"), Some(id)) => Resume::AfterRow(SqlGuid::new(parse_guid(id).ok_or_else(bad)?)),
        (Some("d"), Some(i)) => Resume::AfterDeletion(i.parse::<usize>().map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    Ok((until, resume))
}

/// One entry of a delta page.
enum Entry<'a> {
    Row(&'a Row),
    Deletion(usize),
}

/// Serves a delta request; `size` is the page size (`odata.maxpagesize`, else 5,000).
#[allow(clippy::too_many_arguments)]
pub fn delta(
    st: &State,
    web: &str,
    set: &str,
    def: &EntityDef,
    token: &str,
    q: &[(String, String)],
    size: usize,
    render_row: &dyn Fn(&Row) -> Value,
) -> Result<Reply, ApiError> {
    let ctx = format!("{web}/$metadata#{set}");
    let since = token_version(st, token)?;
    let skip = q
        .iter()
        .find(|(k, _)| k == "$skiptoken")
        .map(|(_, v)| read_skiptoken(v))
        .transpose()?;
    let (until, resume) = match skip {
        Some((until, resume)) => {
            if until < since || until > st.version {
                return Err(expired());
            }
            (until, Some(resume))
        }
        None => (st.version, None),
    };
    let in_range = |version: u64| version > since && version <= until;
    let mut entries: Vec<Entry<'_>> = Vec::new();
    let mut more = false;
    let row_start = match resume {
        Some(Resume::AfterRow(g)) => Some(std::ops::Bound::Excluded(g)),
        Some(Resume::AfterDeletion(_)) => None,
        None => Some(std::ops::Bound::Unbounded),
    };
    if let (Some(lo), Some(table)) = (row_start, st.tables.get(def.logical_name)) {
        for row in table
            .range::<SqlGuid, _>((lo, std::ops::Bound::Unbounded))
            .map(|(_, r)| r)
            .filter(|r| in_range(r.version))
        {
            if entries.len() >= size {
                more = true;
                break;
            }
            entries.push(Entry::Row(row));
        }
    }
    if !more {
        let after = match resume {
            Some(Resume::AfterDeletion(i)) => Some(i),
            _ => None,
        };
        for (i, d) in st.deletions.iter().enumerate() {
            if after.is_some_and(|a| i <= a) || d.entity != def.logical_name || !in_range(d.version)
            {
                continue;
            }
            if entries.len() >= size {
                more = true;
                break;
            }
            entries.push(Entry::Deletion(i));
        }
    }
    let mut value: Vec<Value> = Vec::with_capacity(entries.len());
    for entry in &entries {
        match entry {
            Entry::Row(row) => value.push(render_row(row)),
            Entry::Deletion(i) => {
                if let Some(d) = st.deletions.get(*i) {
                    value.push(json!({ "@odata.context": format!("{ctx}/$deletedEntity"), "id": d.id.to_string(), "reason": "deleted" }));
                }
            }
        }
    }
    let mut body = json!({ "@odata.context": format!("{ctx}/$delta"), "value": value });
    let last = entries.last().map(|e| match e {
        Entry::Row(row) => Resume::AfterRow(SqlGuid::new(row.id)),
        Entry::Deletion(i) => Resume::AfterDeletion(*i),
    });
    match (more, last) {
        (true, Some(last)) => {
            let next = link(web, set, q, token, Some(&skiptoken(until, last)));
            body["@odata.nextLink"] = json!(next);
        }
        _ => {
            let next = link(web, set, q, &delta_token_at(st, until), None);
            body["@odata.deltaLink"] = json!(next);
        }
    }
    let mut r = Reply::json(StatusCode::OK, &body);
    let mut applied = vec!["odata.track-changes".to_owned()];
    if size != super::fetchxml::MAX_PAGE {
        applied.push(format!("odata.maxpagesize={size}"));
    }
    r.headers
        .push(("Preference-Applied".into(), applied.join(",")));
    Ok(r)
}

/// The query with `$deltatoken` (and `$skiptoken` when given) replaced.
fn link(web: &str, set: &str, q: &[(String, String)], token: &str, skip: Option<&str>) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in q
        .iter()
        .filter(|(k, _)| k != "$skiptoken" && k != "$deltatoken")
    {
        ser.append_pair(k, v);
    }
    ser.append_pair("$deltatoken", token);
    if let Some(skip) = skip {
        ser.append_pair("$skiptoken", skip);
    }
    format!("{web}/{set}?{}", ser.finish())
}

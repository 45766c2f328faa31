//! Ordering and keyset positions: sort keys (nulls first, per-column direction), paging
//! cookie values, and the primary-id key range that turns keyset pages into range scans.

use super::ast::{Fetch, Join};
use super::cookie::CookieColumn;
use crate::dataverse::errors::ApiError;
use crate::dataverse::guid_order::SqlGuid;
use crate::dataverse::render;
use crate::dataverse::schema::{AttrDef, AttrKind, EntityDef};
use crate::dataverse::values::{FieldValue, Key, parse_literal};
use std::cmp::Ordering;
use std::ops::Bound;

pub(super) type SortKey = Vec<Option<Key>>;

pub(super) fn cmp_keys(a: &SortKey, b: &SortKey, desc: &[bool]) -> Ordering {
    for ((x, y), d) in a.iter().zip(b.iter()).zip(desc.iter()) {
        // SQL Server sorts nulls first in ascending order.
        let o = match (x, y) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.total_cmp(y),
        };
        let o = if *d { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

pub(super) fn cookie_value(kind: AttrKind, v: Option<&FieldValue>) -> String {
    match v {
        None => String::new(),
        Some(FieldValue::Guid(id) | FieldValue::Lookup { id, .. }) => {
            format!("{{{}}}", id.to_string().to_uppercase())
        }
        Some(other) => render::to_plain(kind, other).unwrap_or_default(),
    }
}

/// Key range of a primary-id-ordered scan, from top-level `and` conditions and the cookie.
pub(super) fn bounds(
    fetch: &Fetch,
    def: &EntityDef,
    after: Option<&SortKey>,
) -> (Bound<SqlGuid>, Bound<SqlGuid>) {
    let mut lo = Bound::Unbounded;
    let mut hi = Bound::Unbounded;
    let tighter_lo = |cur: Bound<SqlGuid>, new: Bound<SqlGuid>| match (&cur, &new) {
        (Bound::Unbounded, _) => new,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            if b > a { new } else { cur }
        }
        _ => cur,
    };
    let tighter_hi = |cur: Bound<SqlGuid>, new: Bound<SqlGuid>| match (&cur, &new) {
        (Bound::Unbounded, _) => new,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            if b < a { new } else { cur }
        }
        _ => cur,
    };
    if fetch.entity.filters.len() == 1 || fetch.entity.filters.iter().all(|f| f.join == Join::And) {
        for c in fetch
            .top_conditions()
            .filter(|c| c.attribute == def.primary_id)
        {
            let Some(FieldValue::Guid(id)) = c
                .value
                .as_deref()
                .and_then(|v| parse_literal(AttrKind::Uniqueidentifier, v))
            else {
                continue;
            };
            let k = SqlGuid::new(id);
            match c.operator.as_str() {
                "gt" => lo = tighter_lo(lo, Bound::Excluded(k)),
                "ge" => lo = tighter_lo(lo, Bound::Included(k)),
                "lt" => hi = tighter_hi(hi, Bound::Excluded(k)),
                "le" => hi = tighter_hi(hi, Bound::Included(k)),
                _ => {}
            }
        }
    }
    if let Some(Some(Key::Guid(g))) = after.and_then(|k| k.first()) {
        lo = tighter_lo(lo, Bound::Excluded(*g));
    }
    // An empty or inverted range would make BTreeMap::range panic: normalise it.
    let empty = match (&lo, &hi) {
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a > b
                || (a == b
                    && !(matches!(lo, Bound::Included(_)) && matches!(hi, Bound::Included(_))))
        }
        _ => false,
    };
    if empty {
        (Bound::Excluded(SqlGuid::MIN), Bound::Included(SqlGuid::MIN))
    } else {
        (lo, hi)
    }
}

pub(super) fn cookie_key(
    cols: &[CookieColumn],
    sort_cols: &[(&AttrDef, bool)],
) -> Result<SortKey, ApiError> {
    sort_cols
        .iter()
        .map(|(attr, _)| {
            let col = cols.iter().find(|c| c.name == attr.name).ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "0x80041129",
                    format!(
                        "Paging cookie and query do not match: the cookie has no value for '{}'.",
                        attr.name
                    ),
                )
            })?;
            if col.last.is_empty() {
                return Ok(None);
            }
            parse_literal(attr.kind, &col.last)
                .map(|v| Some(Key::of(&v)))
                .ok_or_else(|| {
                    ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "0x80041129",
                        format!(
                            "Paging cookie and query do not match: '{}' is not a valid '{}' value.",
                            col.last, attr.name
                        ),
                    )
                })
        })
        .collect()
}

//! OData `$skiptoken`s: Dataverse's `<cookie pagenumber=".." pagingcookie=".." />` shape,
//! holding the last row's sort values (and, for a tracked sync, the version it started at).

use super::errors::ApiError;
use super::fetchxml::cookie;
use super::render;
use super::schema::AttrDef;
use super::store::Row;
use super::values::{Key, parse_guid};

pub fn plain(a: &AttrDef, row: &Row) -> String {
    match row.fields.get(a.name) {
        None => String::new(),
        Some(v) => match v {
            super::values::FieldValue::Guid(id) => format!("{{{}}}", id.to_string().to_uppercase()),
            other => render::to_plain(a.kind, other).unwrap_or_default(),
        },
    }
}

/// A `$skiptoken`: next page number, last sort key, and the change-log version a tracked
/// sync started at.
pub type SkipToken = (usize, Vec<Option<Key>>, Option<u64>);

pub fn read(tok: &str, orders: &[(&AttrDef, bool)]) -> Result<SkipToken, ApiError> {
    let bad = || {
        ApiError::bad_query(format!(
            "The $skiptoken '{tok}' is not valid; follow @odata.nextLink verbatim."
        ))
    };
    let el = super::fetchxml::xml::parse(tok).map_err(|_| bad())?;
    let page = el
        .attr("pagenumber")
        .and_then(|p| p.parse::<usize>().ok())
        .ok_or_else(bad)?;
    let since = el
        .attr("trackingversion")
        .and_then(|v| v.parse::<u64>().ok());
    let inner = el.attr("pagingcookie").ok_or_else(bad)?;
    let decoded = percent_encoding::percent_decode_str(inner)
        .decode_utf8_lossy()
        .into_owned();
    let cols = cookie::read(&decoded)?;
    let key = orders
        .iter()
        .map(|(a, _)| {
            let c = cols.iter().find(|c| c.name == a.name).ok_or_else(bad)?;
            if c.last.is_empty() {
                return Ok(None);
            }
            if a.kind == super::schema::AttrKind::Uniqueidentifier {
                return parse_guid(&c.last)
                    .map(|g| Some(Key::Guid(g.into())))
                    .ok_or_else(bad);
            }
            super::values::parse_literal(a.kind, &c.last)
                .map(|v| Some(Key::of(&v)))
                .ok_or_else(bad)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok((page, key, since))
}

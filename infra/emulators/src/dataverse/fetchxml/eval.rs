//! Evaluates a FetchXML query against the store: validates columns, compiles conditions,
//! joins `link-entity` tables, orders, pages (page number or paging cookie) and renders rows.
//!
//! Queries ordered by the primary id (or not ordered) are range scans over the table's
//! SQL-Server-ordered index, so keyset paging stays O(log n + page) on large tables.

use super::ast::{Condition, Fetch, Item};
use super::cookie::{self, CookieColumn};
use super::keyset::{SortKey, bounds, cmp_keys, cookie_key, cookie_value};
use super::plan::{CLink, Ctx, Linked, column, compile_link, entity, join, passes};
use crate::dataverse::errors::ApiError;
use crate::dataverse::render::{self, Annotations};
use crate::dataverse::schema::{AttrDef, EntityDef};
use crate::dataverse::store::{Row, State};
use crate::dataverse::values::Key;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;

/// Largest page Dataverse serves.
pub const MAX_PAGE: usize = 5000;

/// Most rows simple paging (page numbers, no paging cookie) can reach.
pub const SIMPLE_PAGING_LIMIT: usize = 50_000;

/// One page of results.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<Map<String, Value>>,
    pub more: bool,
    /// The `fetchxmlpagingcookie` annotation value when there are more rows.
    pub cookie: Option<String>,
}

/// Runs a query; `entity_set` is the URL's entity set, which must match the `<entity>`.
pub fn execute(
    state: &State,
    entity_set: Option<&str>,
    xml: &str,
    ann: Annotations,
) -> Result<Page, ApiError> {
    let fetch = super::ast::read(xml)?;
    run(state, entity_set, &fetch, ann, false)
}

/// The error of an organization that refuses range conditions (`gt`, `ge`, `lt`, `le`) on
/// the entity's primary id, for the first such condition at any depth of the entity's
/// filters (the `refuse_primary_id_ranges` fault). Queries that do not parse, or name an
/// unknown entity, pass: [`execute`] reports those.
pub fn refuse_primary_id_ranges(state: &State, xml: &str) -> Result<(), ApiError> {
    let Ok(fetch) = super::ast::read(xml) else {
        return Ok(());
    };
    let Ok(def) = entity(state, &fetch.entity.name) else {
        return Ok(());
    };
    let refused = fetch
        .entity
        .filters
        .iter()
        .find_map(|f| primary_id_range(&f.items, def.primary_id));
    match refused {
        Some(c) => Err(ApiError::invalid_fetchxml(format!(
            "The operator '{}' is not valid for attribute '{}' of type 'Uniqueidentifier' of entity '{}'.",
            c.operator, c.attribute, def.logical_name
        ))),
        None => Ok(()),
    }
}

/// The first range condition on the primary id among `items` and their nested filters.
fn primary_id_range<'f>(items: &'f [Item], primary_id: &str) -> Option<&'f Condition> {
    items.iter().find_map(|item| match item {
        Item::Filter(f) => primary_id_range(&f.items, primary_id),
        Item::Condition(c) => (c.entity_name.is_none()
            && c.attribute == primary_id
            && matches!(c.operator.as_str(), "gt" | "ge" | "lt" | "le"))
        .then_some(c),
    })
}

/// Number of rows a query matches, ignoring paging (dynamic list member counts).
pub fn count_matches(state: &State, xml: &str) -> Result<usize, ApiError> {
    let fetch = super::ast::read(xml)?;
    Ok(run(state, None, &fetch, Annotations::default(), true)?
        .rows
        .len())
}

fn run(
    state: &State,
    entity_set: Option<&str>,
    fetch: &Fetch,
    ann: Annotations,
    all: bool,
) -> Result<Page, ApiError> {
    let def = entity(state, &fetch.entity.name)?;
    if let Some(set) = entity_set
        && set != def.entity_set
    {
        return Err(ApiError::invalid_fetchxml(format!(
            "The entity name '{}' in the FetchXML does not match the entity set '{set}' of the request.",
            def.logical_name
        )));
    }
    if fetch.aggregate {
        return Err(ApiError::invalid_fetchxml(
            "Aggregate FetchXML queries are not supported by this emulator.",
        ));
    }
    if let Some(c) = fetch.count
        && (c > MAX_PAGE || c == 0)
    {
        return Err(ApiError::invalid_fetchxml(format!(
            "The 'count' attribute of <fetch> must be between 1 and {MAX_PAGE}, got {c}."
        )));
    }
    if fetch.top.is_some() && (fetch.page.is_some() || fetch.count.is_some()) {
        return Err(ApiError::invalid_fetchxml(
            "The 'top' attribute can't be specified with paging attributes 'page' or 'count'.",
        ));
    }
    if fetch.top.is_some_and(|t| t > MAX_PAGE) {
        return Err(ApiError::invalid_fetchxml(format!(
            "The 'top' attribute cannot be greater than {MAX_PAGE}."
        )));
    }
    let ctx = Ctx {
        state,
        now: state.clock(),
    };
    let columns: Option<Vec<&AttrDef>> = if fetch.entity.all_attributes {
        None
    } else {
        Some(
            fetch
                .entity
                .attributes
                .iter()
                .map(|a| column(def, a))
                .collect::<Result<_, _>>()?,
        )
    };

    // Links and their aliases.
    let mut aliases: HashMap<String, &EntityDef> = HashMap::new();
    let mut links: Vec<CLink<'_>> = Vec::new();
    for (i, link) in fetch.entity.links.iter().enumerate() {
        links.push(compile_link(&ctx, def, link, i + 1)?);
    }
    for l in &links {
        aliases.insert(l.alias.clone(), l.def);
    }
    let filter = ctx.compile_filters(def, &fetch.entity.filters, &aliases)?;

    // Sort columns: the query's orders, then the primary id as the tie-breaker.
    let mut sort_cols: Vec<(&AttrDef, bool)> = Vec::new();
    for o in &fetch.entity.orders {
        sort_cols.push((column(def, &o.attribute)?, o.descending));
    }
    if !sort_cols.iter().any(|(a, _)| a.name == def.primary_id) {
        sort_cols.push((column(def, def.primary_id)?, false));
    }
    let desc: Vec<bool> = sort_cols.iter().map(|(_, d)| *d).collect();
    let key_of = |row: &Row| -> SortKey {
        sort_cols
            .iter()
            .map(|(a, _)| row.fields.get(a.name).map(Key::of))
            .collect()
    };

    let page_no = fetch.page.unwrap_or(1).max(1);
    let size = if all {
        usize::MAX
    } else {
        fetch.top.or(fetch.count).unwrap_or(MAX_PAGE)
    };
    let after: Option<SortKey> = match (&fetch.paging_cookie, page_no > 1) {
        (Some(c), true) if !all => Some(cookie_key(&cookie::read(c)?, &sort_cols)?),
        _ => None,
    };
    let offset = if after.is_none() && !all {
        (page_no - 1).saturating_mul(size)
    } else {
        0
    };

    let table = state.tables.get(def.logical_name);
    let keyset = sort_cols.len() == 1 && !desc.iter().any(|d| *d);
    let mut picked: Vec<(&Row, HashMap<&str, Option<&Row>>)> = Vec::new();
    let mut more = false;
    let wanted = offset.saturating_add(size);
    let accept = |row: &'_ Row| -> Option<HashMap<&str, Option<&Row>>> {
        let linked = join(&links, row)?;
        match &filter {
            Some(f) if !passes(f, row, &linked) => None,
            _ => Some(linked),
        }
    };
    if keyset {
        let (lo, hi) = bounds(fetch, def, after.as_ref());
        if let Some(t) = table {
            for row in t.range((lo, hi)).map(|(_, r)| r) {
                if let Some(linked) = accept(row) {
                    if picked.len() >= wanted {
                        more = true;
                        break;
                    }
                    picked.push((row, linked));
                }
            }
        }
    } else {
        let mut all_rows: Vec<(SortKey, &Row, Linked<'_>)> = table
            .into_iter()
            .flat_map(|t| t.values())
            .filter_map(|row| accept(row).map(|l| (key_of(row), row, l)))
            .collect();
        all_rows.sort_by(|a, b| cmp_keys(&a.0, &b.0, &desc));
        let start = match &after {
            Some(k) => all_rows.partition_point(|r| cmp_keys(&r.0, k, &desc) != Ordering::Greater),
            None => 0,
        };
        let mut rest = all_rows.into_iter().skip(start);
        for r in rest.by_ref().take(wanted) {
            picked.push((r.1, r.2));
        }
        more = rest.next().is_some();
    }
    let mut page_rows: Vec<(&Row, HashMap<&str, Option<&Row>>)> =
        picked.into_iter().skip(offset).collect();
    if fetch.top.is_some() {
        more = false;
    }
    // Simple paging (page numbers without a cookie) cannot go past 50,000 rows.
    if after.is_none() && !all && offset.saturating_add(page_rows.len()) >= SIMPLE_PAGING_LIMIT {
        page_rows.truncate(SIMPLE_PAGING_LIMIT.saturating_sub(offset));
        more = false;
    }

    let cookie = match (page_rows.first(), page_rows.last()) {
        (Some(first), Some(last)) if more && ann.paging => {
            let cols: Vec<CookieColumn> = sort_cols
                .iter()
                .map(|(a, _)| CookieColumn {
                    name: a.name.to_owned(),
                    last: cookie_value(a.kind, last.0.fields.get(a.name)),
                    first: cookie_value(a.kind, first.0.fields.get(a.name)),
                })
                .collect();
            Some(cookie::annotation(
                page_no + 1,
                &cookie::build(page_no, &cols),
            ))
        }
        _ => None,
    };
    let rows = page_rows
        .iter()
        .map(|(row, linked)| {
            let mut out = render::row_json(state, def, row, columns.as_deref(), ann, false);
            for link in &links {
                if let Some(Some(lrow)) = linked.get(link.alias.as_str()) {
                    for attr in &link.columns {
                        let prefix = format!("{}.", link.alias);
                        render::put(
                            state,
                            &mut out,
                            attr,
                            lrow.fields.get(attr.name),
                            &prefix,
                            ann,
                            false,
                        );
                    }
                }
            }
            out
        })
        .collect();
    Ok(Page { rows, more, cookie })
}

#[cfg(test)]
mod tests;

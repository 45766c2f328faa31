//! Evaluates a FetchXML query against the store: validates columns, compiles conditions,
//! joins `link-entity` tables, orders, pages (page number or paging cookie) and renders rows.
//!
//! Queries ordered by the primary id (or not ordered) are range scans over the table's
//! SQL-Server-ordered index, so keyset paging stays O(log n + page) on large tables.

use super::ast::{Condition, Fetch, Filter, Item, Join, Link};
use super::cookie::{self, CookieColumn};
use super::ops::{Predicate, compile};
use crate::dataverse::errors::ApiError;
use crate::dataverse::guid_order::SqlGuid;
use crate::dataverse::render::{self, Annotations};
use crate::dataverse::schema::{AttrDef, AttrKind, EntityDef};
use crate::dataverse::store::{Row, State};
use crate::dataverse::values::{FieldValue, Key, parse_literal};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Bound;

/// Largest page Dataverse serves.
pub const MAX_PAGE: usize = 5000;

/// One page of results.
#[derive(Debug)]
pub struct Page {
    pub rows: Vec<Map<String, Value>>,
    pub more: bool,
    /// The `fetchxmlpagingcookie` annotation value when there are more rows.
    pub cookie: Option<String>,
}

enum CItem {
    Cond {
        alias: Option<String>,
        column: &'static str,
        pred: Predicate,
    },
    Filter(CFilter),
}

struct CFilter {
    join: Join,
    items: Vec<CItem>,
}

struct CLink<'s> {
    def: &'s EntityDef,
    to: &'static str,
    outer: bool,
    alias: String,
    columns: Vec<&'s AttrDef>,
    filter: Option<CFilter>,
    index: HashMap<String, Vec<&'s Row>>,
}

struct Ctx<'s> {
    state: &'s State,
    now: DateTime<Utc>,
}

fn column<'s>(def: &'s EntityDef, name: &str) -> Result<&'s AttrDef, ApiError> {
    def.attr(name)
        .ok_or_else(|| ApiError::no_attribute(def.logical_name, name))
}

fn entity<'s>(state: &'s State, name: &str) -> Result<&'s EntityDef, ApiError> {
    state
        .schema
        .entity(name)
        .ok_or_else(|| ApiError::no_entity(name))
}

impl<'s> Ctx<'s> {
    fn compile_filters(
        &self,
        def: &'s EntityDef,
        filters: &[Filter],
        aliases: &HashMap<String, &'s EntityDef>,
    ) -> Result<Option<CFilter>, ApiError> {
        if filters.is_empty() {
            return Ok(None);
        }
        let items = filters
            .iter()
            .map(|f| self.compile_filter(def, f, aliases).map(CItem::Filter))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(CFilter {
            join: Join::And,
            items,
        }))
    }

    fn compile_filter(
        &self,
        def: &'s EntityDef,
        f: &Filter,
        aliases: &HashMap<String, &'s EntityDef>,
    ) -> Result<CFilter, ApiError> {
        let mut items = Vec::new();
        for item in &f.items {
            items.push(match item {
                Item::Filter(inner) => CItem::Filter(self.compile_filter(def, inner, aliases)?),
                Item::Condition(c) => self.compile_condition(def, c, aliases)?,
            });
        }
        Ok(CFilter {
            join: f.join,
            items,
        })
    }

    fn compile_condition(
        &self,
        def: &'s EntityDef,
        c: &Condition,
        aliases: &HashMap<String, &'s EntityDef>,
    ) -> Result<CItem, ApiError> {
        let target = match &c.entity_name {
            None => def,
            Some(alias) => aliases.get(alias).copied().ok_or_else(|| {
                ApiError::invalid_fetchxml(format!(
                    "Condition entityname '{alias}' names no link-entity alias."
                ))
            })?,
        };
        let attr = column(target, &c.attribute)?;
        let pred = compile(target.logical_name, attr, c, self.now)?;
        Ok(CItem::Cond {
            alias: c.entity_name.clone(),
            column: attr.name,
            pred,
        })
    }
}

fn index_key(v: &FieldValue) -> String {
    format!("{:?}", Key::of(v))
}

fn passes(f: &CFilter, row: &Row, linked: &HashMap<&str, Option<&Row>>) -> bool {
    let test = |item: &CItem| match item {
        CItem::Filter(inner) => passes(inner, row, linked),
        CItem::Cond {
            alias: None,
            column,
            pred,
        } => pred.test(row.fields.get(column)),
        CItem::Cond {
            alias: Some(a),
            column,
            pred,
        } => pred.test(
            linked
                .get(a.as_str())
                .copied()
                .flatten()
                .and_then(|r| r.fields.get(column)),
        ),
    };
    match f.join {
        Join::And => f.items.iter().all(test),
        Join::Or => f.items.iter().any(test),
    }
}

/// Links of a row: the first matching linked row per alias; `None` when an inner join fails.
fn join<'s>(links: &'s [CLink<'s>], row: &Row) -> Option<HashMap<&'s str, Option<&'s Row>>> {
    let mut out = HashMap::new();
    for link in links {
        let found = row
            .fields
            .get(link.to)
            .and_then(|v| link.index.get(&index_key(v)))
            .and_then(|cands| {
                cands.iter().copied().find(|cand| {
                    link.filter
                        .as_ref()
                        .is_none_or(|f| passes(f, cand, &HashMap::new()))
                })
            });
        if found.is_none() && !link.outer {
            return None;
        }
        out.insert(link.alias.as_str(), found);
    }
    Some(out)
}

type SortKey = Vec<Option<Key>>;

/// The linked row per link alias (`None` for an outer join without a match).
type Linked<'a> = HashMap<&'a str, Option<&'a Row>>;

fn cmp_keys(a: &SortKey, b: &SortKey, desc: &[bool]) -> Ordering {
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

fn cookie_value(kind: AttrKind, v: Option<&FieldValue>) -> String {
    match v {
        None => String::new(),
        Some(FieldValue::Guid(id) | FieldValue::Lookup { id, .. }) => {
            format!("{{{}}}", id.to_string().to_uppercase())
        }
        Some(other) => render::to_plain(kind, other).unwrap_or_default(),
    }
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
    let page_rows: Vec<(&Row, HashMap<&str, Option<&Row>>)> =
        picked.into_iter().skip(offset).collect();
    if fetch.top.is_some() {
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

fn compile_link<'s>(
    ctx: &Ctx<'s>,
    parent: &'s EntityDef,
    link: &Link,
    n: usize,
) -> Result<CLink<'s>, ApiError> {
    let def = entity(ctx.state, &link.node.name)?;
    if !link.node.links.is_empty() {
        return Err(ApiError::invalid_fetchxml(
            "Nested link-entity elements are not supported by this emulator.",
        ));
    }
    let from = column(def, &link.from)?.name;
    let to = column(parent, &link.to)?.name;
    let columns = link
        .node
        .attributes
        .iter()
        .map(|a| column(def, a))
        .collect::<Result<Vec<_>, _>>()?;
    let filter = ctx.compile_filters(def, &link.node.filters, &HashMap::new())?;
    let mut index: HashMap<String, Vec<&Row>> = HashMap::new();
    for row in ctx.state.rows(def.logical_name) {
        if let Some(v) = row.fields.get(from) {
            index.entry(index_key(v)).or_default().push(row);
        }
    }
    Ok(CLink {
        def,
        to,
        outer: link.outer,
        alias: link
            .alias
            .clone()
            .unwrap_or_else(|| format!("{}{n}", def.logical_name)),
        columns,
        filter,
        index,
    })
}

/// Key range of a primary-id-ordered scan, from top-level `and` conditions and the cookie.
fn bounds(
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

fn cookie_key(cols: &[CookieColumn], sort_cols: &[(&AttrDef, bool)]) -> Result<SortKey, ApiError> {
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

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
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::dataverse::guid_order::sql_guid_cmp;
    use crate::dataverse::schema::Schema;
    use crate::dataverse::values::Record;
    use proptest::prelude::*;
    use uuid::Uuid;

    fn state_with(n: u64) -> (State, Vec<Uuid>) {
        let mut st = State::new(Schema::standard());
        let mut ids = Vec::new();
        for i in 0..n {
            let id = Uuid::from_u64_pair(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), i);
            let r = Record::new()
                .with("contactid", id)
                .with("lastname", format!("L{}", i % 4))
                .with("numberofchildren", (i % 3) as i64);
            ids.push(st.insert("contact", r).unwrap());
        }
        ids.sort_by(sql_guid_cmp);
        (st, ids)
    }

    fn ids(page: &Page) -> Vec<String> {
        page.rows
            .iter()
            .map(|r| r["contactid"].as_str().unwrap().to_owned())
            .collect()
    }

    const PAGING: Annotations = Annotations {
        formatted: false,
        lookup: false,
        paging: true,
    };

    #[test]
    fn primary_id_bounds_limit_the_scan_to_a_partition() {
        let (st, all) = state_with(40);
        let xml = format!(
            "<fetch><entity name='contact'><attribute name='contactid'/><order attribute='contactid'/><filter>\
             <condition attribute='contactid' operator='ge' value='{}'/><condition attribute='contactid' operator='lt' value='{}'/>\
             </filter></entity></fetch>",
            all[10], all[20]
        );
        let page = execute(&st, Some("contacts"), &xml, PAGING).unwrap();
        let expected: Vec<String> = all[10..20].iter().map(Uuid::to_string).collect();
        assert_eq!(ids(&page), expected);
        assert!(!page.more);
    }

    #[test]
    fn inverted_bounds_return_nothing_instead_of_panicking() {
        let (st, all) = state_with(10);
        let xml = format!(
            "<fetch><entity name='contact'><attribute name='contactid'/><filter>\
             <condition attribute='contactid' operator='gt' value='{}'/><condition attribute='contactid' operator='lt' value='{}'/>\
             </filter></entity></fetch>",
            all[7], all[2]
        );
        assert!(
            execute(&st, Some("contacts"), &xml, PAGING)
                .unwrap()
                .rows
                .is_empty()
        );
    }

    #[test]
    fn outer_links_keep_rows_without_a_match_and_expose_linked_columns() {
        let (mut st, all) = state_with(3);
        let account = st
            .insert(
                "account",
                Record::new().with("name", "Contoso").with_lookup(
                    "primarycontactid",
                    "contact",
                    all[0],
                ),
            )
            .unwrap();
        let xml = "<fetch><entity name='contact'><attribute name='contactid'/><order attribute='contactid'/>\
                   <link-entity name='account' from='primarycontactid' to='contactid' link-type='outer' alias='acc'>\
                   <attribute name='name'/></link-entity></entity></fetch>";
        let page = execute(&st, None, xml, PAGING).unwrap();
        assert_eq!(page.rows.len(), 3);
        assert_eq!(page.rows[0]["acc.name"], "Contoso");
        assert!(page.rows[1].get("acc.name").is_none());
        let inner = xml.replace("link-type='outer'", "link-type='inner'");
        assert_eq!(execute(&st, None, &inner, PAGING).unwrap().rows.len(), 1);
        let by_alias = "<fetch><entity name='contact'><attribute name='contactid'/>\
                   <link-entity name='account' from='primarycontactid' to='contactid' link-type='outer' alias='acc'/>\
                   <filter><condition entityname='acc' attribute='accountid' operator='null'/></filter></entity></fetch>";
        assert_eq!(execute(&st, None, by_alias, PAGING).unwrap().rows.len(), 2);
        assert!(account != Uuid::nil());
    }

    #[test]
    fn simple_paging_stops_at_50000_rows_while_cookies_go_on() {
        let mut st = State::new(Schema::standard());
        crate::dataverse::seed::Seed::contacts(SIMPLE_PAGING_LIMIT + 5, 1)
            .load(&mut st)
            .unwrap();
        let page = |n: usize, cookie: &str| {
            let xml = format!(
                "<fetch count='5000' page='{n}'{cookie}><entity name='contact'><attribute name='contactid'/></entity></fetch>"
            );
            execute(&st, None, &xml, PAGING).unwrap()
        };
        let tenth = page(10, "");
        assert_eq!(tenth.rows.len(), 5000);
        assert!(!tenth.more, "simple paging reports no more rows at 50,000");
        assert!(page(11, "").rows.is_empty());
        let last = ids(&tenth).pop().unwrap();
        let cookie = format!(
            " paging-cookie='&lt;cookie page=\"10\"&gt;&lt;contactid last=\"{{{last}}}\" first=\"{{{last}}}\" /&gt;&lt;/cookie&gt;'"
        );
        assert_eq!(page(11, &cookie).rows.len(), 5);
    }

    #[test]
    fn top_limits_rows_and_never_reports_more() {
        let (st, _) = state_with(10);
        let page = execute(
            &st,
            None,
            "<fetch top='3'><entity name='contact'><attribute name='contactid'/></entity></fetch>",
            PAGING,
        )
        .unwrap();
        assert_eq!(page.rows.len(), 3);
        assert!(!page.more && page.cookie.is_none());
    }

    #[test]
    fn aggregate_queries_are_refused_with_a_clear_error() {
        let (st, _) = state_with(1);
        let err = execute(
            &st,
            None,
            "<fetch aggregate='true'><entity name='contact'/></fetch>",
            PAGING,
        )
        .unwrap_err();
        assert!(err.message.contains("Aggregate"));
    }

    /// Follows cookies as a client does and returns every id seen.
    fn walk(st: &State, order: &str, count: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut cookie_attr = String::new();
        for page_no in 1.. {
            let xml = format!(
                "<fetch count='{count}' page='{page_no}'{cookie_attr}><entity name='contact'><attribute name='contactid'/>{order}</entity></fetch>"
            );
            let page = execute(st, None, &xml, PAGING).unwrap();
            out.extend(ids(&page));
            let Some(ann) = page.cookie else { break };
            let raw = ann
                .split("pagingcookie=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let once = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .unwrap()
                .into_owned();
            let twice = percent_encoding::percent_decode_str(&once)
                .decode_utf8()
                .unwrap()
                .into_owned();
            cookie_attr = format!(
                " paging-cookie='{}'",
                quick_xml::escape::escape(twice.as_str())
            );
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn cookie_paging_returns_every_row_exactly_once(n in 0u64..60, count in 1usize..12, order in 0usize..4) {
            let (st, all) = state_with(n);
            let orders = [
                "",
                "<order attribute='contactid'/>",
                "<order attribute='lastname' descending='true'/>",
                "<order attribute='numberofchildren'/><order attribute='lastname'/>",
            ];
            let seen = walk(&st, orders[order], count);
            prop_assert_eq!(seen.len(), all.len());
            let unique: std::collections::BTreeSet<_> = seen.iter().collect();
            prop_assert_eq!(unique.len(), all.len());
            if order < 2 {
                let expected: Vec<String> = all.iter().map(Uuid::to_string).collect();
                prop_assert_eq!(seen, expected);
            }
        }
    }
}

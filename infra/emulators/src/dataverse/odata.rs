//! OData queries on entity sets (`$select`, `$filter`, `$orderby`, `$top`, paging with
//! `Prefer: odata.maxpagesize` and `@odata.nextLink`/`$skiptoken`) and change tracking
//! (`Prefer: odata.track-changes` → `@odata.deltaLink`; `$deltatoken` → changed rows, then
//! `$deletedEntity` entries). Unlike FetchXML, OData returns selected nulls as `null`.

use super::errors::ApiError;
use super::fetchxml::ast::Condition;
use super::fetchxml::cookie::{self, CookieColumn};
use super::fetchxml::ops::compile;
use super::guid_order::SqlGuid;
use super::render::{self, Annotations};
use super::schema::{AttrDef, EntityDef};
use super::store::{Row, State};
use super::values::{Key, parse_guid};
use super::web_api::Reply;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

fn prop<'d>(def: &'d EntityDef, name: &str) -> Result<&'d AttrDef, ApiError> {
    let logical = name
        .strip_prefix('_')
        .and_then(|n| n.strip_suffix("_value"))
        .unwrap_or(name);
    def.attr(logical).ok_or_else(|| {
        ApiError::bad_query(format!(
            "Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{}'.",
            def.logical_name
        ))
    })
}

/// One `$filter` clause `prop op literal`.
fn clause(
    def: &EntityDef,
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(&'static str, super::fetchxml::ops::Predicate), ApiError> {
    let t = text.trim().trim_start_matches('(').trim_end_matches(')');
    let mut parts = t.splitn(3, ' ');
    let (Some(name), Some(op), Some(lit)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ApiError::bad_query(format!(
            "Syntax error in $filter near '{t}': expected 'property operator value'."
        )));
    };
    let attr = prop(def, name)?;
    if !matches!(op, "eq" | "ne" | "gt" | "ge" | "lt" | "le") {
        return Err(ApiError::bad_query(format!(
            "The $filter operator '{op}' is not supported by this emulator."
        )));
    }
    let lit = lit.trim();
    let (operator, value) = if lit == "null" {
        (
            if op == "ne" { "not-null" } else { "null" }.to_owned(),
            None,
        )
    } else if let Some(s) = lit.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        (op.to_owned(), Some(s.replace("''", "'")))
    } else {
        (op.to_owned(), Some(lit.to_owned()))
    };
    let cond = Condition {
        attribute: attr.name.to_owned(),
        entity_name: None,
        operator,
        value,
        values: Vec::new(),
    };
    let pred =
        compile(def.logical_name, attr, &cond, now).map_err(|e| ApiError::bad_query(e.message))?;
    Ok((attr.name, pred))
}

type Clauses = Vec<Vec<(&'static str, super::fetchxml::ops::Predicate)>>;

/// `$filter` as an OR of ANDs.
fn filter(
    def: &EntityDef,
    text: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Clauses, ApiError> {
    text.split(" or ")
        .map(|conj| {
            conj.split(" and ")
                .map(|c| clause(def, c, now))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect()
}

fn passes(f: &Clauses, row: &Row) -> bool {
    f.is_empty()
        || f.iter()
            .any(|conj| conj.iter().all(|(col, p)| p.test(row.fields.get(col))))
}

fn opt<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn max_page_size(pref: &str) -> Result<usize, ApiError> {
    let prefs = render::preferences(pref);
    match prefs
        .iter()
        .find_map(|p| p.strip_prefix("odata.maxpagesize="))
    {
        None => Ok(super::fetchxml::MAX_PAGE),
        Some(n) => match n.trim().parse::<usize>() {
            Ok(n) if (1..=super::fetchxml::MAX_PAGE).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_query(format!(
                "odata.maxpagesize must be between 1 and 5000, got '{n}'."
            ))),
        },
    }
}

pub(super) fn link(web: &str, set: &str, q: &[(String, String)], extra: (&str, &str)) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in q
        .iter()
        .filter(|(k, _)| k != "$skiptoken" && k != "$deltatoken")
    {
        ser.append_pair(k, v);
    }
    ser.append_pair(extra.0, extra.1);
    format!("{web}/{set}?{}", ser.finish())
}

/// Serves `GET {set}?...` without `fetchXml`.
pub fn query(
    st: &State,
    web: &str,
    set: &str,
    q: &[(String, String)],
    pref: &str,
    ann: Annotations,
) -> Result<Reply, ApiError> {
    let def = st
        .schema
        .by_set(set)
        .ok_or_else(|| ApiError::not_found_segment(set))?;
    let prefs = render::preferences(pref);
    let tracking = prefs.iter().any(|p| p == "odata.track-changes");
    let delta = opt(q, "$deltatoken");
    if tracking || delta.is_some() {
        for banned in ["$filter", "$orderby", "$expand", "$top"] {
            if opt(q, banned).is_some() {
                return Err(ApiError::bad_query(format!(
                    "The query parameter {banned} is not supported when change tracking is used (odata.track-changes)."
                )));
            }
        }
        if !def.change_tracking {
            return Err(super::changes::not_enabled(def.logical_name));
        }
    }
    let columns: Option<Vec<&AttrDef>> = match opt(q, "$select") {
        Some(sel) => Some(
            sel.split(',')
                .map(|s| prop(def, s.trim()))
                .collect::<Result<_, _>>()?,
        ),
        None => None,
    };
    let render_row = |row: &Row| {
        Value::Object(render::row_json(
            st,
            def,
            row,
            columns.as_deref(),
            ann,
            true,
        ))
    };
    let ctx = format!("{web}/$metadata#{set}");

    if let Some(token) = delta {
        let size = max_page_size(pref)?;
        return super::changes::delta(st, web, set, def, token, q, size, &render_row);
    }

    let now = st.clock();
    let f = match opt(q, "$filter") {
        Some(text) => filter(def, text, now)?,
        None => Vec::new(),
    };
    let mut orders: Vec<(&AttrDef, bool)> = Vec::new();
    if let Some(ob) = opt(q, "$orderby") {
        for part in ob.split(',') {
            let mut w = part.split_whitespace();
            let attr = prop(def, w.next().unwrap_or_default())?;
            let desc = match w.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return Err(ApiError::bad_query(format!(
                        "Unknown $orderby direction '{other}'."
                    )));
                }
            };
            orders.push((attr, desc));
        }
    }
    let top = match opt(q, "$top") {
        Some(t) => Some(
            t.parse::<usize>()
                .map_err(|_| ApiError::bad_query(format!("$top must be a number, got '{t}'.")))?,
        ),
        None => None,
    };
    let explicit_size = prefs.iter().any(|p| p.starts_with("odata.maxpagesize="));
    let size = max_page_size(pref)?;
    let pk = def
        .attr(def.primary_id)
        .ok_or_else(|| ApiError::no_attribute(def.logical_name, def.primary_id))?;
    if !orders.iter().any(|(a, _)| a.name == pk.name) {
        orders.push((pk, false));
    }
    let key = |row: &Row| -> Vec<Option<Key>> {
        orders
            .iter()
            .map(|(a, _)| row.fields.get(a.name).map(Key::of))
            .collect()
    };
    let cmp = |a: &Vec<Option<Key>>, b: &Vec<Option<Key>>| -> Ordering {
        for ((x, y), (_, d)) in a.iter().zip(b.iter()).zip(orders.iter()) {
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
    };
    let (after, tracked_since) = match opt(q, "$skiptoken") {
        None => (None, None),
        Some(tok) => {
            let (page, key, since) = super::skiptoken::read(tok, &orders)?;
            (Some((page, key)), since)
        }
    };
    // A tracked sync's delta link covers changes since its first page, not its last.
    let tracking_version = tracked_since.unwrap_or(st.version);
    let page_no = after.as_ref().map_or(1, |(p, _)| *p);
    // Rows in order after the skip token; a primary-id order is a range scan.
    let limit =
        top.map_or(size, |t| t.min(size))
            .min(if explicit_size { size } else { usize::MAX });
    let mut picked: Vec<&Row> = Vec::new();
    let mut more = false;
    if orders.len() == 1 && !orders.iter().any(|(_, d)| *d) {
        let lo = match after
            .as_ref()
            .and_then(|(_, k)| k.first().cloned().flatten())
        {
            Some(Key::Guid(g)) => std::ops::Bound::Excluded(g),
            _ => std::ops::Bound::Unbounded,
        };
        if let Some(t) = st.tables.get(def.logical_name) {
            for row in t
                .range::<SqlGuid, _>((lo, std::ops::Bound::Unbounded))
                .map(|(_, r)| r)
                .filter(|r| passes(&f, r))
            {
                if picked.len() >= limit {
                    more = true;
                    break;
                }
                picked.push(row);
            }
        }
    } else {
        let mut rows: Vec<(Vec<Option<Key>>, &Row)> = st
            .rows(def.logical_name)
            .filter(|r| passes(&f, r))
            .map(|r| (key(r), r))
            .collect();
        rows.sort_by(|a, b| cmp(&a.0, &b.0));
        let start = match &after {
            Some((_, k)) => rows.partition_point(|r| cmp(&r.0, k) != Ordering::Greater),
            None => 0,
        };
        let mut rest = rows.into_iter().skip(start);
        picked.extend(rest.by_ref().take(limit).map(|(_, r)| r));
        more = rest.next().is_some();
    }
    if top.is_some() && !explicit_size {
        more = false;
    }
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(ctx));
    body.insert(
        "value".into(),
        Value::Array(picked.iter().map(|r| render_row(r)).collect()),
    );
    if more {
        if let (Some(first), Some(last)) = (picked.first(), picked.last()) {
            let cols: Vec<CookieColumn> = orders
                .iter()
                .map(|(a, _)| CookieColumn {
                    name: a.name.to_owned(),
                    last: super::skiptoken::plain(a, last),
                    first: super::skiptoken::plain(a, first),
                })
                .collect();
            let mut tok =
                cookie::annotation(page_no + 1, &cookie::build(page_no, &cols)).replace("%25", "%");
            if tracking {
                tok = tok.replace(
                    "istracking=\"False\" />",
                    &format!("istracking=\"True\" trackingversion=\"{tracking_version}\" />"),
                );
            }
            body.insert(
                "@odata.nextLink".into(),
                json!(link(web, set, q, ("$skiptoken", &tok))),
            );
        }
    } else if tracking {
        body.insert(
            "@odata.deltaLink".into(),
            json!(link(
                web,
                set,
                q,
                (
                    "$deltatoken",
                    &super::changes::delta_token_at(st, tracking_version)
                )
            )),
        );
    }
    let mut r = Reply::json(StatusCode::OK, &Value::Object(body));
    let mut applied = Vec::new();
    if explicit_size {
        applied.push(format!("odata.maxpagesize={size}"));
    }
    if tracking {
        applied.push("odata.track-changes".to_owned());
    }
    if let Some(a) = super::web_api::applied_annotations(pref) {
        applied.push(a);
    }
    if !applied.is_empty() {
        r.headers
            .push(("Preference-Applied".into(), applied.join(",")));
    }
    Ok(r)
}

/// Serves `GET {set}({id})?$select=...`: one row, or 404 when it does not exist.
pub fn single(
    st: &State,
    web: &str,
    set: &str,
    key: &str,
    q: &[(String, String)],
    ann: Annotations,
) -> Result<Reply, ApiError> {
    let def = st
        .schema
        .by_set(set)
        .ok_or_else(|| ApiError::not_found_segment(set))?;
    let id = parse_guid(key).ok_or_else(|| {
        ApiError::bad_query(format!(
            "Bad Request - Error in query syntax: '{key}' is not a valid key for '{set}'."
        ))
    })?;
    let row = st
        .tables
        .get(def.logical_name)
        .and_then(|t| t.get(&SqlGuid::new(id)))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "0x80040217",
                format!("{} With Id = {id} Does Not Exist", def.logical_name),
            )
        })?;
    let columns: Option<Vec<&AttrDef>> = match opt(q, "$select") {
        Some(sel) => Some(
            sel.split(',')
                .map(|s| prop(def, s.trim()))
                .collect::<Result<_, _>>()?,
        ),
        None => None,
    };
    let mut body = render::row_json(st, def, row, columns.as_deref(), ann, true);
    body.insert(
        "@odata.context".into(),
        json!(format!("{web}/$metadata#{set}/$entity")),
    );
    Ok(Reply::json(StatusCode::OK, &Value::Object(body)))
}

//! A FetchXML query compiled against the schema: column checks, conditions compiled once
//! per query, and `link-entity` joins backed by a per-query index of the linked table.

use super::ast::{Condition, Filter, Item, Join, Link};
use super::ops::{Predicate, compile};
use crate::dataverse::errors::ApiError;
use crate::dataverse::schema::{AttrDef, EntityDef};
use crate::dataverse::store::{Row, State};
use crate::dataverse::values::{FieldValue, Key};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub(super) enum CItem {
    Cond {
        alias: Option<String>,
        column: &'static str,
        pred: Predicate,
    },
    Filter(CFilter),
}

pub(super) struct CFilter {
    pub(super) join: Join,
    pub(super) items: Vec<CItem>,
}

pub(super) struct CLink<'s> {
    pub(super) def: &'s EntityDef,
    pub(super) to: &'static str,
    pub(super) outer: bool,
    pub(super) alias: String,
    pub(super) columns: Vec<&'s AttrDef>,
    pub(super) filter: Option<CFilter>,
    pub(super) index: HashMap<String, Vec<&'s Row>>,
}

pub(super) struct Ctx<'s> {
    pub(super) state: &'s State,
    pub(super) now: DateTime<Utc>,
}

pub(super) fn column<'s>(def: &'s EntityDef, name: &str) -> Result<&'s AttrDef, ApiError> {
    def.attr(name)
        .ok_or_else(|| ApiError::no_attribute(def.logical_name, name))
}

pub(super) fn entity<'s>(state: &'s State, name: &str) -> Result<&'s EntityDef, ApiError> {
    state
        .schema
        .entity(name)
        .ok_or_else(|| ApiError::no_entity(name))
}

impl<'s> Ctx<'s> {
    pub(super) fn compile_filters(
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

    pub(super) fn compile_filter(
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

    pub(super) fn compile_condition(
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

pub(super) fn index_key(v: &FieldValue) -> String {
    format!("{:?}", Key::of(v))
}

pub(super) fn passes(f: &CFilter, row: &Row, linked: &HashMap<&str, Option<&Row>>) -> bool {
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
pub(super) fn join<'s>(
    links: &'s [CLink<'s>],
    row: &Row,
) -> Option<HashMap<&'s str, Option<&'s Row>>> {
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

/// The linked row per link alias (`None` for an outer join without a match).
pub(super) type Linked<'a> = HashMap<&'a str, Option<&'a Row>>;

pub(super) fn compile_link<'s>(
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

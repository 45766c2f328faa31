//! The FetchXML query model and its reader: `<fetch>` → [`Fetch`]. Structural mistakes
//! (unknown operators, missing names, bad numbers) are rejected here with Dataverse's
//! invalid-FetchXML error; column checks happen in the evaluator, which knows the schema.

use super::xml::{Element, parse};
use crate::dataverse::errors::ApiError;

#[derive(Debug, Clone, Default)]
pub struct Fetch {
    pub count: Option<usize>,
    pub page: Option<usize>,
    pub top: Option<usize>,
    pub paging_cookie: Option<String>,
    pub distinct: bool,
    pub aggregate: bool,
    pub entity: Node,
}

/// `<entity>` or `<link-entity>`.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub name: String,
    pub all_attributes: bool,
    pub attributes: Vec<String>,
    pub orders: Vec<Order>,
    pub filters: Vec<Filter>,
    pub links: Vec<Link>,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub attribute: String,
    pub descending: bool,
}

#[derive(Debug, Clone)]
pub struct Link {
    pub node: Node,
    pub from: String,
    pub to: String,
    pub outer: bool,
    pub alias: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    And,
    Or,
}

#[derive(Debug, Clone)]
pub struct Filter {
    pub join: Join,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone)]
pub enum Item {
    Condition(Condition),
    Filter(Filter),
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub attribute: String,
    /// `entityname` (a link alias) when the condition targets a linked table.
    pub entity_name: Option<String>,
    pub operator: String,
    pub value: Option<String>,
    pub values: Vec<String>,
}

fn number(el: &Element, attr: &str) -> Result<Option<usize>, ApiError> {
    match el.attr(attr) {
        None => Ok(None),
        Some(v) => v.trim().parse::<usize>().map(Some).map_err(|_| {
            ApiError::invalid_fetchxml(format!(
                "The '{attr}' attribute of <{}> must be a number, got '{v}'.",
                el.name
            ))
        }),
    }
}

fn flag(el: &Element, attr: &str) -> bool {
    matches!(
        el.attr(attr).map(str::to_ascii_lowercase).as_deref(),
        Some("true" | "1")
    )
}

fn required<'a>(el: &'a Element, attr: &str) -> Result<&'a str, ApiError> {
    el.attr(attr)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            ApiError::invalid_fetchxml(format!("<{}> requires the '{attr}' attribute.", el.name))
        })
}

/// Reads a FetchXML document.
pub fn read(xml: &str) -> Result<Fetch, ApiError> {
    let root = parse(xml).map_err(|e| ApiError::invalid_fetchxml(format!("Invalid XML: {e}")))?;
    if root.name != "fetch" {
        return Err(ApiError::invalid_fetchxml(format!(
            "The root element must be <fetch>, found <{}>.",
            root.name
        )));
    }
    let mut entities = root.children.iter().filter(|c| c.name == "entity");
    let entity_el = entities
        .next()
        .ok_or_else(|| ApiError::invalid_fetchxml("<fetch> must contain one <entity> element."))?;
    if entities.next().is_some() {
        return Err(ApiError::invalid_fetchxml(
            "<fetch> must contain exactly one <entity> element.",
        ));
    }
    if let Some(other) = root
        .children
        .iter()
        .find(|c| c.name != "entity" && c.name != "order")
    {
        return Err(ApiError::invalid_fetchxml(format!(
            "Unexpected element <{}> in <fetch>.",
            other.name
        )));
    }
    let fetch = Fetch {
        count: number(&root, "count")?,
        page: number(&root, "page")?,
        top: number(&root, "top")?,
        paging_cookie: root.attr("paging-cookie").map(str::to_owned),
        distinct: flag(&root, "distinct"),
        aggregate: flag(&root, "aggregate"),
        entity: node(entity_el)?,
    };
    Ok(fetch)
}

fn node(el: &Element) -> Result<Node, ApiError> {
    let mut n = Node {
        name: required(el, "name")?.to_owned(),
        ..Node::default()
    };
    for child in &el.children {
        match child.name.as_str() {
            "attribute" => n.attributes.push(required(child, "name")?.to_owned()),
            "all-attributes" => n.all_attributes = true,
            "order" => n.orders.push(Order {
                attribute: required(child, "attribute")?.to_owned(),
                descending: flag(child, "descending"),
            }),
            "filter" => n.filters.push(filter(child)?),
            "link-entity" => n.links.push(link(child)?),
            other => {
                return Err(ApiError::invalid_fetchxml(format!(
                    "Unexpected element <{other}> in <{}>.",
                    el.name
                )));
            }
        }
    }
    Ok(n)
}

fn link(el: &Element) -> Result<Link, ApiError> {
    let outer = match el.attr("link-type").unwrap_or("inner") {
        "inner" => false,
        "outer" => true,
        other => {
            return Err(ApiError::invalid_fetchxml(format!(
                "link-type '{other}' is not supported (use inner or outer)."
            )));
        }
    };
    Ok(Link {
        node: node(el)?,
        from: required(el, "from")?.to_owned(),
        to: required(el, "to")?.to_owned(),
        outer,
        alias: el.attr("alias").map(str::to_owned),
    })
}

fn filter(el: &Element) -> Result<Filter, ApiError> {
    let join = match el.attr("type").unwrap_or("and") {
        "and" => Join::And,
        "or" => Join::Or,
        other => {
            return Err(ApiError::invalid_fetchxml(format!(
                "Filter type '{other}' is not valid (and, or)."
            )));
        }
    };
    let mut items = Vec::new();
    for child in &el.children {
        match child.name.as_str() {
            "condition" => items.push(Item::Condition(condition(child)?)),
            "filter" => items.push(Item::Filter(filter(child)?)),
            other => {
                return Err(ApiError::invalid_fetchxml(format!(
                    "Unexpected element <{other}> in <filter>."
                )));
            }
        }
    }
    Ok(Filter { join, items })
}

fn condition(el: &Element) -> Result<Condition, ApiError> {
    let mut values = Vec::new();
    for child in &el.children {
        if child.name != "value" {
            return Err(ApiError::invalid_fetchxml(format!(
                "Unexpected element <{}> in <condition>.",
                child.name
            )));
        }
        values.push(child.text.clone());
    }
    Ok(Condition {
        attribute: required(el, "attribute")?.to_owned(),
        entity_name: el.attr("entityname").map(str::to_owned),
        operator: required(el, "operator")?.to_owned(),
        value: el.attr("value").map(str::to_owned),
        values,
    })
}

impl Fetch {
    /// All top-level `and` conditions of the main entity (used to bound key ranges).
    pub fn top_conditions(&self) -> impl Iterator<Item = &Condition> {
        self.entity
            .filters
            .iter()
            .filter(|f| f.join == Join::And || f.items.len() == 1)
            .flat_map(|f| f.items.iter())
            .filter_map(|i| match i {
                Item::Condition(c) if c.entity_name.is_none() => Some(c),
                _ => None,
            })
    }
}

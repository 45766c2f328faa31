//! The page query: one `<fetch>` that reads a page of an integration's records in
//! primary-id order (ARCHITECTURE.md sections 2 and 8). Columns are the definition's fields
//! plus the primary id; the record filter, the fetch-mode window and the keyset bounds are
//! ANDed in one outer `<filter type='and'>`; marketing lists restrict the rows to members.
//! Where an organization refuses range conditions on the primary id, the cookie query
//! ([`cookie_page_query`]) has no keyset bounds and starts after the cursor through a
//! synthesized paging cookie; the caller enforces the partition's bounds.

use chrono::{DateTime, SecondsFormat, Utc};
use dynsync_domain::definition::FetchMode;
use dynsync_domain::execution::{ListTarget, Partition, Window};
use dynsync_domain::ports::PageRequest;

use crate::cookie::{cookie_after, with_paging_cookie};
use crate::error::FetchXmlError;
use crate::guid::parse_guid;
use crate::list::{dynamic_members, static_members};
use crate::tree::{Element, Node, parse};

/// Everything one page query depends on.
#[derive(Debug, Clone, Copy)]
pub struct PageQuery<'a> {
    /// Logical name (`contact`).
    pub entity: &'a str,
    /// Primary id attribute (`contactid`): always selected, the order and the keyset.
    pub primary_id: &'a str,
    pub fields: &'a [String],
    /// Records per page (`count`).
    pub page_size: u32,
    /// The validated record filter's canonical `<filter>` block.
    pub filter: Option<&'a str>,
    pub fetch_mode: FetchMode,
    /// Half-open `[from, to)` on `modifiedon`.
    pub window: Option<&'a Window>,
    pub list: Option<&'a ListTarget>,
    pub partition: Option<&'a Partition>,
    /// The last primary id of the previous page.
    pub cursor: Option<&'a str>,
}

/// The FetchXML of the page a request asks for; `filter` is the record filter's canonical
/// `<filter>` block (`FetchXmlFilter::xml()`), `None` for no filter.
pub fn page_query(
    request: &PageRequest<'_>,
    filter: Option<&str>,
) -> Result<String, FetchXmlError> {
    PageQuery::of(request, filter).to_fetchxml()
}

/// The paging-cookie form of [`page_query`], for organizations that refuse `gt`/`le` on
/// the primary id: see [`PageQuery::to_cookie_fetchxml`].
pub fn cookie_page_query(
    request: &PageRequest<'_>,
    filter: Option<&str>,
) -> Result<String, FetchXmlError> {
    PageQuery::of(request, filter).to_cookie_fetchxml()
}

/// Most ids one [`ids_query`] takes: its `in` condition becomes one SQL parameter per id,
/// and SQL Server allows 2,100 parameters a statement; 2,000 leaves room for the filter's.
pub const MAX_IDS_PER_QUERY: usize = 2_000;

/// The query of change tracking's second step (ARCHITECTURE.md section 9): the records with
/// these primary ids that the record filter selects, with the definition's fields, in
/// primary-id order. Change tracking refuses `$filter`, so the changed ids are read first
/// and the filter is evaluated by Dataverse here; an id the reply lacks was filtered out
/// (or deleted since). `ids` must be 1 to [`MAX_IDS_PER_QUERY`] GUIDs.
pub fn ids_query(
    entity: &str,
    primary_id: &str,
    fields: &[String],
    filter: Option<&str>,
    ids: &[String],
) -> Result<String, FetchXmlError> {
    if ids.is_empty() || ids.len() > MAX_IDS_PER_QUERY {
        return Err(FetchXmlError::Malformed {
            what: "the changed-ids query",
            problem: format!(
                "it needs 1 to {MAX_IDS_PER_QUERY} ids, got {}; split the ids into batches",
                ids.len()
            ),
        });
    }
    let query = PageQuery {
        entity,
        primary_id,
        fields,
        page_size: 1,
        filter: None,
        fetch_mode: FetchMode::All,
        window: None,
        list: None,
        partition: None,
        cursor: None,
    };
    let count = ids.len().to_string();
    let mut fetch = Element::new("fetch").attr("count", &count);
    let mut entity_el = Element::new("entity").attr("name", entity);
    for field in query.columns() {
        entity_el = entity_el.child(Element::new("attribute").attr("name", field));
    }
    entity_el = entity_el.child(Element::new("order").attr("attribute", primary_id));
    let mut within = Element::new("condition")
        .attr("attribute", primary_id)
        .attr("operator", "in");
    for id in ids {
        let id = parse_guid("a changed record id", id)?;
        let mut value = Element::new("value");
        value.children.push(Node::Text(id.hyphenated().to_string()));
        within = within.child(value);
    }
    let mut and = Element::new("filter").attr("type", "and").child(within);
    if let Some(filter) = filter {
        and.children
            .push(Node::Element(parse(filter, "the record filter")?));
    }
    entity_el = entity_el.child(and);
    fetch = fetch.child(entity_el);
    fetch.to_xml()
}

impl<'a> PageQuery<'a> {
    /// The query of a page request.
    pub fn of(request: &PageRequest<'a>, filter: Option<&'a str>) -> Self {
        let definition = request.integration.definition();
        PageQuery {
            entity: &request.plan.entity,
            primary_id: &request.plan.primary_id,
            fields: &definition.source.fields,
            page_size: definition.dynamics.page_size,
            filter,
            fetch_mode: definition.source.fetch_mode(),
            window: request.window,
            list: request.plan.list.as_ref(),
            partition: Some(request.partition),
            cursor: request.cursor,
        }
    }
}

impl PageQuery<'_> {
    /// The query without keyset conditions, ordered by the primary id, positioned after the
    /// cursor (or, for a partition's first page, after the partition start) by a paging
    /// cookie synthesized from that id. The partition's end is not in the query: the caller
    /// drops records past it and stops there.
    pub fn to_cookie_fetchxml(&self) -> Result<String, FetchXmlError> {
        let position = self
            .cursor
            .or_else(|| self.partition.and_then(|p| p.after.as_deref()));
        let unbounded = PageQuery {
            partition: None,
            cursor: None,
            ..*self
        }
        .to_fetchxml()?;
        match position {
            None => Ok(unbounded),
            Some(after) => with_paging_cookie(&unbounded, &cookie_after(self.primary_id, after)?),
        }
    }

    pub fn to_fetchxml(&self) -> Result<String, FetchXmlError> {
        let mut fetch = Element::new("fetch").attr("count", &self.page_size.to_string());
        let mut entity = Element::new("entity").attr("name", self.entity);
        for field in self.columns() {
            entity = entity.child(Element::new("attribute").attr("name", field));
        }
        entity = entity.child(Element::new("order").attr("attribute", self.primary_id));

        let mut and = Element::new("filter").attr("type", "and");
        let mut links = Vec::new();
        match self.list {
            Some(list) if list.dynamic => {
                let parts =
                    dynamic_members(list.query.as_deref().unwrap_or_default(), self.entity)?;
                if parts.distinct {
                    fetch.set("distinct", "true");
                }
                push_all(&mut and, parts.filters);
                links = parts.links;
            }
            Some(list) => links.push(static_members(self.primary_id, &list.id)?),
            None => {}
        }
        push_all(&mut and, self.window_conditions());
        push_all(&mut and, self.keyset_conditions()?);
        if let Some(filter) = self.filter {
            and.children
                .push(Node::Element(parse(filter, "the record filter")?));
        }
        if !and.children.is_empty() {
            entity = entity.child(and);
        }
        push_all(&mut entity, links);
        fetch.child(entity).to_xml()
    }

    /// The primary id first, then the fields in order, each once.
    fn columns(&self) -> Vec<&str> {
        let mut columns = vec![self.primary_id];
        for field in self.fields {
            if !columns.contains(&field.as_str()) {
                columns.push(field);
            }
        }
        columns
    }

    fn window_conditions(&self) -> Vec<Element> {
        let Some(window) = self.window else {
            return Vec::new();
        };
        let mut conditions = Vec::new();
        if let Some(from) = window.from {
            conditions.push(condition("modifiedon", "ge", &timestamp(from)));
        }
        if let Some(to) = window.to {
            conditions.push(condition("modifiedon", "lt", &timestamp(to)));
        }
        if let (FetchMode::OnlyUpdated, Some(from)) = (self.fetch_mode, window.from) {
            conditions.push(condition("createdon", "lt", &timestamp(from)));
        }
        conditions
    }

    fn keyset_conditions(&self) -> Result<Vec<Element>, FetchXmlError> {
        let mut conditions = Vec::new();
        let after = match (self.cursor, self.partition.and_then(|p| p.after.as_deref())) {
            (Some(cursor), _) => Some(parse_guid("the page cursor", cursor)?),
            (None, Some(after)) => Some(parse_guid("the partition start", after)?),
            (None, None) => None,
        };
        if let Some(after) = after {
            conditions.push(condition(
                self.primary_id,
                "gt",
                &after.hyphenated().to_string(),
            ));
        }
        if let Some(until) = self.partition.and_then(|p| p.until.as_deref()) {
            let until = parse_guid("the partition end", until)?;
            conditions.push(condition(
                self.primary_id,
                "le",
                &until.hyphenated().to_string(),
            ));
        }
        Ok(conditions)
    }
}

fn push_all(parent: &mut Element, children: Vec<Element>) {
    parent
        .children
        .extend(children.into_iter().map(Node::Element));
}

fn condition(attribute: &str, operator: &str, value: &str) -> Element {
    Element::new("condition")
        .attr("attribute", attribute)
        .attr("operator", operator)
        .attr("value", value)
}

/// `2026-11-27T10:00:00Z`.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests;

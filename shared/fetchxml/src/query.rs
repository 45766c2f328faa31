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
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn base<'a>(fields: &'a [String]) -> PageQuery<'a> {
        PageQuery {
            entity: "contact",
            primary_id: "contactid",
            fields,
            page_size: 500,
            filter: None,
            fetch_mode: FetchMode::All,
            window: None,
            list: None,
            partition: None,
            cursor: None,
        }
    }

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, 0, 0).unwrap()
    }

    #[test]
    fn the_primary_id_is_selected_first_and_fields_only_once() {
        let fields = [
            "emailaddress1".to_owned(),
            "contactid".to_owned(),
            "emailaddress1".to_owned(),
        ];
        assert_eq!(
            base(&fields).to_fetchxml().unwrap(),
            r#"<fetch count="500"><entity name="contact"><attribute name="contactid"/><attribute name="emailaddress1"/><order attribute="contactid"/></entity></fetch>"#
        );
    }

    #[test]
    fn the_cursor_wins_over_the_partition_start_and_the_end_is_inclusive() {
        let partition = Partition {
            index: 1,
            after: Some("00000000-0000-0000-0000-000000000001".to_owned()),
            until: Some("00000000-0000-0000-0000-000000000009".to_owned()),
        };
        let mut query = base(&[]);
        query.partition = Some(&partition);
        let xml = query.to_fetchxml().unwrap();
        assert!(xml.contains(r#"<condition attribute="contactid" operator="gt" value="00000000-0000-0000-0000-000000000001"/><condition attribute="contactid" operator="le" value="00000000-0000-0000-0000-000000000009"/>"#));
        query.cursor = Some("00000000-0000-0000-0000-000000000005");
        let xml = query.to_fetchxml().unwrap();
        assert!(xml.contains(r#"operator="gt" value="00000000-0000-0000-0000-000000000005""#));
        assert!(!xml.contains("000000000001"));
        query.cursor = Some("' or '1'='1");
        assert!(
            query
                .to_fetchxml()
                .unwrap_err()
                .to_string()
                .contains("not a GUID")
        );
    }

    #[test]
    fn each_fetch_mode_adds_its_window_conditions() {
        let full = Window {
            from: Some(at(9)),
            to: Some(at(10)),
        };
        let first_run = Window {
            from: None,
            to: Some(at(10)),
        };
        let recent = Window {
            from: Some(at(9)),
            to: None,
        };
        let ge =
            r#"<condition attribute="modifiedon" operator="ge" value="2026-11-27T09:00:00Z"/>"#;
        let lt =
            r#"<condition attribute="modifiedon" operator="lt" value="2026-11-27T10:00:00Z"/>"#;
        let created =
            r#"<condition attribute="createdon" operator="lt" value="2026-11-27T09:00:00Z"/>"#;
        let cases = [
            (FetchMode::All, &recent, vec![ge], vec![lt, created]),
            (FetchMode::NewAndUpdated, &full, vec![ge, lt], vec![created]),
            (
                FetchMode::NewAndUpdated,
                &first_run,
                vec![lt],
                vec![ge, created],
            ),
            (FetchMode::OnlyUpdated, &full, vec![ge, lt, created], vec![]),
            (
                FetchMode::OnlyUpdated,
                &first_run,
                vec![lt],
                vec![ge, created],
            ),
        ];
        for (mode, window, present, absent) in cases {
            let mut query = base(&[]);
            query.fetch_mode = mode;
            query.window = Some(window);
            let xml = query.to_fetchxml().unwrap();
            assert!(present.iter().all(|c| xml.contains(c)), "{mode:?}: {xml}");
            assert!(absent.iter().all(|c| !xml.contains(c)), "{mode:?}: {xml}");
        }
    }

    #[test]
    fn the_record_filter_is_anded_with_the_other_conditions() {
        let window = Window {
            from: Some(at(9)),
            to: None,
        };
        let mut query = base(&[]);
        query.window = Some(&window);
        query.filter = Some(
            r#"<filter type="or"><condition attribute="lastname" operator="eq" value="A &amp; B"/><condition attribute="statecode" operator="eq" value="0"/></filter>"#,
        );
        let xml = query.to_fetchxml().unwrap();
        assert!(xml.contains(r#"<filter type="and"><condition attribute="modifiedon" operator="ge" value="2026-11-27T09:00:00Z"/><filter type="or"><condition attribute="lastname" operator="eq" value="A &amp; B"/>"#), "{xml}");
    }

    #[test]
    fn a_static_list_joins_its_members_and_keeps_the_record_filter() {
        let list = ListTarget {
            id: "4b2fb8e4-55a8-eb11-b1b5-000d3a9b2d36".to_owned(),
            name: "VIP".to_owned(),
            dynamic: false,
            query: None,
        };
        let mut query = base(&[]);
        query.list = Some(&list);
        query.filter = Some(
            r#"<filter type="and"><condition attribute="statecode" operator="eq" value="0"/></filter>"#,
        );
        let xml = query.to_fetchxml().unwrap();
        assert!(xml.contains(r#"<link-entity name="listmember" from="entityid" to="contactid" link-type="inner" intersect="true">"#));
        assert!(xml.contains("statecode"));
    }

    #[test]
    fn a_dynamic_list_query_is_rewritten_with_our_columns_order_and_page_size() {
        let list = ListTarget {
            id: "4b2fb8e4-55a8-eb11-b1b5-000d3a9b2d36".to_owned(),
            name: "Ankara".to_owned(),
            dynamic: true,
            query: Some(r#"<fetch top="5" aggregate="false"><entity name="contact"><attribute name="fullname"/><order attribute="fullname" descending="true"/><filter type="or"><condition attribute="address1_city" operator="eq" value="Ankara"/></filter></entity></fetch>"#.to_owned()),
        };
        let fields = ["emailaddress1".to_owned()];
        let mut query = base(&fields);
        query.list = Some(&list);
        query.cursor = Some("00000000-0000-0000-0000-000000000005");
        let xml = query.to_fetchxml().unwrap();
        assert_eq!(
            xml,
            r#"<fetch count="500"><entity name="contact"><attribute name="contactid"/><attribute name="emailaddress1"/><order attribute="contactid"/><filter type="and"><filter type="or"><condition attribute="address1_city" operator="eq" value="Ankara"/></filter><condition attribute="contactid" operator="gt" value="00000000-0000-0000-0000-000000000005"/></filter></entity></fetch>"#
        );
    }

    #[test]
    fn the_cookie_query_has_no_keyset_conditions_and_starts_after_the_cursor_or_partition_start() {
        let partition = Partition {
            index: 1,
            after: Some("00000000-0000-0000-0000-000000000001".to_owned()),
            until: Some("00000000-0000-0000-0000-000000000009".to_owned()),
        };
        let window = Window {
            from: Some(at(9)),
            to: None,
        };
        let mut query = base(&[]);
        query.window = Some(&window);
        let first = query.to_cookie_fetchxml().unwrap();
        assert_eq!(
            first,
            r#"<fetch count="500"><entity name="contact"><attribute name="contactid"/><order attribute="contactid"/><filter type="and"><condition attribute="modifiedon" operator="ge" value="2026-11-27T09:00:00Z"/></filter></entity></fetch>"#
        );
        query.partition = Some(&partition);
        let start = query.to_cookie_fetchxml().unwrap();
        assert!(start.starts_with(r#"<fetch count="500" page="2" paging-cookie="&lt;cookie page=&quot;1&quot;&gt;&lt;contactid last=&quot;{00000000-0000-0000-0000-000000000001}&quot;"#), "{start}");
        assert!(
            !start.contains(r#"attribute="contactid" operator"#),
            "{start}"
        );
        assert!(
            !start.contains("000000000009"),
            "the end is enforced by the caller"
        );
        query.cursor = Some("00000000-0000-0000-0000-000000000005");
        let next = query.to_cookie_fetchxml().unwrap();
        assert!(
            next.contains("last=&quot;{00000000-0000-0000-0000-000000000005}"),
            "{next}"
        );
        assert!(next.contains(r#"<order attribute="contactid"/>"#));
        assert!(!next.contains("000000000001"));
    }

    #[test]
    fn the_ids_query_selects_those_ids_with_the_fields_and_the_record_filter() {
        let fields = ["emailaddress1".to_owned()];
        let ids = [
            "00000000-0000-0000-0000-000000000002".to_owned(),
            "{00000000-0000-0000-0000-00000000000A}".to_owned(),
        ];
        let filter = r#"<filter type="and"><condition attribute="statecode" operator="eq" value="0"/></filter>"#;
        let xml = ids_query("contact", "contactid", &fields, Some(filter), &ids).unwrap();
        assert_eq!(
            xml,
            r#"<fetch count="2"><entity name="contact"><attribute name="contactid"/><attribute name="emailaddress1"/><order attribute="contactid"/><filter type="and"><condition attribute="contactid" operator="in"><value>00000000-0000-0000-0000-000000000002</value><value>00000000-0000-0000-0000-00000000000a</value></condition><filter type="and"><condition attribute="statecode" operator="eq" value="0"/></filter></filter></entity></fetch>"#
        );
        let unfiltered = ids_query("contact", "contactid", &[], None, &ids[..1]).unwrap();
        assert!(
            unfiltered.contains(r#"operator="in"><value>"#),
            "{unfiltered}"
        );
    }

    #[test]
    fn the_ids_query_refuses_non_guids_and_batches_of_the_wrong_size() {
        let bad = ["' or 1=1".to_owned()];
        let error = ids_query("contact", "contactid", &[], None, &bad).unwrap_err();
        assert!(error.to_string().contains("not a GUID"), "{error}");
        assert!(ids_query("contact", "contactid", &[], None, &[]).is_err());
        let many: Vec<String> = (0..=MAX_IDS_PER_QUERY)
            .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
            .collect();
        let error = ids_query("contact", "contactid", &[], None, &many).unwrap_err();
        assert!(error.to_string().contains("split"), "{error}");
    }

    #[test]
    fn a_malformed_record_filter_is_an_error() {
        let mut query = base(&[]);
        query.filter = Some("<filter><condition></filter>");
        assert!(query.to_fetchxml().is_err());
    }
}

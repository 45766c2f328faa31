//! Marketing lists in a page query. A static list joins the intersect entity `listmember`
//! on the list's id; a dynamic list contributes what its stored FetchXML selects (its
//! entity filters and link-entities), while the columns, order, page size and paging
//! are ours: its attributes, orders, `top`, `count`, `page`, paging cookie and aggregates
//! are dropped.

use crate::error::FetchXmlError;
use crate::guid::parse_guid;
use crate::tree::{Element, Node, parse};

/// `<link-entity name='listmember' ... intersect='true'>` restricted to one list.
pub(crate) fn static_members(primary_id: &str, list_id: &str) -> Result<Element, FetchXmlError> {
    let id = parse_guid("the marketing list id", list_id)?;
    let condition = Element::new("condition")
        .attr("attribute", "listid")
        .attr("operator", "eq")
        .attr("value", &id.hyphenated().to_string());
    Ok(Element::new("link-entity")
        .attr("name", "listmember")
        .attr("from", "entityid")
        .attr("to", primary_id)
        .attr("link-type", "inner")
        .attr("intersect", "true")
        .child(Element::new("filter").attr("type", "and").child(condition)))
}

/// What a dynamic list's stored query contributes to our query.
#[derive(Debug, Default)]
pub(crate) struct DynamicParts {
    /// The stored query asked for distinct rows (joins that multiply rows).
    pub distinct: bool,
    /// Its entity-level `<filter>` elements (ANDed with ours).
    pub filters: Vec<Element>,
    /// Its `<link-entity>` elements, without their columns and orders.
    pub links: Vec<Element>,
}

/// Reads the stored query of a dynamic list whose members are `entity` records.
pub(crate) fn dynamic_members(query: &str, entity: &str) -> Result<DynamicParts, FetchXmlError> {
    let stored = |problem: &str| FetchXmlError::StoredQuery {
        problem: problem.to_owned(),
    };
    if query.trim().is_empty() {
        return Err(stored("is empty"));
    }
    let fetch = parse(query, "the dynamic marketing list's stored query")?;
    if fetch.name != "fetch" {
        return Err(stored("is not a <fetch> element"));
    }
    let mut entities = fetch.elements().filter(|e| e.name == "entity");
    let source = entities
        .next()
        .ok_or_else(|| stored("has no <entity> element"))?;
    if entities.next().is_some() {
        return Err(stored("has more than one <entity> element"));
    }
    let query_entity = source.get("name").unwrap_or_default();
    if query_entity != entity {
        return Err(FetchXmlError::EntityMismatch {
            entity: entity.to_owned(),
            query_entity: query_entity.to_owned(),
        });
    }
    let mut parts = DynamicParts {
        distinct: fetch
            .get("distinct")
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
        ..DynamicParts::default()
    };
    for child in source.elements() {
        match child.name.as_str() {
            "filter" => parts.filters.push(child.clone()),
            "link-entity" => parts.links.push(without_columns(child)),
            _ => {}
        }
    }
    Ok(parts)
}

/// A link-entity keeps its join, filters and nested link-entities, not its columns/orders.
fn without_columns(link: &Element) -> Element {
    let mut out = Element::new(&link.name);
    out.attrs = link.attrs.clone();
    for child in link.elements() {
        match child.name.as_str() {
            "filter" => out.children.push(Node::Element(child.clone())),
            "link-entity" => out.children.push(Node::Element(without_columns(child))),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_static_list_joins_listmember_on_the_list_id() {
        let link = static_members("contactid", "{4B2FB8E4-55A8-EB11-B1B5-000D3A9B2D36}").unwrap();
        assert_eq!(
            link.to_xml().unwrap(),
            r#"<link-entity name="listmember" from="entityid" to="contactid" link-type="inner" intersect="true"><filter type="and"><condition attribute="listid" operator="eq" value="4b2fb8e4-55a8-eb11-b1b5-000d3a9b2d36"/></filter></link-entity>"#
        );
        assert!(static_members("contactid", "' or 1=1").is_err());
    }

    #[test]
    fn a_dynamic_query_keeps_filters_and_joins_and_drops_columns_orders_and_paging() {
        let query = r#"<fetch version="1.0" distinct="true" count="50" page="3" top="10">
            <entity name="contact">
              <attribute name="fullname"/><all-attributes/>
              <order attribute="fullname" descending="false"/>
              <filter type="or"><condition attribute="address1_city" operator="eq" value="Ankara"/></filter>
              <link-entity name="account" from="accountid" to="parentcustomerid" alias="a">
                <attribute name="name"/><order attribute="name"/>
                <filter><condition attribute="industrycode" operator="eq" value="1"/></filter>
              </link-entity>
            </entity></fetch>"#;
        let parts = dynamic_members(query, "contact").unwrap();
        assert!(parts.distinct);
        assert_eq!(parts.filters.len(), 1);
        assert_eq!(parts.filters[0].get("type"), Some("or"));
        assert_eq!(parts.links.len(), 1);
        let link = parts.links[0].to_xml().unwrap();
        assert!(!link.contains("<attribute") && !link.contains("<order"));
        assert!(link.contains("industrycode"));
    }

    #[test]
    fn unusable_stored_queries_name_the_problem() {
        let err = |q: &str| dynamic_members(q, "contact").unwrap_err().to_string();
        assert!(err("").contains("is empty"));
        assert!(err("<entity name='contact'/>").contains("<fetch>"));
        assert!(err("<fetch/>").contains("no <entity>"));
        assert!(err("<fetch><entity name='lead'/></fetch>").contains("reads 'lead'"));
        assert!(err("<fetch><entity name='contact'>").contains("not well-formed"));
    }
}

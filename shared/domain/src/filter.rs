//! The record filter of a definition (`source.filter`, the guide's Step 5): a FetchXML
//! snippet that is either one `<filter>` block or one `<condition/>`.
//!
//! The snippet is parsed with a real XML parser, checked against the few elements,
//! attributes and operators a filter may hold (so nothing else can be smuggled into the
//! query), and re-serialised with an XML writer into a canonical `<filter>` block that a
//! query builder embeds verbatim inside `<entity>`. Every error names its position and
//! what to write instead. Bad input never panics.

mod operators;
mod parse;
mod scan;

use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

use crate::error::ErrorKind;
pub use operators::{Operator, ValueRule};

/// Deepest nesting of `<filter>` elements accepted.
pub const MAX_DEPTH: usize = 32;

/// A validated record filter and its canonical XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchXmlFilter {
    root: FilterNode,
    xml: String,
}

/// `<filter type='and|or'>` and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterNode {
    pub kind: FilterType,
    pub items: Vec<FilterItem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterType {
    And,
    Or,
}

impl FilterType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::And => "and",
            Self::Or => "or",
        }
    }
}

/// One child of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterItem {
    Condition(Condition),
    Filter(FilterNode),
}

/// `<condition attribute='..' operator='..' value='..'/>` or with `<value>` children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The Dataverse column's logical name.
    pub attribute: String,
    pub operator: Operator,
    /// The `value` attribute for single-value operators, the `<value>` children for
    /// `in`/`not-in`/`between`/..., nothing for `null`/`not-null`/`today`/...
    pub values: Vec<String>,
}

/// Why a filter snippet was rejected: what, where (1-based line and column, in
/// characters) and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem} at line {line}, column {column}: {fix}")]
pub struct FilterError {
    pub line: usize,
    pub column: usize,
    pub problem: String,
    pub fix: String,
}

impl FilterError {
    /// A filter that does not validate is bad input: retrying cannot help.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Permanent
    }
}

impl FetchXmlFilter {
    /// Parses a snippet. `none`, `_none_` and blank text mean "no filter" (`Ok(None)`).
    pub fn parse(text: &str) -> Result<Option<Self>, FilterError> {
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed == "none" || trimmed == "_none_" {
            return Ok(None);
        }
        let root = parse::parse(text)?;
        let xml = write(&root).map_err(|e| FilterError {
            line: 1,
            column: 1,
            problem: format!("the filter could not be re-serialised ({e})"),
            fix: "simplify the filter".to_owned(),
        })?;
        Ok(Some(Self { root, xml }))
    }

    /// The canonical `<filter ...>...</filter>` block, values escaped.
    pub fn xml(&self) -> &str {
        &self.xml
    }

    /// The parsed tree (a lone `<condition/>` appears wrapped in an `and` filter).
    pub fn root(&self) -> &FilterNode {
        &self.root
    }
}

fn write(root: &FilterNode) -> std::io::Result<String> {
    let mut writer = Writer::new(Vec::new());
    write_filter(&mut writer, root)?;
    String::from_utf8(writer.into_inner()).map_err(std::io::Error::other)
}

fn write_filter(writer: &mut Writer<Vec<u8>>, node: &FilterNode) -> std::io::Result<()> {
    let start = BytesStart::new("filter").with_attributes([("type", node.kind.as_str())]);
    writer.write_event(Event::Start(start))?;
    for item in &node.items {
        match item {
            FilterItem::Filter(inner) => write_filter(writer, inner)?,
            FilterItem::Condition(condition) => write_condition(writer, condition)?,
        }
    }
    writer.write_event(Event::End(BytesEnd::new("filter")))
}

fn write_condition(writer: &mut Writer<Vec<u8>>, condition: &Condition) -> std::io::Result<()> {
    let mut start = BytesStart::new("condition").with_attributes([
        ("attribute", condition.attribute.as_str()),
        ("operator", condition.operator.name()),
    ]);
    match condition.operator.rule() {
        ValueRule::None => writer.write_event(Event::Empty(start)),
        ValueRule::Single(_) => {
            if let Some(value) = condition.values.first() {
                start.push_attribute(("value", value.as_str()));
            }
            writer.write_event(Event::Empty(start))
        }
        ValueRule::List | ValueRule::Two => {
            writer.write_event(Event::Start(start))?;
            for value in &condition.values {
                writer.write_event(Event::Start(BytesStart::new("value")))?;
                writer.write_event(Event::Text(BytesText::new(value)))?;
                writer.write_event(Event::End(BytesEnd::new("value")))?;
            }
            writer.write_event(Event::End(BytesEnd::new("condition")))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ok(text: &str) -> FetchXmlFilter {
        FetchXmlFilter::parse(text).unwrap().unwrap()
    }

    fn err(text: &str) -> String {
        FetchXmlFilter::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn none_and_blank_mean_no_filter() {
        for text in ["none", "_none_", "", "  \n"] {
            assert_eq!(FetchXmlFilter::parse(text).unwrap(), None);
        }
    }

    #[test]
    fn a_single_condition_is_wrapped_in_an_and_filter() {
        let filter = ok("<condition attribute='statecode' operator='eq' value='0' />");
        assert_eq!(
            filter.xml(),
            r#"<filter type="and"><condition attribute="statecode" operator="eq" value="0"/></filter>"#
        );
    }

    #[test]
    fn the_guides_examples_are_accepted() {
        ok("<condition attribute='emailaddress1' operator='not-null' />");
        let filter = ok(
            "<filter type='and'>\n<condition attribute='modifiedon' operator='on-or-after' value='2026-01-01T00:00:00Z' />\n<condition attribute='emailaddress1' operator='not-null' />\n</filter>",
        );
        assert_eq!(filter.root().items.len(), 2);
    }

    #[test]
    fn in_takes_value_children_and_values_are_escaped_on_output() {
        let filter = ok(
            "<filter type='or'><condition attribute='lastname' operator='in'><value>A &amp; B</value><value>C&lt;D</value></condition></filter>",
        );
        assert!(
            filter
                .xml()
                .contains("<value>A &amp; B</value><value>C&lt;D</value>")
        );
        let FilterItem::Condition(c) = &filter.root().items[0] else {
            panic!()
        };
        assert_eq!(c.values, vec!["A & B".to_owned(), "C<D".to_owned()]);
    }

    #[test]
    fn an_unescaped_ampersand_names_its_column_and_the_fix() {
        let message = err("<condition attribute='lastname' operator='eq' value='A & B' />");
        assert_eq!(message, "unescaped '&' at line 1, column 56: write &amp;");
    }

    #[test]
    fn foreign_elements_doctype_and_processing_instructions_are_rejected() {
        assert!(err("<entity name='x'/>").contains("'entity'"));
        assert!(err("<!DOCTYPE x><condition attribute='a' operator='null'/>").contains("DOCTYPE"));
        assert!(err("<?pi x?><condition attribute='a' operator='null'/>").contains("processing"));
    }

    #[test]
    fn operator_value_rules_are_enforced() {
        assert!(
            err("<condition attribute='a' operator='null' value='1'/>").contains("takes no value")
        );
        assert!(err("<condition attribute='a' operator='in' value='1'/>").contains("<value>"));
        assert!(
            err("<condition attribute='a' operator='last-x-days' value=\"'7'\"/>")
                .contains("number")
        );
        assert!(err("<condition attribute='a' operator='on' value='01/02/2026'/>").contains("UTC"));
        assert!(
            err("<condition attribute='a' operator='between'><value>1</value></condition>")
                .contains("two")
        );
        assert!(
            err("<condition attribute='a' operator='equals' value='1'/>")
                .contains("unknown operator")
        );
    }
}

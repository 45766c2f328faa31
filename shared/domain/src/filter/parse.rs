//! Parsing a filter snippet into a [`FilterNode`] tree with quick-xml, checking each
//! element, attribute and operator as it goes. A small pre-scan finds unescaped `&` and
//! `<` first, because that is the most common mistake and deserves an exact message.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::scan::{error, prescan};
use super::{FilterError, FilterItem, FilterNode, FilterType, MAX_DEPTH, Operator};

mod close;

use close::{close, text};

enum Frame {
    Filter {
        node: FilterNode,
        at: usize,
    },
    Condition {
        attribute: String,
        operator: Operator,
        value: Option<String>,
        children: Vec<String>,
        at: usize,
    },
    Value {
        text: String,
    },
}

/// Parses and checks `input`; the result is always a filter (a lone condition is wrapped).
pub(super) fn parse(input: &str) -> Result<FilterNode, FilterError> {
    prescan(input)?;
    let mut reader = Reader::from_str(input);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<FilterItem> = None;
    loop {
        let at = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader.read_event().map_err(|e| {
            let offset = usize::try_from(reader.error_position()).unwrap_or(at);
            error(
                input,
                offset,
                &format!("malformed XML ({e})"),
                "check the XML syntax; inside values write '<' as &lt; and '&' as &amp;",
            )
        })?;
        match event {
            Event::Start(e) => open(input, at, &e, &mut stack, &root)?,
            Event::Empty(e) => {
                open(input, at, &e, &mut stack, &root)?;
                close(input, at, &mut stack, &mut root)?;
            }
            Event::End(_) => close(input, at, &mut stack, &mut root)?,
            Event::Text(t) => text(input, at, &t.xml10_content(), &mut stack)?,
            Event::CData(t) => text(input, at, &t.into_inner(), &mut stack)?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => match &*r.xml10_content() {
                        "amp" => "&".to_owned(),
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "quot" => "\"".to_owned(),
                        "apos" => "'".to_owned(),
                        other => {
                            return Err(error(
                                input,
                                at,
                                &format!("unknown entity '&{other};'"),
                                "use only &amp; &lt; &gt; &quot; &apos; or character references",
                            ));
                        }
                    },
                };
                text(input, at, &resolved, &mut stack)?;
            }
            Event::Comment(_) => {}
            Event::Decl(_) | Event::PI(_) => {
                return Err(error(
                    input,
                    at,
                    "processing instructions (<?...?>) are not allowed",
                    "paste only the <filter> block or the <condition/>",
                ));
            }
            Event::DocType(_) => {
                return Err(error(
                    input,
                    at,
                    "a DOCTYPE is not allowed",
                    "remove the <!DOCTYPE ...> declaration",
                ));
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(error(
            input,
            input.len(),
            "an element is not closed",
            "close every <filter> and <condition> element",
        ));
    }
    match root {
        Some(FilterItem::Filter(node)) => Ok(node),
        Some(FilterItem::Condition(condition)) => Ok(FilterNode {
            kind: FilterType::And,
            items: vec![FilterItem::Condition(condition)],
        }),
        None => Err(error(
            input,
            0,
            "no <filter> or <condition/> found",
            "write one <filter type='and'>...</filter> block, one <condition/>, or none",
        )),
    }
}

fn open(
    input: &str,
    at: usize,
    e: &BytesStart<'_>,
    stack: &mut Vec<Frame>,
    root: &Option<FilterItem>,
) -> Result<(), FilterError> {
    let name = e.name().as_ref().to_owned();
    let allowed: &[&str] = match stack.last() {
        None if root.is_some() => {
            return Err(error(
                input,
                at,
                "only one top-level element is allowed",
                "wrap several conditions in one <filter type='and'>...</filter>",
            ));
        }
        None | Some(Frame::Filter { .. }) => &["filter", "condition"],
        Some(Frame::Condition { .. }) => &["value"],
        Some(Frame::Value { .. }) => &[],
    };
    if !allowed.contains(&name.as_str()) {
        let fix = if allowed.is_empty() {
            "a <value> holds only text".to_owned()
        } else {
            format!(
                "use {} here",
                allowed
                    .iter()
                    .map(|a| format!("<{a}>"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )
        };
        let problem = if ["filter", "condition", "value"].contains(&name.as_str()) {
            format!("element <{name}> is not allowed here")
        } else {
            format!(
                "element '{name}' is not allowed in a record filter (only filter, condition and value)"
            )
        };
        return Err(error(input, at, &problem, &fix));
    }
    let attributes = attributes(input, at, e)?;
    let attr = |key: &str| {
        attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let allowed_attrs: &[&str] = match name.as_str() {
        "filter" => &["type"],
        "condition" => &["attribute", "operator", "value"],
        _ => &[],
    };
    if let Some((key, _)) = attributes
        .iter()
        .find(|(k, _)| !allowed_attrs.contains(&k.as_str()))
    {
        let fix = if allowed_attrs.is_empty() {
            format!("<{name}> takes no attributes")
        } else {
            format!("<{name}> takes only {}", allowed_attrs.join(", "))
        };
        return Err(error(
            input,
            at,
            &format!("attribute '{key}' is not allowed on <{name}>"),
            &fix,
        ));
    }
    let frame = match name.as_str() {
        "filter" => {
            let depth = stack
                .iter()
                .filter(|f| matches!(f, Frame::Filter { .. }))
                .count();
            if depth >= MAX_DEPTH {
                return Err(error(
                    input,
                    at,
                    "filters are nested too deeply",
                    &format!("nest at most {MAX_DEPTH} filters"),
                ));
            }
            let kind = match attr("type").as_deref() {
                None | Some("and") => FilterType::And,
                Some("or") => FilterType::Or,
                Some(other) => {
                    return Err(error(
                        input,
                        at,
                        &format!("filter type '{other}' is unknown"),
                        "write type='and' or type='or'",
                    ));
                }
            };
            Frame::Filter {
                node: FilterNode {
                    kind,
                    items: Vec::new(),
                },
                at,
            }
        }
        "condition" => {
            let Some(attribute) = attr("attribute") else {
                return Err(error(
                    input,
                    at,
                    "a <condition> needs an attribute",
                    "add attribute='<column logical name>'",
                ));
            };
            if attribute.is_empty()
                || !attribute
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(error(
                    input,
                    at,
                    &format!("'{attribute}' is not a column logical name"),
                    "logical names use only lowercase letters, digits and '_', e.g. attribute='statecode'",
                ));
            }
            let Some(operator_name) = attr("operator") else {
                return Err(error(
                    input,
                    at,
                    "a <condition> needs an operator",
                    "add operator='eq' (or another FetchXML operator)",
                ));
            };
            let Some(operator) = Operator::from_name(&operator_name) else {
                return Err(error(
                    input,
                    at,
                    &format!("unknown operator '{operator_name}'"),
                    "use a FetchXML operator such as eq, ne, gt, ge, lt, le, like, in, not-in, between, null, not-null, on, on-or-after, on-or-before, last-x-days",
                ));
            };
            Frame::Condition {
                attribute,
                operator,
                value: attr("value"),
                children: Vec::new(),
                at,
            }
        }
        _ => Frame::Value {
            text: String::new(),
        },
    };
    stack.push(frame);
    Ok(())
}

fn attributes(
    input: &str,
    at: usize,
    e: &BytesStart<'_>,
) -> Result<Vec<(String, String)>, FilterError> {
    let mut out = Vec::new();
    for attribute in e.attributes() {
        let attribute = attribute.map_err(|err| {
            error(
                input,
                at,
                &format!("malformed attribute ({err})"),
                "write attributes as name='value', each once",
            )
        })?;
        let key = attribute.key.as_ref().to_owned();
        let value: Cow<'_, str> = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| {
                error(
                    input,
                    at,
                    &format!("bad value of '{key}' ({err})"),
                    "escape '&' as &amp; and '<' as &lt;",
                )
            })?;
        // Whitespace characters written as references would turn into spaces on a re-parse.
        out.push((key, value.replace(['\n', '\r', '\t'], " ")));
    }
    Ok(out)
}

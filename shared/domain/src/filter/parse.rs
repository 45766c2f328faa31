//! Parsing a filter snippet into a [`FilterNode`] tree with quick-xml, checking each
//! element, attribute and operator as it goes. A small pre-scan finds unescaped `&` and
//! `<` first, because that is the most common mistake and deserves an exact message.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::operators::check_value;
use super::scan::{error, prescan};
use super::{
    Condition, FilterError, FilterItem, FilterNode, FilterType, MAX_DEPTH, Operator, ValueRule,
};

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

fn close(
    input: &str,
    at: usize,
    stack: &mut Vec<Frame>,
    root: &mut Option<FilterItem>,
) -> Result<(), FilterError> {
    let item = match stack.pop() {
        None => {
            return Err(error(
                input,
                at,
                "a closing tag has no opening tag",
                "remove it",
            ));
        }
        Some(Frame::Value { text }) => {
            if let Some(Frame::Condition { children, .. }) = stack.last_mut() {
                children.push(text);
            }
            return Ok(());
        }
        Some(Frame::Filter { node, at }) => {
            if node.items.is_empty() {
                return Err(error(
                    input,
                    at,
                    "an empty <filter>",
                    "put at least one <condition/> inside it, or write none",
                ));
            }
            FilterItem::Filter(node)
        }
        Some(Frame::Condition {
            attribute,
            operator,
            value,
            children,
            at,
        }) => {
            let name = operator.name();
            let values = match (operator.rule(), value) {
                (ValueRule::None, None) if children.is_empty() => Vec::new(),
                (ValueRule::None, _) => {
                    return Err(error(
                        input,
                        at,
                        &format!("'{name}' takes no value"),
                        "remove the value",
                    ));
                }
                (ValueRule::Single(_), _) if !children.is_empty() => {
                    return Err(error(
                        input,
                        at,
                        &format!("'{name}' takes one value attribute, not <value> children"),
                        "write value='...' on the condition",
                    ));
                }
                (ValueRule::Single(_), None) => {
                    return Err(error(
                        input,
                        at,
                        &format!("'{name}' needs a value"),
                        "add value='...'",
                    ));
                }
                (ValueRule::Single(kind), Some(value)) => {
                    check_value(kind, name, &value).map_err(|fix| {
                        error(input, at, &format!("'{value}' is not a valid value"), &fix)
                    })?;
                    vec![value]
                }
                (ValueRule::List | ValueRule::Two, Some(_)) => {
                    return Err(error(
                        input,
                        at,
                        &format!("'{name}' takes its values as <value> children"),
                        &format!(
                            "write <condition attribute='{attribute}' operator='{name}'><value>...</value></condition>"
                        ),
                    ));
                }
                (ValueRule::List, None) if children.is_empty() => {
                    return Err(error(
                        input,
                        at,
                        &format!("'{name}' needs at least one <value>"),
                        "add <value>...</value> children",
                    ));
                }
                (ValueRule::Two, None) if children.len() != 2 => {
                    return Err(error(
                        input,
                        at,
                        &format!(
                            "'{name}' takes exactly two <value> children, found {}",
                            children.len()
                        ),
                        "write <value>low</value><value>high</value>",
                    ));
                }
                (ValueRule::List | ValueRule::Two, None) => children,
            };
            FilterItem::Condition(Condition {
                attribute,
                operator,
                values,
            })
        }
    };
    match stack.last_mut() {
        Some(Frame::Filter { node, .. }) => node.items.push(item),
        _ => *root = Some(item),
    }
    Ok(())
}

fn text(input: &str, at: usize, content: &str, stack: &mut [Frame]) -> Result<(), FilterError> {
    if let Some(Frame::Value { text }) = stack.last_mut() {
        // A lone carriage return would read back as a line feed.
        text.push_str(&content.replace('\r', "\n"));
        return Ok(());
    }
    if content.trim().is_empty() {
        return Ok(());
    }
    Err(error(
        input,
        at,
        "text is not allowed here",
        "text belongs only inside <value>...</value>; put single values in value='...'",
    ))
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

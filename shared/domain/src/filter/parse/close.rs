//! Closing an element: a finished `<value>` joins its condition, a finished condition is
//! checked against its operator, and each item joins its parent filter or becomes the root.
//! Text is allowed only inside `<value>`.

use super::Frame;
use crate::filter::operators::check_value;
use crate::filter::scan::error;
use crate::filter::{Condition, FilterError, FilterItem, ValueRule};

pub(super) fn close(
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

pub(super) fn text(
    input: &str,
    at: usize,
    content: &str,
    stack: &mut [Frame],
) -> Result<(), FilterError> {
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

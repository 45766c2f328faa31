//! A small XML element tree: enough to read a stored FetchXML query or a filter block and
//! to write queries. Reading uses quick-xml (entities resolved, DOCTYPE refused); writing
//! uses `quick_xml::Writer`, which escapes every attribute value and text.

use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer, XmlVersion};

use crate::error::FetchXmlError;

/// Deepest nesting accepted when reading, so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Element(Element),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

impl Element {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    pub fn attr(mut self, key: &str, value: &str) -> Self {
        self.set(key, value);
        self
    }

    pub fn child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    pub fn set(&mut self, key: &str, value: &str) {
        match self.attrs.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.attrs.push((key.to_owned(), value.to_owned())),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|node| match node {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// Serialises the element and its children.
    pub fn to_xml(&self) -> Result<String, FetchXmlError> {
        let mut writer = Writer::new(Vec::new());
        write(&mut writer, self)?;
        String::from_utf8(writer.into_inner()).map_err(|e| FetchXmlError::Malformed {
            what: "the written query",
            problem: e.to_string(),
        })
    }
}

fn write(writer: &mut Writer<Vec<u8>>, element: &Element) -> std::io::Result<()> {
    let start = BytesStart::new(element.name.as_str())
        .with_attributes(element.attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if element.children.is_empty() {
        return writer.write_event(Event::Empty(start));
    }
    writer.write_event(Event::Start(start))?;
    for child in &element.children {
        match child {
            Node::Element(e) => write(writer, e)?,
            Node::Text(t) => writer.write_event(Event::Text(BytesText::new(t)))?,
        }
    }
    writer.write_event(Event::End(BytesEnd::new(element.name.as_str())))
}

/// Reads one root element. Comments, declarations and whitespace between elements are
/// dropped; a DOCTYPE, a second root or unclosed elements are errors.
pub(crate) fn parse(input: &str, what: &'static str) -> Result<Element, FetchXmlError> {
    let malformed = |problem: String| FetchXmlError::Malformed { what, problem };
    let mut reader = Reader::from_str(input);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(format!("{e} at byte {}", reader.error_position())))?;
        match event {
            Event::Start(e) | Event::Empty(e) if root.is_some() && stack.is_empty() => {
                return Err(malformed(format!(
                    "a second top-level element <{}>",
                    e.name().as_ref()
                )));
            }
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(malformed(format!("nesting deeper than {MAX_DEPTH}")));
                }
                stack.push(open(&e, &malformed)?);
            }
            Event::Empty(e) => {
                let element = open(&e, &malformed)?;
                attach(&mut stack, &mut root, element);
            }
            Event::End(_) => {
                let element = stack
                    .pop()
                    .ok_or_else(|| malformed("an unexpected closing tag".to_owned()))?;
                attach(&mut stack, &mut root, element);
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content()),
            Event::CData(t) => push_text(&mut stack, &t.into_inner()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => match &*r.xml10_content() {
                        "amp" => "&".to_owned(),
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "quot" => "\"".to_owned(),
                        "apos" => "'".to_owned(),
                        other => return Err(malformed(format!("unknown entity '&{other};'"))),
                    },
                };
                push_text(&mut stack, &resolved);
            }
            Event::DocType(_) => return Err(malformed("a DOCTYPE is not allowed".to_owned())),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed("an element is not closed".to_owned()));
    }
    root.ok_or_else(|| malformed("no element found".to_owned()))
}

fn open(
    e: &BytesStart<'_>,
    malformed: &impl Fn(String) -> FetchXmlError,
) -> Result<Element, FetchXmlError> {
    let mut element = Element::new(e.name().as_ref());
    for attribute in e.attributes() {
        let attribute = attribute.map_err(|err| malformed(format!("bad attribute ({err})")))?;
        let key: &str = attribute.key.as_ref();
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|err| malformed(format!("bad value of '{key}' ({err})")))?;
        element.attrs.push((key.to_owned(), value.into_owned()));
    }
    Ok(element)
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(element)),
        None => *root = Some(element),
    }
}

/// Text is kept only where it is not layout whitespace; adjacent pieces are joined.
fn push_text(stack: &mut [Element], text: &str) {
    let Some(parent) = stack.last_mut() else {
        return;
    };
    if let Some(Node::Text(previous)) = parent.children.last_mut() {
        previous.push_str(text);
    } else if !text.trim().is_empty() {
        parent.children.push(Node::Text(text.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_are_escaped_when_written_and_unescaped_when_read() {
        let element = Element::new("condition")
            .attr("attribute", "lastname")
            .attr("value", "O'Brien & <Sons> \"x\"");
        let xml = element.to_xml().unwrap();
        assert!(!xml.contains("& "));
        assert_eq!(parse(&xml, "test").unwrap(), element);
    }

    #[test]
    fn text_with_entities_round_trips() {
        let xml = "<value>A &amp; B &#60; C</value>";
        let element = parse(xml, "test").unwrap();
        assert_eq!(element.children, vec![Node::Text("A & B < C".to_owned())]);
    }

    #[test]
    fn doctype_second_roots_and_unclosed_elements_are_errors_not_panics() {
        assert!(parse("<!DOCTYPE x><a/>", "test").is_err());
        assert!(parse("<a/><b/>", "test").is_err());
        assert!(parse("<a><b></a>", "test").is_err());
        assert!(parse("<a>", "test").is_err());
        assert!(parse("", "test").is_err());
        assert!(parse(&"<a>".repeat(100), "test").is_err());
    }
}

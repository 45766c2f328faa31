//! The raw-text side of filter parsing: a pre-scan that finds unescaped `&` anywhere and
//! `<` inside attribute values (outside comments and CDATA) before the XML parser sees
//! them, and the conversion of byte offsets into line and column for every error.

use super::FilterError;

/// Finds unescaped `&` anywhere and `<` inside attribute values, outside comments and CDATA.
pub(super) fn prescan(input: &str) -> Result<(), FilterError> {
    let bytes = input.as_bytes();
    let mut quote: Option<u8> = None;
    let mut in_tag = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let rest = input.get(i..).unwrap_or("");
        if !in_tag && rest.starts_with("<!--") {
            i += rest.find("-->").map_or(rest.len(), |end| end + 3);
            continue;
        }
        if !in_tag && rest.starts_with("<![CDATA[") {
            i += rest.find("]]>").map_or(rest.len(), |end| end + 3);
            continue;
        }
        match (b, quote) {
            (b'&', _) if !is_reference(rest) => {
                return Err(error(input, i, "unescaped '&'", "write &amp;"));
            }
            (b'<', Some(_)) => {
                return Err(error(
                    input,
                    i,
                    "unescaped '<' inside an attribute value",
                    "write &lt;",
                ));
            }
            (b'\'' | b'"', None) if in_tag => quote = Some(b),
            (q, Some(open)) if q == open => quote = None,
            (b'<', None) => in_tag = true,
            (b'>', None) => in_tag = false,
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn is_reference(rest: &str) -> bool {
    let Some(end) = rest.get(1..).and_then(|r| r.find(';')) else {
        return false;
    };
    let Some(name) = rest.get(1..=end) else {
        return false;
    };
    match name.strip_prefix('#') {
        Some(hex) if hex.starts_with('x') => {
            hex.len() > 1 && hex.bytes().skip(1).all(|b| b.is_ascii_hexdigit())
        }
        Some(dec) => !dec.is_empty() && dec.bytes().all(|b| b.is_ascii_digit()),
        None => !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric()),
    }
}

pub(super) fn error(input: &str, offset: usize, problem: &str, fix: &str) -> FilterError {
    let (mut line, mut column) = (1, 1);
    for (index, c) in input.char_indices() {
        if index >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    FilterError {
        line,
        column,
        problem: problem.to_owned(),
        fix: fix.to_owned(),
    }
}

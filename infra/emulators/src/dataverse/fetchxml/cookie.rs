//! Dataverse's FetchXML paging cookie: `<cookie page="1"><contactid last="{..}" first="{..}" /></cookie>`,
//! sent back to clients inside the `fetchxmlpagingcookie` annotation URL-encoded twice.

use super::xml::parse;
use crate::dataverse::errors::ApiError;
use axum::http::StatusCode;
use std::fmt::Write as _;

/// `last`/`first` values of one sort column.
#[derive(Debug, Clone, PartialEq)]
pub struct CookieColumn {
    pub name: String,
    pub last: String,
    pub first: String,
}

fn xml_attr(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// The cookie XML for one page.
pub fn build(page: usize, columns: &[CookieColumn]) -> String {
    let mut out = format!("<cookie page=\"{page}\">");
    for c in columns {
        let _ = write!(
            out,
            "<{} last=\"{}\" first=\"{}\" />",
            c.name,
            xml_attr(&c.last),
            xml_attr(&c.first)
        );
    }
    out.push_str("</cookie>");
    out
}

/// .NET `HttpUtility.UrlEncode` style: lowercase hex, unreserved `-_.!*()` and alphanumerics kept.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!*()".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02x}");
        }
    }
    out
}

/// The `@Microsoft.Dynamics.CRM.fetchxmlpagingcookie` annotation value.
pub fn annotation(next_page: usize, cookie_xml: &str) -> String {
    format!(
        "<cookie pagenumber=\"{next_page}\" pagingcookie=\"{}\" istracking=\"False\" />",
        url_encode(&url_encode(cookie_xml))
    )
}

/// Reads the `paging-cookie` a client put on `<fetch>`.
pub fn read(cookie: &str) -> Result<Vec<CookieColumn>, ApiError> {
    let mismatch = |why: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "0x80041129",
            format!("Paging cookie and query do not match: {why}"),
        )
    };
    let root =
        parse(cookie).map_err(|e| mismatch(format!("the paging cookie is not valid XML ({e})")))?;
    if root.name != "cookie" {
        return Err(mismatch(format!(
            "expected <cookie>, found <{}>",
            root.name
        )));
    }
    Ok(root
        .children
        .iter()
        .map(|c| CookieColumn {
            name: c.name.clone(),
            last: c.attr("last").unwrap_or_default().to_owned(),
            first: c.attr("first").unwrap_or_default().to_owned(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn annotation_is_double_encoded_like_dataverse() {
        let xml = build(
            1,
            &[CookieColumn {
                name: "contactid".into(),
                last: "{A}".into(),
                first: "{B}".into(),
            }],
        );
        let ann = annotation(2, &xml);
        assert!(ann.starts_with(
            "<cookie pagenumber=\"2\" pagingcookie=\"%253ccookie%2520page%253d%25221%2522%253e"
        ));
        assert!(ann.ends_with("istracking=\"False\" />"));
    }

    #[test]
    fn cookie_reads_back_its_columns() {
        let xml = build(
            3,
            &[CookieColumn {
                name: "lastname".into(),
                last: "O'Brien & Co".into(),
                first: "A".into(),
            }],
        );
        let cols = read(&xml).unwrap();
        assert_eq!(cols[0].last, "O'Brien & Co");
    }
}

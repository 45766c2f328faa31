//! Dataverse's paging cookie, for the fallback where an organization rejects keyset
//! conditions on the primary id (ARCHITECTURE.md section 2, API-FACTS.md 2.3). The
//! `@Microsoft.Dynamics.CRM.fetchxmlpagingcookie` annotation is a `<cookie>` element whose
//! `pagingcookie` attribute is URL-encoded twice; the next request carries it as
//! `paging-cookie` with `page` incremented. The fallback does not follow annotations: it
//! synthesizes the cookie from the page cursor ([`cookie_after`]), so a page task still
//! carries a plain GUID and a redelivery refetches the same page.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use crate::error::FetchXmlError;
use crate::guid::parse_guid;
use crate::tree::{Element, parse};

/// What the next page request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagingCookie {
    /// The page the cookie leads to (`pagenumber`).
    pub page: u32,
    /// The decoded cookie (`<cookie page="1"><contactid last="{...}" .../></cookie>`).
    pub cookie: String,
}

/// Decodes the annotation's value.
pub fn decode_paging_cookie(annotation: &str) -> Result<PagingCookie, FetchXmlError> {
    let element = parse(annotation, "the paging cookie annotation")?;
    let problem = |p: &str| FetchXmlError::PagingCookie {
        problem: p.to_owned(),
    };
    let encoded = element
        .get("pagingcookie")
        .ok_or_else(|| problem("has no pagingcookie attribute"))?;
    let page = element
        .get("pagenumber")
        .ok_or_else(|| problem("has no pagenumber attribute"))?
        .parse::<u32>()
        .map_err(|_| problem("has a pagenumber that is not a number"))?;
    let once = decode(encoded).ok_or_else(|| problem("is not valid URL-encoded UTF-8"))?;
    let twice = decode(&once).ok_or_else(|| problem("is not valid URL-encoded UTF-8"))?;
    Ok(PagingCookie {
        page,
        cookie: twice.into_owned(),
    })
}

fn decode(text: &str) -> Option<Cow<'_, str>> {
    percent_decode_str(text).decode_utf8().ok()
}

/// The query with `page` and `paging-cookie` set on its `<fetch>` (the writer escapes the
/// cookie).
pub fn with_paging_cookie(fetchxml: &str, cookie: &PagingCookie) -> Result<String, FetchXmlError> {
    let mut fetch = parse(fetchxml, "the query")?;
    fetch.set("page", &cookie.page.to_string());
    fetch.set("paging-cookie", &cookie.cookie);
    fetch.to_xml()
}

/// The cookie of the page after `after` in primary-id order: `page="1"` with `last` (and
/// `first`) = `{AFTER}`, leading to page 2. Dataverse reads only the position from it, so
/// the page numbers need not be the real ones; they are kept consecutive (cookie page + 1)
/// as Dataverse's own cookies are.
pub fn cookie_after(primary_id: &str, after: &str) -> Result<PagingCookie, FetchXmlError> {
    if primary_id.is_empty()
        || !primary_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(FetchXmlError::PagingCookie {
            problem: format!("cannot name the primary id '{primary_id}'"),
        });
    }
    let after = parse_guid("the page cursor", after)?;
    let braced = format!("{{{}}}", after.hyphenated().to_string().to_uppercase());
    let cookie = Element::new("cookie")
        .attr("page", "1")
        .child(
            Element::new(primary_id)
                .attr("last", &braced)
                .attr("first", &braced),
        )
        .to_xml()?;
    Ok(PagingCookie { page: 2, cookie })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ANNOTATION: &str = "<cookie pagenumber=\"2\" pagingcookie=\"%253ccookie%2520page%253d%25221%2522%253e%253ccontactid%2520last%253d%2522%257b0748C6EC-55A8-EB11-B1B5-000D3A9B2D36%257d%2522%2520first%253d%2522%257b4B2FB8E4-55A8-EB11-B1B5-000D3A9B2D36%257d%2522%2520%252f%253e%253c%252fcookie%253e\" istracking=\"False\" />";

    #[test]
    fn the_annotation_decodes_to_the_page_and_twice_decoded_cookie() {
        let cookie = decode_paging_cookie(ANNOTATION).unwrap();
        assert_eq!(cookie.page, 2);
        assert_eq!(
            cookie.cookie,
            "<cookie page=\"1\"><contactid last=\"{0748C6EC-55A8-EB11-B1B5-000D3A9B2D36}\" first=\"{4B2FB8E4-55A8-EB11-B1B5-000D3A9B2D36}\" /></cookie>"
        );
    }

    #[test]
    fn the_cookie_goes_escaped_into_the_fetch_element() {
        let cookie = decode_paging_cookie(ANNOTATION).unwrap();
        let xml = with_paging_cookie("<fetch count='2'><entity name='contact'/></fetch>", &cookie)
            .unwrap();
        assert!(xml.starts_with(
            "<fetch count=\"2\" page=\"2\" paging-cookie=\"&lt;cookie page=&quot;1&quot;&gt;"
        ));
        let back = parse(&xml, "test").unwrap();
        assert_eq!(back.get("paging-cookie"), Some(cookie.cookie.as_str()));
    }

    #[test]
    fn a_cursor_becomes_a_cookie_positioned_after_it() {
        let cookie = cookie_after("contactid", "0748c6ec-55a8-eb11-b1b5-000d3a9b2d36").unwrap();
        assert_eq!(cookie.page, 2);
        assert_eq!(
            cookie.cookie,
            "<cookie page=\"1\"><contactid last=\"{0748C6EC-55A8-EB11-B1B5-000D3A9B2D36}\" first=\"{0748C6EC-55A8-EB11-B1B5-000D3A9B2D36}\"/></cookie>"
        );
        assert!(
            cookie_after("contactid", "' or 1=1")
                .unwrap_err()
                .to_string()
                .contains("not a GUID")
        );
        assert!(cookie_after("contact id", "0748c6ec-55a8-eb11-b1b5-000d3a9b2d36").is_err());
        assert!(cookie_after("", "0748c6ec-55a8-eb11-b1b5-000d3a9b2d36").is_err());
    }

    #[test]
    fn a_broken_annotation_is_an_error() {
        assert!(decode_paging_cookie("<cookie pagenumber='2'/>").is_err());
        assert!(decode_paging_cookie("<cookie pagingcookie='x' pagenumber='two'/>").is_err());
        assert!(decode_paging_cookie("not xml <").is_err());
        assert!(decode_paging_cookie("<cookie pagingcookie='%FF' pagenumber='2'/>").is_err());
    }
}

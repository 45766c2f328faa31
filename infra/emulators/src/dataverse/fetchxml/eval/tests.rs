#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use crate::dataverse::guid_order::sql_guid_cmp;
use crate::dataverse::schema::Schema;
use crate::dataverse::values::Record;
use proptest::prelude::*;
use uuid::Uuid;

fn state_with(n: u64) -> (State, Vec<Uuid>) {
    let mut st = State::new(Schema::standard());
    let mut ids = Vec::new();
    for i in 0..n {
        let id = Uuid::from_u64_pair(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), i);
        let r = Record::new()
            .with("contactid", id)
            .with("lastname", format!("L{}", i % 4))
            .with("numberofchildren", (i % 3) as i64);
        ids.push(st.insert("contact", r).unwrap());
    }
    ids.sort_by(sql_guid_cmp);
    (st, ids)
}

fn ids(page: &Page) -> Vec<String> {
    page.rows
        .iter()
        .map(|r| r["contactid"].as_str().unwrap().to_owned())
        .collect()
}

const PAGING: Annotations = Annotations {
    formatted: false,
    lookup: false,
    paging: true,
};

#[test]
fn primary_id_bounds_limit_the_scan_to_a_partition() {
    let (st, all) = state_with(40);
    let xml = format!(
        "<fetch><entity name='contact'><attribute name='contactid'/><order attribute='contactid'/><filter>\
             <condition attribute='contactid' operator='ge' value='{}'/><condition attribute='contactid' operator='lt' value='{}'/>\
             </filter></entity></fetch>",
        all[10], all[20]
    );
    let page = execute(&st, Some("contacts"), &xml, PAGING).unwrap();
    let expected: Vec<String> = all[10..20].iter().map(Uuid::to_string).collect();
    assert_eq!(ids(&page), expected);
    assert!(!page.more);
}

#[test]
fn inverted_bounds_return_nothing_instead_of_panicking() {
    let (st, all) = state_with(10);
    let xml = format!(
        "<fetch><entity name='contact'><attribute name='contactid'/><filter>\
             <condition attribute='contactid' operator='gt' value='{}'/><condition attribute='contactid' operator='lt' value='{}'/>\
             </filter></entity></fetch>",
        all[7], all[2]
    );
    assert!(
        execute(&st, Some("contacts"), &xml, PAGING)
            .unwrap()
            .rows
            .is_empty()
    );
}

#[test]
fn outer_links_keep_rows_without_a_match_and_expose_linked_columns() {
    let (mut st, all) = state_with(3);
    let account = st
        .insert(
            "account",
            Record::new().with("name", "Contoso").with_lookup(
                "primarycontactid",
                "contact",
                all[0],
            ),
        )
        .unwrap();
    let xml = "<fetch><entity name='contact'><attribute name='contactid'/><order attribute='contactid'/>\
                   <link-entity name='account' from='primarycontactid' to='contactid' link-type='outer' alias='acc'>\
                   <attribute name='name'/></link-entity></entity></fetch>";
    let page = execute(&st, None, xml, PAGING).unwrap();
    assert_eq!(page.rows.len(), 3);
    assert_eq!(page.rows[0]["acc.name"], "Contoso");
    assert!(page.rows[1].get("acc.name").is_none());
    let inner = xml.replace("link-type='outer'", "link-type='inner'");
    assert_eq!(execute(&st, None, &inner, PAGING).unwrap().rows.len(), 1);
    let by_alias = "<fetch><entity name='contact'><attribute name='contactid'/>\
                   <link-entity name='account' from='primarycontactid' to='contactid' link-type='outer' alias='acc'/>\
                   <filter><condition entityname='acc' attribute='accountid' operator='null'/></filter></entity></fetch>";
    assert_eq!(execute(&st, None, by_alias, PAGING).unwrap().rows.len(), 2);
    assert!(account != Uuid::nil());
}

#[test]
fn simple_paging_stops_at_50000_rows_while_cookies_go_on() {
    let mut st = State::new(Schema::standard());
    crate::dataverse::seed::Seed::contacts(SIMPLE_PAGING_LIMIT + 5, 1)
        .load(&mut st)
        .unwrap();
    let page = |n: usize, cookie: &str| {
        let xml = format!(
            "<fetch count='5000' page='{n}'{cookie}><entity name='contact'><attribute name='contactid'/></entity></fetch>"
        );
        execute(&st, None, &xml, PAGING).unwrap()
    };
    let tenth = page(10, "");
    assert_eq!(tenth.rows.len(), 5000);
    assert!(!tenth.more, "simple paging reports no more rows at 50,000");
    assert!(page(11, "").rows.is_empty());
    let last = ids(&tenth).pop().unwrap();
    let cookie = format!(
        " paging-cookie='&lt;cookie page=\"10\"&gt;&lt;contactid last=\"{{{last}}}\" first=\"{{{last}}}\" /&gt;&lt;/cookie&gt;'"
    );
    assert_eq!(page(11, &cookie).rows.len(), 5);
}

#[test]
fn top_limits_rows_and_never_reports_more() {
    let (st, _) = state_with(10);
    let page = execute(
        &st,
        None,
        "<fetch top='3'><entity name='contact'><attribute name='contactid'/></entity></fetch>",
        PAGING,
    )
    .unwrap();
    assert_eq!(page.rows.len(), 3);
    assert!(!page.more && page.cookie.is_none());
}

#[test]
fn aggregate_queries_are_refused_with_a_clear_error() {
    let (st, _) = state_with(1);
    let err = execute(
        &st,
        None,
        "<fetch aggregate='true'><entity name='contact'/></fetch>",
        PAGING,
    )
    .unwrap_err();
    assert!(err.message.contains("Aggregate"));
}

/// Follows cookies as a client does and returns every id seen.
fn walk(st: &State, order: &str, count: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cookie_attr = String::new();
    for page_no in 1.. {
        let xml = format!(
            "<fetch count='{count}' page='{page_no}'{cookie_attr}><entity name='contact'><attribute name='contactid'/>{order}</entity></fetch>"
        );
        let page = execute(st, None, &xml, PAGING).unwrap();
        out.extend(ids(&page));
        let Some(ann) = page.cookie else { break };
        let raw = ann
            .split("pagingcookie=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let once = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .unwrap()
            .into_owned();
        let twice = percent_encoding::percent_decode_str(&once)
            .decode_utf8()
            .unwrap()
            .into_owned();
        cookie_attr = format!(
            " paging-cookie='{}'",
            quick_xml::escape::escape(twice.as_str())
        );
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn cookie_paging_returns_every_row_exactly_once(n in 0u64..60, count in 1usize..12, order in 0usize..4) {
        let (st, all) = state_with(n);
        let orders = [
            "",
            "<order attribute='contactid'/>",
            "<order attribute='lastname' descending='true'/>",
            "<order attribute='numberofchildren'/><order attribute='lastname'/>",
        ];
        let seen = walk(&st, orders[order], count);
        prop_assert_eq!(seen.len(), all.len());
        let unique: std::collections::BTreeSet<_> = seen.iter().collect();
        prop_assert_eq!(unique.len(), all.len());
        if order < 2 {
            let expected: Vec<String> = all.iter().map(Uuid::to_string).collect();
            prop_assert_eq!(seen, expected);
        }
    }
}

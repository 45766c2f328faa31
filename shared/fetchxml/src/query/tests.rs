#![allow(clippy::unwrap_used)]
use super::*;
use chrono::TimeZone;

fn base<'a>(fields: &'a [String]) -> PageQuery<'a> {
    PageQuery {
        entity: "contact",
        primary_id: "contactid",
        fields,
        page_size: 500,
        filter: None,
        fetch_mode: FetchMode::All,
        window: None,
        list: None,
        partition: None,
        cursor: None,
    }
}

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, h, 0, 0).unwrap()
}

#[test]
fn the_primary_id_is_selected_first_and_fields_only_once() {
    let fields = [
        "emailaddress1".to_owned(),
        "contactid".to_owned(),
        "emailaddress1".to_owned(),
    ];
    assert_eq!(
        base(&fields).to_fetchxml().unwrap(),
        r#"<fetch count="500"><entity name="contact"><attribute name="contactid"/><attribute name="emailaddress1"/><order attribute="contactid"/></entity></fetch>"#
    );
}

#[test]
fn the_cursor_wins_over_the_partition_start_and_the_end_is_inclusive() {
    let partition = Partition {
        index: 1,
        after: Some("00000000-0000-0000-0000-000000000001".to_owned()),
        until: Some("00000000-0000-0000-0000-000000000009".to_owned()),
    };
    let mut query = base(&[]);
    query.partition = Some(&partition);
    let xml = query.to_fetchxml().unwrap();
    assert!(xml.contains(r#"<condition attribute="contactid" operator="gt" value="00000000-0000-0000-0000-000000000001"/><condition attribute="contactid" operator="le" value="00000000-0000-0000-0000-000000000009"/>"#));
    query.cursor = Some("00000000-0000-0000-0000-000000000005");
    let xml = query.to_fetchxml().unwrap();
    assert!(xml.contains(r#"operator="gt" value="00000000-0000-0000-0000-000000000005""#));
    assert!(!xml.contains("000000000001"));
    query.cursor = Some("' or '1'='1");
    assert!(
        query
            .to_fetchxml()
            .unwrap_err()
            .to_string()
            .contains("not a GUID")
    );
}

#[test]
fn each_fetch_mode_adds_its_window_conditions() {
    let full = Window {
        from: Some(at(9)),
        to: Some(at(10)),
    };
    let first_run = Window {
        from: None,
        to: Some(at(10)),
    };
    let recent = Window {
        from: Some(at(9)),
        to: None,
    };
    let ge = r#"<condition attribute="modifiedon" operator="ge" value="2026-11-27T09:00:00Z"/>"#;
    let lt = r#"<condition attribute="modifiedon" operator="lt" value="2026-11-27T10:00:00Z"/>"#;
    let created =
        r#"<condition attribute="createdon" operator="lt" value="2026-11-27T09:00:00Z"/>"#;
    let cases = [
        (FetchMode::All, &recent, vec![ge], vec![lt, created]),
        (FetchMode::NewAndUpdated, &full, vec![ge, lt], vec![created]),
        (
            FetchMode::NewAndUpdated,
            &first_run,
            vec![lt],
            vec![ge, created],
        ),
        (FetchMode::OnlyUpdated, &full, vec![ge, lt, created], vec![]),
        (
            FetchMode::OnlyUpdated,
            &first_run,
            vec![lt],
            vec![ge, created],
        ),
    ];
    for (mode, window, present, absent) in cases {
        let mut query = base(&[]);
        query.fetch_mode = mode;
        query.window = Some(window);
        let xml = query.to_fetchxml().unwrap();
        assert!(present.iter().all(|c| xml.contains(c)), "{mode:?}: {xml}");
        assert!(absent.iter().all(|c| !xml.contains(c)), "{mode:?}: {xml}");
    }
}

#[test]
fn the_record_filter_is_anded_with_the_other_conditions() {
    let window = Window {
        from: Some(at(9)),
        to: None,
    };
    let mut query = base(&[]);
    query.window = Some(&window);
    query.filter = Some(
        r#"<filter type="or"><condition attribute="lastname" operator="eq" value="A &amp; B"/><condition attribute="statecode" operator="eq" value="0"/></filter>"#,
    );
    let xml = query.to_fetchxml().unwrap();
    assert!(xml.contains(r#"<filter type="and"><condition attribute="modifiedon" operator="ge" value="2026-11-27T09:00:00Z"/><filter type="or"><condition attribute="lastname" operator="eq" value="A &amp; B"/>"#), "{xml}");
}

#[test]
fn a_static_list_joins_its_members_and_keeps_the_record_filter() {
    let list = ListTarget {
        id: "4b2fb8e4-55a8-eb11-b1b5-000d3a9b2d36".to_owned(),
        name: "VIP".to_owned(),
        dynamic: false,
        query: None,
    };
    let mut query = base(&[]);
    query.list = Some(&list);
    query.filter = Some(
        r#"<filter type="and"><condition attribute="statecode" operator="eq" value="0"/></filter>"#,
    );
    let xml = query.to_fetchxml().unwrap();
    assert!(xml.contains(r#"<link-entity name="listmember" from="entityid" to="contactid" link-type="inner" intersect="true">"#));
    assert!(xml.contains("statecode"));
}

#[test]
fn a_dynamic_list_query_is_rewritten_with_our_columns_order_and_page_size() {
    let list = ListTarget {
            id: "4b2fb8e4-55a8-eb11-b1b5-000d3a9b2d36".to_owned(),
            name: "Ankara".to_owned(),
            dynamic: true,
            query: Some(r#"<fetch top="5" aggregate="false"><entity name="contact"><attribute name="fullname"/><order attribute="fullname" descending="true"/><filter type="or"><condition attribute="address1_city" operator="eq" value="Ankara"/></filter></entity></fetch>"#.to_owned()),
        };
    let fields = ["emailaddress1".to_owned()];
    let mut query = base(&fields);
    query.list = Some(&list);
    query.cursor = Some("00000000-0000-0000-0000-000000000005");
    let xml = query.to_fetchxml().unwrap();
    assert_eq!(
        xml,
        r#"<fetch count="500"><entity name="contact"><attribute name="contactid"/><attribute name="emailaddress1"/><order attribute="contactid"/><filter type="and"><filter type="or"><condition attribute="address1_city" operator="eq" value="Ankara"/></filter><condition attribute="contactid" operator="gt" value="00000000-0000-0000-0000-000000000005"/></filter></entity></fetch>"#
    );
}

#[test]
fn the_cookie_query_has_no_keyset_conditions_and_starts_after_the_cursor_or_partition_start() {
    let partition = Partition {
        index: 1,
        after: Some("00000000-0000-0000-0000-000000000001".to_owned()),
        until: Some("00000000-0000-0000-0000-000000000009".to_owned()),
    };
    let window = Window {
        from: Some(at(9)),
        to: None,
    };
    let mut query = base(&[]);
    query.window = Some(&window);
    let first = query.to_cookie_fetchxml().unwrap();
    assert_eq!(
        first,
        r#"<fetch count="500"><entity name="contact"><attribute name="contactid"/><order attribute="contactid"/><filter type="and"><condition attribute="modifiedon" operator="ge" value="2026-11-27T09:00:00Z"/></filter></entity></fetch>"#
    );
    query.partition = Some(&partition);
    let start = query.to_cookie_fetchxml().unwrap();
    assert!(start.starts_with(r#"<fetch count="500" page="2" paging-cookie="&lt;cookie page=&quot;1&quot;&gt;&lt;contactid last=&quot;{00000000-0000-0000-0000-000000000001}&quot;"#), "{start}");
    assert!(
        !start.contains(r#"attribute="contactid" operator"#),
        "{start}"
    );
    assert!(
        !start.contains("000000000009"),
        "the end is enforced by the caller"
    );
    query.cursor = Some("00000000-0000-0000-0000-000000000005");
    let next = query.to_cookie_fetchxml().unwrap();
    assert!(
        next.contains("last=&quot;{00000000-0000-0000-0000-000000000005}"),
        "{next}"
    );
    assert!(next.contains(r#"<order attribute="contactid"/>"#));
    assert!(!next.contains("000000000001"));
}

#[test]
fn the_ids_query_selects_those_ids_with_the_fields_and_the_record_filter() {
    let fields = ["emailaddress1".to_owned()];
    let ids = [
        "00000000-0000-0000-0000-000000000002".to_owned(),
        "{00000000-0000-0000-0000-00000000000A}".to_owned(),
    ];
    let filter =
        r#"<filter type="and"><condition attribute="statecode" operator="eq" value="0"/></filter>"#;
    let xml = ids_query("contact", "contactid", &fields, Some(filter), &ids).unwrap();
    assert_eq!(
        xml,
        r#"<fetch count="2"><entity name="contact"><attribute name="contactid"/><attribute name="emailaddress1"/><order attribute="contactid"/><filter type="and"><condition attribute="contactid" operator="in"><value>00000000-0000-0000-0000-000000000002</value><value>00000000-0000-0000-0000-00000000000a</value></condition><filter type="and"><condition attribute="statecode" operator="eq" value="0"/></filter></filter></entity></fetch>"#
    );
    let unfiltered = ids_query("contact", "contactid", &[], None, &ids[..1]).unwrap();
    assert!(
        unfiltered.contains(r#"operator="in"><value>"#),
        "{unfiltered}"
    );
}

#[test]
fn the_ids_query_refuses_non_guids_and_batches_of_the_wrong_size() {
    let bad = ["' or 1=1".to_owned()];
    let error = ids_query("contact", "contactid", &[], None, &bad).unwrap_err();
    assert!(error.to_string().contains("not a GUID"), "{error}");
    assert!(ids_query("contact", "contactid", &[], None, &[]).is_err());
    let many: Vec<String> = (0..=MAX_IDS_PER_QUERY)
        .map(|i| format!("00000000-0000-0000-0000-{i:012}"))
        .collect();
    let error = ids_query("contact", "contactid", &[], None, &many).unwrap_err();
    assert!(error.to_string().contains("split"), "{error}");
}

#[test]
fn a_malformed_record_filter_is_an_error() {
    let mut query = base(&[]);
    query.filter = Some("<filter><condition></filter>");
    assert!(query.to_fetchxml().is_err());
}

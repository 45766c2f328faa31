//! FetchXML evaluated for real over HTTP: operators, nested filters, formatted values, unset
//! columns and Dataverse's errors for bad queries. Marketing lists (the `listmember` join)
//! and the demo seed are in `dataverse_fetchxml_lists.rs`; paging and GUID order in
//! `dataverse_paging.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dataverse_common;

use chrono::{TimeZone, Utc};
use dataverse_common::people::{cond, ids_of, people, q, set};
use dataverse_common::*;
use dynsync_emulators::dataverse::{DataverseEmulator, Record, Seed};

#[tokio::test]
async fn comparison_and_text_operators_select_the_right_rows() {
    let (emu, t, _) = people().await;
    let cases: Vec<(String, &[&str])> = vec![
        (cond("lastname", "eq", "lovelace"), &["C1", "C5"]),
        (cond("gendercode", "ne", "1"), &["C3", "C4", "C7"]),
        (cond("gendercode", "neq", "1"), &["C3", "C4", "C7"]),
        (cond("numberofchildren", "gt", "5"), &["C7", "C8"]),
        (cond("numberofchildren", "ge", "6"), &["C7", "C8"]),
        (cond("numberofchildren", "lt", "1"), &["C1"]),
        (cond("numberofchildren", "le", "1"), &["C1", "C2"]),
        (
            cond("emailaddress1", "like", "%@example.com"),
            &["C1", "C4", "C6", "C7"],
        ),
        (
            cond("emailaddress1", "not-like", "%@example.com"),
            &["C2", "C5"],
        ),
        (cond("firstname", "begins-with", "A"), &["C1", "C2", "C4"]),
        (
            cond("firstname", "not-begin-with", "A"),
            &["C3", "C5", "C6", "C7", "C8"],
        ),
        (cond("lastname", "ends-with", "ce"), &["C1", "C5"]),
        (
            cond("lastname", "not-end-with", "ce"),
            &["C2", "C3", "C4", "C6", "C7", "C8"],
        ),
        (cond("emailaddress1", "null", ""), &["C3", "C8"]),
        (
            cond("gendercode", "not-null", ""),
            &["C1", "C2", "C3", "C4", "C6", "C7"],
        ),
        (cond("firstname", "eq", "Ayşe"), &["C4"]),
    ];
    for (filter, expected) in cases {
        assert_eq!(ids_of(&emu, &t, &filter).await, set(expected), "{filter}");
    }
}

#[tokio::test]
async fn multi_value_and_date_operators_select_the_right_rows() {
    let (emu, t, _) = people().await;
    let multi = |op: &str, values: &[&str]| {
        let v: String = values
            .iter()
            .map(|x| format!("<value>{x}</value>"))
            .collect();
        format!(
            "<filter><condition attribute='new_customerid' operator='{op}'>{v}</condition></filter>"
        )
    };
    assert_eq!(
        ids_of(&emu, &t, &multi("in", &["C1", "C3", "C9"])).await,
        set(&["C1", "C3"])
    );
    assert_eq!(
        ids_of(&emu, &t, &multi("not-in", &["C1", "C2", "C3", "C4"])).await,
        set(&["C5", "C6", "C7", "C8"])
    );
    let between = "<filter><condition attribute='numberofchildren' operator='between'><value>2</value><value>4</value></condition></filter>";
    assert_eq!(ids_of(&emu, &t, between).await, set(&["C3", "C4", "C5"]));
    let not_between = between.replace("'between'", "'not-between'");
    assert_eq!(
        ids_of(&emu, &t, &not_between).await,
        set(&["C1", "C2", "C6", "C7", "C8"])
    );
    // createdon is 2026-01-0N 10:00Z for CN; the clock is 2026-01-10 12:00Z.
    assert_eq!(
        ids_of(&emu, &t, &cond("createdon", "on", "2026-01-03")).await,
        set(&["C3"])
    );
    assert_eq!(
        ids_of(&emu, &t, &cond("createdon", "on-or-after", "2026-01-07")).await,
        set(&["C7", "C8"])
    );
    assert_eq!(
        ids_of(&emu, &t, &cond("createdon", "on-or-before", "2026-01-02")).await,
        set(&["C1", "C2"])
    );
    assert_eq!(
        ids_of(&emu, &t, &cond("createdon", "gt", "2026-01-06T10:00:00Z")).await,
        set(&["C7", "C8"])
    );
    assert_eq!(
        ids_of(&emu, &t, &cond("createdon", "last-x-days", "3")).await,
        set(&["C7", "C8"])
    );
    assert_eq!(
        ids_of(&emu, &t, &cond("createdon", "olderthan-x-days", "9")).await,
        set(&["C1"])
    );
    assert_eq!(
        ids_of(&emu, &t, &cond("createdon", "last-x-hours", "73")).await,
        set(&["C8"])
    );
}

#[tokio::test]
async fn nested_and_or_filters_combine() {
    let (emu, t, _) = people().await;
    let filter = "<filter type='and'>\
        <condition attribute='statecode' operator='eq' value='0'/>\
        <filter type='or'>\
          <condition attribute='lastname' operator='eq' value='Lovelace'/>\
          <condition attribute='gendercode' operator='eq' value='2'/>\
        </filter></filter>";
    assert_eq!(ids_of(&emu, &t, filter).await, set(&["C1", "C3", "C7"]));
}

#[tokio::test]
async fn unset_columns_disappear_from_fetchxml_results() {
    let (emu, t, ids) = people().await;
    emu.store()
        .unset("contact", ids[0], &["emailaddress1"])
        .unwrap();
    let xml = format!(
        "<fetch><entity name='contact'><attribute name='emailaddress1'/><filter><condition attribute='contactid' operator='eq' value='{}'/></filter></entity></fetch>",
        ids[0]
    );
    let (_, v) = fetch(&emu, &t, "contacts", &xml, None).await;
    assert!(rows(&v)[0].get("emailaddress1").is_none());
    assert!(emu.store().unset("contact", ids[0], &["nosuch"]).is_err());
}

#[tokio::test]
async fn formatted_values_and_null_omission_follow_dataverse() {
    let emu = DataverseEmulator::start(Seed::empty()).await.unwrap();
    let t = token(&emu).await;
    let account = emu
        .store()
        .insert("account", Record::new().with("name", "Contoso A.Ş."))
        .unwrap();
    emu.store()
        .insert(
            "contact",
            Record::new()
                .with("firstname", "Ada")
                .with("gendercode", 2)
                .with("donotbulkemail", true)
                .with("creditlimit", 1234.5)
                .with(
                    "birthdate",
                    chrono::NaiveDate::from_ymd_opt(1990, 3, 12).unwrap(),
                )
                .with(
                    "createdon",
                    Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap(),
                )
                .with("new_loyaltytier", 100000002)
                .with("statecode", 0)
                .with("statuscode", 1)
                .with_lookup("parentcustomerid", "account", account),
        )
        .unwrap();
    emu.store()
        .insert(
            "contact",
            Record::new()
                .with("firstname", "Unknown")
                .with("gendercode", 3),
        )
        .unwrap();
    let xml = "<fetch><entity name='contact'><all-attributes/><order attribute='firstname'/></entity></fetch>";
    let (_, v) = fetch(
        &emu,
        &t,
        "contacts",
        xml,
        Some("odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\""),
    )
    .await;
    let ada = &rows(&v)[0];
    let fv = |f: &str| ada[format!("{f}@OData.Community.Display.V1.FormattedValue")].clone();
    assert_eq!(fv("gendercode"), "Female");
    assert_eq!(fv("donotbulkemail"), "Do Not Allow");
    assert_eq!(fv("creditlimit"), "$1,234.50");
    assert_eq!(fv("statecode"), "Active");
    assert_eq!(fv("statuscode"), "Active");
    assert_eq!(fv("new_loyaltytier"), "Gold");
    assert_eq!(fv("createdon"), "1/5/2026 10:00 AM");
    assert_eq!(fv("birthdate"), "3/12/1990");
    assert_eq!(fv("_parentcustomerid_value"), "Contoso A.Ş.");
    assert_eq!(ada["createdon"], "2026-01-05T10:00:00Z");
    assert_eq!(ada["birthdate"], "1990-03-12");
    assert_eq!(ada["_parentcustomerid_value"], account.to_string());
    let (_, star) = fetch(&emu, &t, "contacts", xml, Some(ALL_ANNOTATIONS)).await;
    let ada_star = &rows(&star)[0];
    assert_eq!(
        ada_star["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        "account"
    );
    assert_eq!(
        ada_star["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"],
        "parentcustomerid_account"
    );
    assert_eq!(ada["gendercode"], 2);
    assert!(ada.get("emailaddress1").is_none(), "FetchXML omits nulls");
    let unknown = &rows(&v)[1];
    assert_eq!(unknown["gendercode"], 3);
    assert!(
        unknown
            .get("gendercode@OData.Community.Display.V1.FormattedValue")
            .is_none()
    );
    let (_, plain) = fetch(&emu, &t, "contacts", xml, None).await;
    assert!(
        rows(&plain)[0]
            .get("gendercode@OData.Community.Display.V1.FormattedValue")
            .is_none()
    );
}

#[tokio::test]
async fn bad_queries_get_dataverse_errors() {
    let (emu, t, _) = people().await;
    let cases = [
        (q(&cond("nosuchfield", "eq", "1")), "0x80041103"),
        (
            "<fetch><entity name='contact'><attribute name='x'/></entity></fetch>".to_owned(),
            "0x80041103",
        ),
        ("<fetch><entity name='contact'>".to_owned(), "0x80040203"),
        ("not xml at all".to_owned(), "0x80040203"),
        (q(&cond("firstname", "sounds-like", "a")), "0x80040203"),
        (
            "<fetch count='5001'><entity name='contact'/></fetch>".to_owned(),
            "0x80040203",
        ),
        (
            "<fetch top='5' page='2'><entity name='contact'/></fetch>".to_owned(),
            "0x80040203",
        ),
        (
            "<fetch><entity name='account'/></fetch>".to_owned(),
            "0x80040203",
        ),
        (q(&cond("contactid", "eq", "not-a-guid")), "0x80040203"),
        (q(&cond("firstname", "on", "2026-01-01")), "0x80040203"),
    ];
    for (xml, code) in cases {
        let (s, v) = fetch(&emu, &t, "contacts", &xml, None).await;
        assert_eq!(s, 400, "{xml}: {v}");
        assert_eq!(v["error"]["code"], code, "{xml}: {v}");
    }
    let (_, v) = fetch(
        &emu,
        &t,
        "contacts",
        &q(&cond("nosuchfield", "eq", "1")),
        None,
    )
    .await;
    assert_eq!(
        v["error"]["message"].as_str().unwrap(),
        "'contact' entity doesn't contain attribute with Name = 'nosuchfield' and NameMapping = 'Logical'."
    );
}

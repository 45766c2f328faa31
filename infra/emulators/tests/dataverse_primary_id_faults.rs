//! Fault knobs on the primary id: an organization that refuses `gt`/`lt`/`ge`/`le` on the
//! entity's primary id (the paging-cookie fallback's trigger) and pages whose records lack
//! their primary id or carry one that is not a GUID; and a synthesized paging cookie
//! (`<cookie page="1"><contactid last="{id}" .../></cookie>`) positioning after `last`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dataverse_common;

use dataverse_common::*;
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn query(condition: &str) -> String {
    format!(
        "<fetch count='5'><entity name='contact'><attribute name='contactid'/><order attribute='contactid'/>{condition}</entity></fetch>"
    )
}

fn cond(attribute: &str, operator: &str, value: &str) -> String {
    format!("<condition attribute='{attribute}' operator='{operator}' value='{value}'/>")
}

#[tokio::test]
async fn refusing_primary_id_ranges_answers_400_for_each_range_operator_on_the_primary_id() {
    let emu = DataverseEmulator::start(Seed::contacts(20, 1))
        .await
        .unwrap();
    let t = token(&emu).await;
    let id = emu.store().ids("contact")[3].to_string();
    emu.faults().refuse_primary_id_ranges(true);
    for op in ["gt", "ge", "lt", "le"] {
        let plain = format!("<filter type='and'>{}</filter>", cond("contactid", op, &id));
        let nested = format!(
            "<filter type='and'>{}<filter type='or'>{}</filter></filter>",
            cond("statecode", "eq", "0"),
            cond("contactid", op, &id)
        );
        for filter in [plain, nested] {
            let (status, body) = fetch(&emu, &t, "contacts", &query(&filter), None).await;
            assert_eq!(status, 400, "{op}: {body}");
            assert_eq!(body["error"]["code"], "0x80040203", "{op}: {body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("'{op}'"))
                    && message.contains("'contactid'")
                    && message.contains("not valid"),
                "{message}"
            );
        }
    }
    // Other operators on the primary id, and ranges on other columns, are still served.
    for filter in [
        cond("contactid", "eq", &id),
        cond("modifiedon", "ge", "2000-01-01T00:00:00Z"),
    ] {
        let xml = query(&format!("<filter>{filter}</filter>"));
        let (status, body) = fetch(&emu, &t, "contacts", &xml, None).await;
        assert_eq!(status, 200, "{filter}: {body}");
    }
    emu.faults().clear();
    let xml = query(&format!(
        "<filter>{}</filter>",
        cond("contactid", "gt", &id)
    ));
    assert_eq!(fetch(&emu, &t, "contacts", &xml, None).await.0, 200);
}

#[tokio::test]
async fn synthesized_paging_cookies_walk_2600_rows_in_primary_id_order_with_ranges_refused() {
    let emu = DataverseEmulator::start(Seed::contacts(2_600, 5))
        .await
        .unwrap();
    let t = token(&emu).await;
    emu.faults().refuse_primary_id_ranges(true);
    let all: Vec<String> = emu
        .store()
        .ids("contact")
        .iter()
        .map(|id| id.to_string())
        .collect();
    let mut seen: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let paging = match &last {
            None => String::new(),
            Some(id) => format!(
                " page='2' paging-cookie='&lt;cookie page=\"1\"&gt;&lt;contactid last=\"{{{}}}\" first=\"{{{}}}\" /&gt;&lt;/cookie&gt;'",
                id.to_uppercase(),
                id.to_uppercase()
            ),
        };
        let xml = format!(
            "<fetch count='1000'{paging}><entity name='contact'><attribute name='contactid'/><order attribute='contactid'/></entity></fetch>"
        );
        let (status, body) = fetch(&emu, &t, "contacts", &xml, Some(ALL_ANNOTATIONS)).await;
        assert_eq!(status, 200, "{body}");
        let ids: Vec<String> = rows(&body)
            .iter()
            .map(|r| r["contactid"].as_str().unwrap().to_owned())
            .collect();
        seen.extend(ids.iter().cloned());
        if body["@Microsoft.Dynamics.CRM.morerecords"] != json!(true) {
            break;
        }
        last = ids.last().cloned();
    }
    assert_eq!(seen, all, "every row once, in SQL Server GUID order");
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 2_600);
}

#[tokio::test]
async fn bad_primary_id_strips_or_replaces_the_id_of_one_record_per_page() {
    let emu = DataverseEmulator::start(Seed::contacts(20, 1))
        .await
        .unwrap();
    let t = token(&emu).await;
    let xml = "<fetch count='5'><entity name='contact'><attribute name='contactid'/><attribute name='lastname'/></entity></fetch>";
    emu.faults().bad_primary_id(2, None);
    let (status, body) = fetch(&emu, &t, "contacts", xml, None).await;
    assert_eq!(status, 200);
    let page = rows(&body);
    assert_eq!(page.len(), 5);
    assert!(page[2].get("contactid").is_none(), "{body}");
    assert!(
        page[2].get("lastname").is_some(),
        "the rest of the record stays"
    );
    assert!(
        page.iter()
            .enumerate()
            .all(|(i, r)| i == 2 || r["contactid"].is_string())
    );

    emu.faults().bad_primary_id(0, Some(json!("not-a-guid")));
    let (_, body) = fetch(&emu, &t, "contacts", xml, None).await;
    assert_eq!(rows(&body)[0]["contactid"], "not-a-guid");

    emu.faults().bad_primary_id(9, Some(Value::from(7)));
    let (_, body) = fetch(&emu, &t, "contacts", xml, None).await;
    assert!(
        rows(&body).iter().all(|r| r["contactid"].is_string()),
        "a position past the page changes nothing"
    );

    emu.faults().clear();
    let (_, body) = fetch(&emu, &t, "contacts", xml, None).await;
    assert!(rows(&body).iter().all(|r| r["contactid"].is_string()));
}

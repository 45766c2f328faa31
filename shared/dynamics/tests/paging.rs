//! Keyset paging through `DataverseSource` against the emulator: every record exactly once
//! for several page sizes, partitions that split the id space without overlap, marketing
//! list members, and the record filter combined with each fetch mode.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use common::*;
use dynsync_domain::Integration;
use dynsync_domain::execution::{Partition, SourcePlan, Window};
use dynsync_domain::ports::{DataSource, PageRequest};
use dynsync_dynamics::DataverseSource;
use dynsync_emulators::dataverse::{DataverseEmulator, Record, Seed};
use dynsync_fetchxml::partitions;

/// Reads a partition to its end; returns the ids and the number of pages.
async fn read_all(
    source: &DataverseSource,
    integration: &Integration,
    plan: &SourcePlan,
    window: Option<&Window>,
    partition: &Partition,
) -> (Vec<String>, usize) {
    let (mut ids, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let page = source
            .fetch_page(PageRequest {
                integration,
                plan,
                window,
                partition,
                cursor: cursor.as_deref(),
            })
            .await
            .unwrap();
        pages += 1;
        ids.extend(
            page.records
                .iter()
                .map(|r| r[&plan.primary_id].as_str().unwrap().to_owned()),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (ids, pages),
        }
    }
}

fn whole() -> Partition {
    partitions(1).remove(0)
}

fn contacts(emu: &DataverseEmulator, page_size: u32, extra: &str) -> Integration {
    integration(
        emu,
        "entity",
        &format!("  entity: contact\n  fields: [contactid, emailaddress1]\n{extra}"),
        page_size,
    )
}

async fn every_record_exactly_once(records: usize, page_size: u32) {
    let emu = DataverseEmulator::start(Seed::contacts(records, 7))
        .await
        .unwrap();
    let integration = contacts(&emu, page_size, "");
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let plan = source.plan(&integration).await.unwrap();
    assert_eq!(
        (plan.entity_set.as_str(), plan.primary_id.as_str()),
        ("contacts", "contactid")
    );
    let (ids, pages) = read_all(&source, &integration, &plan, None, &whole()).await;
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), records, "page size {page_size}");
    assert_eq!(
        unique.len(),
        records,
        "page size {page_size}: no record twice"
    );
    let expected: BTreeSet<String> = emu
        .store()
        .ids("contact")
        .iter()
        .map(|id| id.to_string())
        .collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    assert!(pages >= records.div_ceil(page_size as usize));
}

#[tokio::test]
async fn page_size_one_returns_every_one_of_10000_records_exactly_once() {
    // 10,001 requests over loopback: the slowest test of the crate (~10-20 s), run in
    // parallel with the others.
    every_record_exactly_once(10_000, 1).await;
}

#[tokio::test]
async fn page_size_seven_returns_every_one_of_10000_records_exactly_once() {
    every_record_exactly_once(10_000, 7).await;
}

#[tokio::test]
async fn page_size_500_returns_every_one_of_10000_records_exactly_once() {
    every_record_exactly_once(10_000, 500).await;
}

#[tokio::test]
async fn page_size_5000_returns_every_one_of_10000_records_exactly_once() {
    every_record_exactly_once(10_000, 5_000).await;
}

#[tokio::test]
async fn partitions_together_return_every_record_exactly_once() {
    let emu = DataverseEmulator::start(Seed::contacts(2_000, 11))
        .await
        .unwrap();
    let integration = contacts(&emu, 300, "");
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let plan = source.plan(&integration).await.unwrap();
    let mut all = Vec::new();
    for partition in partitions(5) {
        let (ids, _) = read_all(&source, &integration, &plan, None, &partition).await;
        assert!(!ids.is_empty(), "random ids spread over every partition");
        all.extend(ids);
    }
    assert_eq!(all.len(), 2_000);
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 2_000);
}

#[tokio::test]
async fn static_and_dynamic_list_members_are_read_with_the_record_filter() {
    let emu = DataverseEmulator::start(Seed::demo()).await.unwrap();
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let client = source.client().clone();
    for name in ["VIP Segment", "Istanbul Contacts"] {
        let list = client.resolve_list(name).await.unwrap();
        let integration = integration(
            &emu,
            "marketing_list",
            &format!("  list: {name}\n  fields: [contactid, address1_city, statecode]\n"),
            4,
        );
        let plan = source.plan(&integration).await.unwrap();
        assert_eq!(plan.list.as_ref().unwrap().dynamic, list.dynamic);
        let (ids, _) = read_all(&source, &integration, &plan, None, &whole()).await;
        assert_eq!(ids.len() as i64, list.member_count.unwrap(), "{name}");
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());

        let filtered = crate::integration(
            &emu,
            "marketing_list",
            &format!(
                "  list: {name}\n  fields: [contactid]\n  filter: \"<condition attribute='statecode' operator='eq' value='1'/>\"\n"
            ),
            4,
        );
        let (inactive, _) = read_all(&source, &filtered, &plan, None, &whole()).await;
        assert!(
            inactive.len() < ids.len(),
            "{name}: the filter narrows the members"
        );
        assert!(inactive.iter().all(|id| ids.contains(id)));
    }
}

fn stamp(record: &serde_json::Map<String, serde_json::Value>, field: &str) -> DateTime<Utc> {
    record[field].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_record_filter_combines_with_each_fetch_mode_window() {
    let emu = DataverseEmulator::start(Seed::contacts(600, 3))
        .await
        .unwrap();
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let fields = "  fields: [contactid, lastname, createdon, modifiedon]\n";
    let filter = "  filter: \"<condition attribute='lastname' operator='ne' value='Turing'/>\"\n";
    let everything = integration(
        &emu,
        "entity",
        &format!("  entity: contact\n{fields}"),
        5000,
    );
    let plan = source.plan(&everything).await.unwrap();
    let read_everything = || async {
        source
            .fetch_page(PageRequest {
                integration: &everything,
                plan: &plan,
                window: None,
                partition: &whole(),
                cursor: None,
            })
            .await
            .unwrap()
            .records
    };
    let seeded = read_everything().await;
    assert_eq!(seeded.len(), 600);

    // A window in the middle of the seeded modification times; a quarter of the records
    // created before it are then modified inside it (what only_updated is about).
    let mut modified: Vec<DateTime<Utc>> = seeded.iter().map(|r| stamp(r, "modifiedon")).collect();
    modified.sort();
    let (from, to) = (modified[150] + Duration::seconds(1), modified[450]);
    let inside = from + (to - from) / 2;
    for record in seeded
        .iter()
        .step_by(4)
        .filter(|r| stamp(r, "createdon") < from)
    {
        let id = record["contactid"].as_str().unwrap().parse().unwrap();
        emu.store()
            .update("contact", id, Record::new().with("modifiedon", inside))
            .unwrap();
    }
    let all = read_everything().await;
    let window = Window {
        from: Some(from),
        to: Some(to),
    };
    let recent = Window {
        from: Some(from),
        to: None,
    };
    let cases = [
        ("all", "  days_to_get: 30\n", recent),
        ("new_and_updated", "", window),
        ("only_updated", "", window),
    ];
    for (mode, extra, window) in cases {
        let integration = integration(
            &emu,
            "entity",
            &format!("  entity: contact\n  fetch_mode: {mode}\n{extra}{fields}{filter}"),
            50,
        );
        let (ids, _) = read_all(&source, &integration, &plan, Some(&window), &whole()).await;
        let expected: BTreeSet<String> = all
            .iter()
            .filter(|r| r["lastname"] != "Turing")
            .filter(|r| window.from.is_none_or(|f| stamp(r, "modifiedon") >= f))
            .filter(|r| window.to.is_none_or(|t| stamp(r, "modifiedon") < t))
            .filter(|r| mode != "only_updated" || stamp(r, "createdon") < from)
            .map(|r| r["contactid"].as_str().unwrap().to_owned())
            .collect();
        assert!(!expected.is_empty(), "{mode}");
        assert_eq!(ids.len(), expected.len(), "{mode}");
        assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), expected, "{mode}");
    }
}

#[tokio::test]
async fn the_paging_cookie_helpers_page_through_every_record_exactly_once() {
    let emu = DataverseEmulator::start(Seed::contacts(1_000, 5))
        .await
        .unwrap();
    let client = client(&client_credentials(&emu), secrets());
    let query = "<fetch count='150'><entity name='contact'><attribute name='contactid'/><order attribute='contactid'/></entity></fetch>";
    let (mut ids, mut xml) = (Vec::new(), query.to_owned());
    loop {
        let page = client.fetch("contacts", &xml, false).await.unwrap();
        ids.extend(
            page.records
                .iter()
                .map(|r| r["contactid"].as_str().unwrap().to_owned()),
        );
        if !page.more {
            break;
        }
        let cookie =
            dynsync_fetchxml::decode_paging_cookie(page.paging_cookie.as_deref().unwrap()).unwrap();
        xml = dynsync_fetchxml::with_paging_cookie(query, &cookie).unwrap();
    }
    assert_eq!(ids.len(), 1_000);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 1_000);
}

#[tokio::test]
async fn a_page_reports_the_throttled_replies_it_waited_out() {
    let emu = DataverseEmulator::start(Seed::contacts(30, 3))
        .await
        .unwrap();
    let integration = contacts(&emu, 10, "");
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let plan = source.plan(&integration).await.unwrap();
    let partition = whole();
    let request = |cursor| PageRequest {
        integration: &integration,
        plan: &plan,
        window: None,
        partition: &partition,
        cursor,
    };
    let calm = source.fetch_page(request(None)).await.unwrap();
    assert_eq!(calm.throttles, 0);

    // The next Web API request is throttled (Retry-After: 0), its retry is served.
    emu.faults().throttle_every(emu.requests() + 1, 0);
    let throttled = source
        .fetch_page(request(calm.next_cursor.as_deref()))
        .await
        .unwrap();
    assert_eq!(throttled.throttles, 1);
    assert_eq!(throttled.records.len(), 10);
}

//! The paging-cookie fallback (ARCHITECTURE.md section 2): against an emulated organization
//! that refuses `gt`/`lt` on the primary id, `DataverseSource` switches to paging cookies
//! built from its cursor, still reads every record exactly once and honours a partition's
//! `after`/`until` client-side; and a page whose record lacks its primary id (or has one
//! that is not a GUID) is a malformed reply, never a silent end of paging.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use dynsync_domain::Integration;
use dynsync_domain::execution::{Partition, SourcePlan};
use dynsync_domain::ports::{DataSource, PageRequest};
use dynsync_dynamics::DataverseSource;
use dynsync_emulators::dataverse::{DataverseEmulator, Seed};
use dynsync_fetchxml::partitions;
use serde_json::json;

/// Reads from `cursor` to the partition's end; returns the ids and the number of pages.
async fn read_from(
    source: &DataverseSource,
    integration: &Integration,
    plan: &SourcePlan,
    partition: &Partition,
    mut cursor: Option<String>,
) -> (Vec<String>, usize) {
    let (mut ids, mut pages) = (Vec::new(), 0);
    loop {
        let page = source
            .fetch_page(PageRequest {
                integration,
                plan,
                window: None,
                partition,
                cursor: cursor.as_deref(),
            })
            .await
            .unwrap();
        pages += 1;
        assert!(pages < 100, "paging does not end");
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

fn contacts(emu: &DataverseEmulator, page_size: u32) -> Integration {
    integration(
        emu,
        "entity",
        "  entity: contact\n  fields: [contactid, emailaddress1]\n",
        page_size,
    )
}

fn store_ids(emu: &DataverseEmulator) -> Vec<String> {
    emu.store()
        .ids("contact")
        .iter()
        .map(|id| id.to_string())
        .collect()
}

fn partition(after: Option<&str>, until: Option<&str>) -> Partition {
    Partition {
        index: 0,
        after: after.map(str::to_owned),
        until: until.map(str::to_owned),
    }
}

#[tokio::test]
async fn with_gt_refused_2600_records_at_page_size_1000_sync_exactly_once_through_the_paging_cookie()
 {
    let emu = DataverseEmulator::start(Seed::contacts(2_600, 21))
        .await
        .unwrap();
    emu.faults().refuse_primary_id_ranges(true);
    let integration = contacts(&emu, 1_000);
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let plan = source.plan(&integration).await.unwrap();
    let whole = partitions(1).remove(0);
    let before = emu.requests();
    let (ids, pages) = read_from(&source, &integration, &plan, &whole, None).await;
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 2_600);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 2_600);
    assert_eq!(
        ids,
        store_ids(&emu),
        "every record once, in primary-id order"
    );
    // 3 pages + the one refused keyset query.
    assert_eq!(emu.requests() - before, 4);

    // The switch is remembered: a second read sends no refused query.
    let before = emu.requests();
    let (again, _) = read_from(&source, &integration, &plan, &whole, None).await;
    assert_eq!(again, ids);
    assert_eq!(emu.requests() - before, 3);
}

#[tokio::test]
async fn partition_bounds_are_honoured_in_fallback_mode() {
    let emu = DataverseEmulator::start(Seed::contacts(2_600, 22))
        .await
        .unwrap();
    emu.faults().refuse_primary_id_ranges(true);
    let integration = contacts(&emu, 1_000);
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let plan = source.plan(&integration).await.unwrap();
    let all = store_ids(&emu);

    // `until` inside the second page: the partition ends there and paging stops.
    let (ids, pages) = read_from(
        &source,
        &integration,
        &plan,
        &partition(None, Some(&all[1_499])),
        None,
    )
    .await;
    assert_eq!(ids, all[..=1_499].to_vec());
    assert_eq!(pages, 2);

    // A redelivered page refetches the fixed range (cursor, until].
    let (ids, pages) = read_from(
        &source,
        &integration,
        &plan,
        &partition(Some(&all[199]), Some(&all[1_299])),
        Some(all[999].clone()),
    )
    .await;
    assert_eq!(ids, all[1_000..=1_299].to_vec());
    assert_eq!(pages, 1);

    // `until` exactly at a page's last record: nothing past it, no page after it.
    let (ids, pages) = read_from(
        &source,
        &integration,
        &plan,
        &partition(None, Some(&all[999])),
        None,
    )
    .await;
    assert_eq!(ids, all[..1_000].to_vec());
    assert_eq!(pages, 1);

    // `after` without a cursor: the partition starts after it.
    let (ids, _) = read_from(
        &source,
        &integration,
        &plan,
        &partition(Some(&all[499]), None),
        None,
    )
    .await;
    assert_eq!(ids, all[500..].to_vec());

    // Several partitions together: every record exactly once.
    let mut together = Vec::new();
    for p in partitions(4) {
        together.extend(read_from(&source, &integration, &plan, &p, None).await.0);
    }
    together.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(together, expected);
}

#[tokio::test]
async fn a_page_with_a_record_without_a_valid_primary_id_is_a_malformed_reply() {
    let emu = DataverseEmulator::start(Seed::contacts(30, 23))
        .await
        .unwrap();
    let integration = contacts(&emu, 10);
    let source = DataverseSource::new(client(&client_credentials(&emu), secrets()));
    let plan = source.plan(&integration).await.unwrap();
    let whole = partitions(1).remove(0);
    for (position, value, says) in [
        (9, None, "has no primary id 'contactid'"),
        (4, None, "has no primary id 'contactid'"),
        (0, Some(json!("not-a-guid")), "'not-a-guid'"),
        (9, Some(json!(7)), "not a GUID"),
    ] {
        emu.faults().bad_primary_id(position, value);
        let error = source
            .fetch_page(PageRequest {
                integration: &integration,
                plan: &plan,
                window: None,
                partition: &whole,
                cursor: None,
            })
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("malformed"), "{message}");
        assert!(message.contains("'contact'"), "{message}");
        assert!(
            message.contains(&format!("record {} of 10", position + 1)),
            "{message}"
        );
        assert!(message.contains(says), "{message}");
    }
}

//! Large seeds: 100,000 synthetic contacts build quickly and keyset pages (`contactid gt
//! <last>` ordered by `contactid`) come back complete and in SQL Server GUID order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dataverse_common;

use dataverse_common::*;
use dynsync_emulators::dataverse::{DataverseEmulator, Seed, sql_guid_cmp};
use std::time::Instant;
use uuid::Uuid;

#[tokio::test]
async fn keyset_pages_over_100k_contacts_are_complete_and_ordered() {
    let started = Instant::now();
    let emu = DataverseEmulator::start(Seed::contacts(100_000, 11))
        .await
        .unwrap();
    eprintln!("seeded 100k contacts in {:?}", started.elapsed());
    assert_eq!(emu.store().count("contact"), 100_000);
    let t = token(&emu).await;
    let mut last: Option<Uuid> = None;
    let mut seen: Vec<Uuid> = Vec::new();
    let started = Instant::now();
    for _ in 0..4 {
        let cond = last
            .map(|l| {
                format!(
                    "<filter><condition attribute='contactid' operator='gt' value='{l}'/></filter>"
                )
            })
            .unwrap_or_default();
        let xml = format!(
            "<fetch count='5000'><entity name='contact'><attribute name='contactid'/><attribute name='emailaddress1'/><order attribute='contactid'/>{cond}</entity></fetch>"
        );
        let (s, v) = fetch(&emu, &t, "contacts", &xml, None).await;
        assert_eq!(s, 200);
        let page: Vec<Uuid> = strings(&v, "contactid")
            .iter()
            .map(|s| Uuid::parse_str(s).unwrap())
            .collect();
        assert_eq!(page.len(), 5000);
        last = page.last().copied();
        seen.extend(page);
    }
    eprintln!("4 keyset pages of 5000 in {:?}", started.elapsed());
    assert!(seen.windows(2).all(|w| sql_guid_cmp(&w[0], &w[1]).is_lt()));
    let mut all = emu.store().ids("contact");
    all.truncate(20_000);
    assert_eq!(seen, all);
}

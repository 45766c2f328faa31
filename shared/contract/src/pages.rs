//! State store checks, part five: stable pages. What a page's first delivery fetched (where
//! it ends) is fixed once, and answered batches keep the ids of the records they held, so a
//! redelivery works from the ledger, never from positions.

use std::sync::Arc;

use chrono::{Duration, Utc};
use dynsync_domain::ErrorKind;
use dynsync_domain::execution::Counters;
use dynsync_domain::ports::{BatchRecord, ClaimOutcome, FixedPage, PageClaim, StateStore};

use crate::fixtures::{at, first_pages, plan, running_execution, unique};
use crate::race::race;
use crate::state::MakeStateStore;

async fn pages(make: &impl MakeStateStore, n: u32) -> (Arc<dyn StateStore>, String, Vec<String>) {
    let store = make().await;
    let execution = running_execution(&unique("fixed"), at(0));
    let pages = first_pages(n);
    store
        .create_execution(&execution, Some(&plan(&execution, n)), &pages)
        .await
        .unwrap();
    (store, execution.id, pages)
}

fn ending_at(cursor: Option<&str>) -> FixedPage {
    FixedPage {
        next_cursor: cursor.map(str::to_owned),
        sync_token: None,
    }
}

fn ids(first: u32, n: u32) -> Vec<String> {
    (first..first + n)
        .map(|i| format!("{i:08x}-0000-0000-0000-00000000abcd"))
        .collect()
}

pub async fn a_page_is_fixed_once_and_the_first_fix_wins(make: &impl MakeStateStore) {
    let (store, id, pages) = pages(make, 1).await;
    let page = &pages[0];
    let first = ending_at(Some("00000000-0000-0000-0000-000000000007"));
    assert_eq!(store.fix_page(&id, page, &first).await.unwrap(), first);
    assert_eq!(
        store
            .fix_page(
                &id,
                page,
                &ending_at(Some("00000000-0000-0000-0000-000000000009"))
            )
            .await
            .unwrap(),
        first,
        "a later fix changes nothing"
    );
    let ledger = store.page_ledger(&id, page).await.unwrap().unwrap();
    assert_eq!(ledger.fixed, Some(first.clone()));
    let claimed = store
        .claim_page(
            &id,
            page,
            &PageClaim {
                claimant: "delivery-a".into(),
                until: Utc::now() + Duration::minutes(10),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        claimed,
        ClaimOutcome::Acquired {
            fixed: Some(first),
            batches: Vec::new(),
        }
    );
}

pub async fn a_change_tracking_page_is_fixed_with_its_delta_link(make: &impl MakeStateStore) {
    let (store, id, pages) = pages(make, 1).await;
    let last = FixedPage {
        next_cursor: None,
        sync_token: Some("https://org/api/data/v9.2/contacts?$deltatoken=919042%2108".into()),
    };
    assert_eq!(store.fix_page(&id, &pages[0], &last).await.unwrap(), last);
    let ledger = store.page_ledger(&id, &pages[0]).await.unwrap().unwrap();
    assert_eq!(ledger.fixed, Some(last));
}

pub async fn removal_batches_are_told_from_upsert_batches(make: &impl MakeStateStore) {
    let (store, id, pages) = pages(make, 1).await;
    let removal = BatchRecord {
        index: 0,
        upserted: 2,
        failed: 0,
        events_sent: 0,
        failures: Vec::new(),
        record_ids: ids(7, 2),
        removal: true,
        stop: None,
    };
    store.record_batch(&id, &pages[0], &removal).await.unwrap();
    let ledger = store.page_ledger(&id, &pages[0]).await.unwrap().unwrap();
    assert_eq!(ledger.batches, vec![removal]);
}

/// A batch that stopped its execution reads back with its error, so a redelivery stops too.
pub async fn a_batch_that_stopped_its_execution_reads_back_with_the_error(
    make: &impl MakeStateStore,
) {
    let (store, id, pages) = pages(make, 1).await;
    let refused = BatchRecord {
        index: 0,
        upserted: 0,
        failed: 2,
        events_sent: 0,
        failures: Vec::new(),
        record_ids: ids(3, 2),
        removal: false,
        stop: Some(
            "Insider refused batch 1 of page 0: Partner token authentication failed".to_owned(),
        ),
    };
    store.record_batch(&id, &pages[0], &refused).await.unwrap();
    let ledger = store.page_ledger(&id, &pages[0]).await.unwrap().unwrap();
    assert_eq!(ledger.batches, vec![refused]);
}

pub async fn a_last_page_is_fixed_without_a_next_cursor(make: &impl MakeStateStore) {
    let (store, id, pages) = pages(make, 1).await;
    assert_eq!(
        store
            .page_ledger(&id, &pages[0])
            .await
            .unwrap()
            .unwrap()
            .fixed,
        None
    );
    assert_eq!(
        store
            .fix_page(&id, &pages[0], &ending_at(None))
            .await
            .unwrap(),
        ending_at(None)
    );
    assert_eq!(
        store
            .fix_page(
                &id,
                &pages[0],
                &ending_at(Some("00000000-0000-0000-0000-000000000001"))
            )
            .await
            .unwrap(),
        ending_at(None),
        "'no next page' is a fix too"
    );
}

pub async fn one_of_concurrent_fixes_wins_and_all_see_it(make: &impl MakeStateStore) {
    let (store, id, pages) = pages(make, 1).await;
    let seen = race(|n| {
        let (store, id, page) = (Arc::clone(&store), id.clone(), pages[0].clone());
        async move {
            let mine = ending_at(Some(&format!("00000000-0000-0000-0000-{n:012}")));
            store.fix_page(&id, &page, &mine).await.unwrap()
        }
    })
    .await;
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
}

pub async fn fixing_an_unregistered_page_is_a_permanent_error(make: &impl MakeStateStore) {
    let (store, id, _) = pages(make, 1).await;
    let error = store
        .fix_page(&id, "0:never", &ending_at(None))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent, "{error}");
}

pub async fn answered_batches_keep_the_ids_of_their_records(make: &impl MakeStateStore) {
    let (store, id, pages) = pages(make, 1).await;
    let batch = |index: u32, records: Vec<String>| BatchRecord {
        index,
        upserted: records.len() as u64,
        failed: 0,
        events_sent: 0,
        failures: Vec::new(),
        record_ids: records,
        removal: false,
        stop: None,
    };
    let guids = batch(0, ids(0, 1_000));
    let other = batch(
        1,
        vec!["42".into(), "ABCDEF00-1111-2222-3333-444455556666".into()],
    );
    store.record_batch(&id, &pages[0], &guids).await.unwrap();
    store.record_batch(&id, &pages[0], &other).await.unwrap();
    let ledger = store.page_ledger(&id, &pages[0]).await.unwrap().unwrap();
    assert_eq!(ledger.batches, vec![guids, other]);
}

pub async fn the_ledger_tells_how_many_pages_are_outstanding(make: &impl MakeStateStore) {
    let (store, id, pages) = pages(make, 2).await;
    let read = |page: String| {
        let (store, id) = (Arc::clone(&store), id.clone());
        async move { store.page_ledger(&id, &page).await.unwrap().unwrap() }
    };
    assert_eq!(read(pages[0].clone()).await.outstanding, 2);
    let counters = Counters {
        pages: 1,
        ..Counters::default()
    };
    for (page, left) in pages.iter().zip([1, 0]) {
        store
            .complete_page(&id, page, &counters, &[], at(1))
            .await
            .unwrap();
        let ledger = read(page.clone()).await;
        assert!(ledger.done);
        assert_eq!(ledger.outstanding, left);
    }
}

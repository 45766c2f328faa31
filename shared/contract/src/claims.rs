//! State store checks, part four: page claims (one delivery at a time processes a page).

use std::sync::Arc;

use chrono::{Duration, Utc};
use dynsync_domain::ErrorKind;
use dynsync_domain::ports::{BatchRecord, ClaimOutcome, PageClaim, StateStore};

use crate::fixtures::{at, first_pages, plan, running_execution, unique};
use crate::race::race;
use crate::state::MakeStateStore;

/// A store with one running execution and its one registered page: (store, execution, page).
async fn one_page(make: &impl MakeStateStore) -> (Arc<dyn StateStore>, String, String) {
    let store = make().await;
    let execution = running_execution(&unique("claim"), at(0));
    let pages = first_pages(1);
    store
        .create_execution(&execution, Some(&plan(&execution, 1)), &pages)
        .await
        .unwrap();
    (store, execution.id, pages[0].clone())
}

/// `claimant`'s claim lasting `minutes` from now (negative: already lapsed).
fn claim(claimant: &str, minutes: i64) -> PageClaim {
    PageClaim {
        claimant: claimant.to_owned(),
        until: Utc::now() + Duration::minutes(minutes),
    }
}

fn acquired() -> ClaimOutcome {
    ClaimOutcome::Acquired {
        fixed: None,
        batches: Vec::new(),
    }
}

pub async fn a_page_claim_is_exclusive_until_its_holder_releases_it(make: &impl MakeStateStore) {
    let (store, id, page) = one_page(make).await;
    let a = claim("delivery-a", 10);
    assert_eq!(store.claim_page(&id, &page, &a).await.unwrap(), acquired());
    assert_eq!(
        store
            .claim_page(&id, &page, &claim("delivery-b", 10))
            .await
            .unwrap(),
        ClaimOutcome::HeldBy {
            claimant: a.claimant.clone(),
            until: a.until,
        }
    );
    // The holder renews its claim by taking it again.
    let renewed = claim("delivery-a", 20);
    assert_eq!(
        store.claim_page(&id, &page, &renewed).await.unwrap(),
        acquired()
    );
    // Only the holder can release it.
    store
        .release_page_claim(&id, &page, "delivery-b")
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_page(&id, &page, &claim("delivery-b", 10))
            .await
            .unwrap(),
        ClaimOutcome::HeldBy {
            claimant: renewed.claimant,
            until: renewed.until,
        }
    );
    store
        .release_page_claim(&id, &page, "delivery-a")
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_page(&id, &page, &claim("delivery-b", 10))
            .await
            .unwrap(),
        acquired(),
        "a released page can be claimed at once"
    );
    // Releasing a page nobody holds, or that is not ours, is not an error.
    store
        .release_page_claim(&id, &page, "delivery-a")
        .await
        .unwrap();
}

pub async fn a_lapsed_page_claim_can_be_taken_over(make: &impl MakeStateStore) {
    let (store, id, page) = one_page(make).await;
    let lapsed = claim("delivery-a", -1);
    assert_eq!(
        store.claim_page(&id, &page, &lapsed).await.unwrap(),
        acquired()
    );
    assert_eq!(
        store
            .claim_page(&id, &page, &claim("delivery-b", 10))
            .await
            .unwrap(),
        acquired()
    );
    assert!(matches!(
        store
            .claim_page(&id, &page, &claim("delivery-a", 10))
            .await
            .unwrap(),
        ClaimOutcome::HeldBy { claimant, .. } if claimant == "delivery-b"
    ));
}

pub async fn a_page_claim_returns_the_batches_already_answered(make: &impl MakeStateStore) {
    let (store, id, page) = one_page(make).await;
    let batch = BatchRecord {
        index: 0,
        upserted: 3,
        failed: 0,
        events_sent: 3,
        failures: Vec::new(),
        record_ids: vec!["r1".into(), "r2".into(), "r3".into()],
        removal: false,
        stop: None,
    };
    store.record_batch(&id, &page, &batch).await.unwrap();
    assert_eq!(
        store
            .claim_page(&id, &page, &claim("delivery-a", 10))
            .await
            .unwrap(),
        ClaimOutcome::Acquired {
            fixed: None,
            batches: vec![batch]
        }
    );
}

pub async fn a_page_is_claimed_by_one_of_concurrent_claimers(make: &impl MakeStateStore) {
    let (store, id, page) = one_page(make).await;
    let outcomes = race(|n| {
        let (store, id, page) = (Arc::clone(&store), id.clone(), page.clone());
        async move {
            let mine = claim(&format!("delivery-{n}"), 10);
            (
                mine.claimant.clone(),
                store.claim_page(&id, &page, &mine).await.unwrap(),
            )
        }
    })
    .await;
    let winners: Vec<&String> = outcomes
        .iter()
        .filter(|(_, outcome)| *outcome == acquired())
        .map(|(claimant, _)| claimant)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for (_, outcome) in &outcomes {
        if let ClaimOutcome::HeldBy { claimant, .. } = outcome {
            assert_eq!(claimant, winners[0], "{outcomes:?}");
        }
    }
}

pub async fn claiming_an_unregistered_page_is_a_permanent_error(make: &impl MakeStateStore) {
    let (store, id, _) = one_page(make).await;
    let error = store
        .claim_page(&id, "0:never-registered", &claim("delivery-a", 10))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent, "{error}");
}

//! State store checks, part two: executions and their page ledger.

use std::sync::Arc;

use dynsync_domain::ErrorKind;
use dynsync_domain::execution::{Counters, ExecutionStatus, MAX_RECORDED_FAILURES};
use dynsync_domain::ports::{BatchRecord, PageRecord};

use crate::fixtures::{at, counters, failures, first_pages, plan, running_execution, unique};
use crate::race::race;
use crate::state::MakeStateStore;

pub async fn a_new_execution_registers_its_first_pages_as_outstanding(make: &impl MakeStateStore) {
    let store = make().await;
    let execution = running_execution(&unique("int"), at(0));
    let plan = plan(&execution, 2);
    let pages = first_pages(2);
    store
        .create_execution(&execution, Some(&plan), &pages)
        .await
        .unwrap();

    assert_eq!(
        store.get_execution(&execution.id).await.unwrap(),
        Some(execution.clone())
    );
    assert_eq!(store.get_plan(&execution.id).await.unwrap(), Some(plan));
    for page in &pages {
        assert_eq!(
            store.page_ledger(&execution.id, page).await.unwrap(),
            Some(PageRecord {
                outstanding: pages.len() as u64,
                ..PageRecord::default()
            })
        );
        assert!(
            !store.register_page(&execution.id, page).await.unwrap(),
            "already registered"
        );
    }
    let c = Counters::default();
    let first = store
        .complete_page(&execution.id, &pages[0], &c, &[], at(1))
        .await
        .unwrap();
    assert_eq!(first, Some(1));
    let last = store
        .complete_page(&execution.id, &pages[1], &c, &[], at(2))
        .await
        .unwrap();
    assert_eq!(last, Some(0));
}

pub async fn an_execution_that_failed_before_planning_has_no_plan_and_no_pages(
    make: &impl MakeStateStore,
) {
    let store = make().await;
    let integration = unique("int");
    let mut execution = running_execution(&integration, at(0));
    execution.status = ExecutionStatus::Failed;
    execution.finished_at = Some(at(0));
    execution.error = Some("Dataverse refused the client secret; check it".to_owned());
    store.create_execution(&execution, None, &[]).await.unwrap();

    assert_eq!(
        store.get_execution(&execution.id).await.unwrap(),
        Some(execution.clone())
    );
    assert_eq!(store.get_plan(&execution.id).await.unwrap(), None);
    assert_eq!(
        store.list_executions(Some(&integration), 10).await.unwrap(),
        vec![execution.clone()]
    );
    let running = store.running_executions().await.unwrap();
    assert!(running.iter().all(|(e, _)| e.id != execution.id));
}

pub async fn an_execution_id_is_recorded_only_once(make: &impl MakeStateStore) {
    let store = make().await;
    let execution = running_execution(&unique("int"), at(0));
    let plan = plan(&execution, 1);
    store
        .create_execution(&execution, Some(&plan), &first_pages(1))
        .await
        .unwrap();
    let again = store
        .create_execution(&execution, Some(&plan), &first_pages(1))
        .await;
    assert_eq!(
        again.map_err(|e| e.kind()).err(),
        Some(ErrorKind::Permanent)
    );
}

pub async fn a_page_is_registered_once_under_concurrent_registrars(make: &impl MakeStateStore) {
    let store = make().await;
    let execution = running_execution(&unique("int"), at(0));
    let first = first_pages(1);
    store
        .create_execution(&execution, Some(&plan(&execution, 1)), &first)
        .await
        .unwrap();
    let next = "0:00000000-0000-0000-0000-000000000001";
    let registered = race(|_| {
        let (store, id) = (Arc::clone(&store), execution.id.clone());
        async move { store.register_page(&id, next).await.unwrap() }
    })
    .await;
    assert_eq!(
        registered.iter().filter(|r| **r).count(),
        1,
        "{registered:?}"
    );
    let c = Counters::default();
    assert_eq!(
        store
            .complete_page(&execution.id, &first[0], &c, &[], at(1))
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        store
            .complete_page(&execution.id, next, &c, &[], at(2))
            .await
            .unwrap(),
        Some(0)
    );
}

pub async fn a_page_is_completed_once_under_concurrent_completers(make: &impl MakeStateStore) {
    let store = make().await;
    let execution = running_execution(&unique("int"), at(0));
    let page = first_pages(1).remove(0);
    store
        .create_execution(
            &execution,
            Some(&plan(&execution, 1)),
            std::slice::from_ref(&page),
        )
        .await
        .unwrap();
    let page_counters = counters(10, 2);
    let page_failures = failures("p", 2);
    let completions = race(|_| {
        let (store, id, page) = (Arc::clone(&store), execution.id.clone(), page.clone());
        let failures = page_failures.clone();
        async move {
            store
                .complete_page(&id, &page, &page_counters, &failures, at(5))
                .await
                .unwrap()
        }
    })
    .await;
    let some: Vec<_> = completions.iter().filter(|c| c.is_some()).collect();
    assert_eq!(some, vec![&Some(0)], "{completions:?}");

    let stored = store.get_execution(&execution.id).await.unwrap().unwrap();
    assert_eq!(stored.counters, page_counters, "counted once");
    assert_eq!(stored.failures, page_failures);
    assert!(
        store
            .page_ledger(&execution.id, &page)
            .await
            .unwrap()
            .unwrap()
            .done
    );
    let late = store
        .complete_page(&execution.id, &page, &page_counters, &[], at(6))
        .await;
    assert_eq!(late.unwrap(), None, "a redelivered page is already done");
}

pub async fn sent_batches_are_remembered_by_index(make: &impl MakeStateStore) {
    let store = make().await;
    let execution = running_execution(&unique("int"), at(0));
    let page = first_pages(1).remove(0);
    store
        .create_execution(
            &execution,
            Some(&plan(&execution, 1)),
            std::slice::from_ref(&page),
        )
        .await
        .unwrap();
    let batch = |index: u32, upserted: u64| BatchRecord {
        index,
        upserted,
        failed: 1,
        events_sent: 3,
        failures: failures(&format!("b{index}"), 1),
        record_ids: vec![format!("r{index}")],
        removal: false,
        stop: None,
    };
    for b in [batch(1, 999), batch(0, 1000), batch(1, 998)] {
        store.record_batch(&execution.id, &page, &b).await.unwrap();
    }
    assert_eq!(
        store.page_ledger(&execution.id, &page).await.unwrap(),
        Some(PageRecord {
            done: false,
            fixed: None,
            batches: vec![batch(0, 1000), batch(1, 998)],
            outstanding: 1,
        })
    );
}

pub async fn recorded_failures_are_capped_while_failed_counts_all(make: &impl MakeStateStore) {
    let store = make().await;
    let execution = running_execution(&unique("int"), at(0));
    let pages = first_pages(3);
    store
        .create_execution(&execution, Some(&plan(&execution, 3)), &pages)
        .await
        .unwrap();
    let mut all = Vec::new();
    for (n, page) in pages.iter().enumerate() {
        let page_failures = failures(&format!("p{n}"), 40);
        all.extend(page_failures.clone());
        store
            .complete_page(
                &execution.id,
                page,
                &counters(50, 40),
                &page_failures,
                at(1),
            )
            .await
            .unwrap();
    }
    let stored = store.get_execution(&execution.id).await.unwrap().unwrap();
    assert_eq!(stored.counters.failed, 120);
    assert_eq!(stored.counters.pages, 3);
    assert_eq!(
        stored.failures,
        all[..MAX_RECORDED_FAILURES].to_vec(),
        "the first 100 kept"
    );
}

/// What a page's delivery reads first, in one step: the execution and the page's row, the
/// same as `get_execution` and `page_ledger` read them apart.
pub async fn the_execution_and_its_page_read_together_as_apart(make: &impl MakeStateStore) {
    let store = make().await;
    let execution = running_execution(&unique("int"), at(0));
    let pages = first_pages(2);
    store
        .create_execution(&execution, Some(&plan(&execution, 2)), &pages)
        .await
        .unwrap();
    let apart = |page: String| {
        let (store, id) = (store.clone(), execution.id.clone());
        async move {
            (
                store.get_execution(&id).await.unwrap(),
                store.page_ledger(&id, &page).await.unwrap(),
            )
        }
    };
    let together = store
        .execution_and_page(&execution.id, &pages[0])
        .await
        .unwrap();
    assert_eq!(together, apart(pages[0].clone()).await);
    assert_eq!(together.0, Some(execution.clone()));
    assert!(
        together
            .1
            .is_some_and(|row| !row.done && row.outstanding == 2)
    );

    let batch = BatchRecord {
        index: 0,
        upserted: 3,
        failed: 0,
        events_sent: 0,
        failures: Vec::new(),
        record_ids: vec!["r1".into(), "r2".into(), "r3".into()],
        removal: false,
        stop: None,
    };
    store
        .record_batch(&execution.id, &pages[0], &batch)
        .await
        .unwrap();
    store
        .complete_page(&execution.id, &pages[0], &counters(3, 0), &[], at(1))
        .await
        .unwrap();
    let together = store
        .execution_and_page(&execution.id, &pages[0])
        .await
        .unwrap();
    assert_eq!(together, apart(pages[0].clone()).await);
    let row = together.1.unwrap();
    assert!(row.done && row.outstanding == 1 && row.batches == vec![batch]);
    assert_eq!(together.0.unwrap().counters.upserted, 3);

    assert_eq!(
        store
            .execution_and_page(&execution.id, "0:never-registered")
            .await
            .unwrap(),
        (Some(apart(pages[1].clone()).await.0.unwrap()), None)
    );
    assert_eq!(
        store
            .execution_and_page(&unique("exec"), &pages[0])
            .await
            .unwrap(),
        (None, None)
    );
}

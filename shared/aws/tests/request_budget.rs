//! AWS requests per 1,000 records, measured with `AwsRequestCounter` on moto: one
//! execution of 10 pages of 500 records driven through the adapters the way the engine's
//! page step uses them (receive, the execution and the page's ledger in one read, page
//! claim, next page, batch, completion, ack; the plan is read once, as the engine caches
//! it, and the run lock is renewed only when half of it has gone), with start and finish.
//! At most 20 per 1,000 records here, where every task is received and acknowledged on its
//! own (on Lambda the event source does both, in batches: the `aws_sync` benchmark's 14.2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use dynsync_aws::AwsRequestCounter;
use dynsync_domain::execution::{Counters, ExecutionStatus, PageTask};
use dynsync_domain::ports::{
    BatchRecord, ClaimOutcome, Executions, Finish, LockRequest, PageClaim, PageLedger, PageQueue,
    RunLocks,
};

use common::{at, execution, plan};

const PAGES: u64 = 10;
const PAGE_SIZE: u64 = 500;

#[tokio::test]
async fn a_run_costs_at_most_twenty_aws_requests_per_thousand_records() {
    let config = aws_or_skip!();
    let counter = AwsRequestCounter::new();
    let store = common::state_store(&config, &counter).await;
    let queue = common::page_queue(&config, Duration::from_secs(60), &counter).await;
    let lock = LockRequest {
        integration_id: "i".into(),
        execution_id: "e1".into(),
        owner: "o".into(),
        expires_at: at(23, 0),
    };
    let start = counter.snapshot();

    // Start: lock, execution with plan and first page, first task.
    store.acquire_lock(&lock).await.unwrap();
    let first = PageTask {
        execution_id: "e1".into(),
        integration_id: "i".into(),
        partition: 0,
        cursor: None,
    };
    store
        .create_execution(
            &execution("e1", "i", at(10, 0), ExecutionStatus::Running),
            Some(&plan("i", 1)),
            &[first.page_key()],
        )
        .await
        .unwrap();
    queue.send(std::slice::from_ref(&first)).await.unwrap();
    store.get_plan("e1").await.unwrap().unwrap();

    for page in 0..PAGES {
        let delivery = queue
            .receive(1, Duration::from_secs(2))
            .await
            .unwrap()
            .pop()
            .unwrap();
        let task = delivery.task;
        let key = task.page_key();
        let (execution, ledger) = store.execution_and_page("e1", &key).await.unwrap();
        assert!(!execution.unwrap().status.is_final());
        assert!(!ledger.unwrap().done);
        let claim = PageClaim {
            claimant: format!("delivery-{page}"),
            until: at(10, 30),
        };
        let claimed = store.claim_page("e1", &key, &claim).await.unwrap();
        assert!(matches!(claimed, ClaimOutcome::Acquired { .. }));
        if page + 1 < PAGES {
            let next = PageTask {
                cursor: Some(format!("00000000-0000-0000-0000-{page:012}")),
                ..task.clone()
            };
            assert!(store.register_page("e1", &next.page_key()).await.unwrap());
            queue.send(std::slice::from_ref(&next)).await.unwrap();
        }
        let batch = BatchRecord {
            index: 0,
            upserted: PAGE_SIZE,
            failed: 0,
            events_sent: 0,
            failures: vec![],
            record_ids: Vec::new(),
            removal: false,
            stop: None,
        };
        store.record_batch("e1", &key, &batch).await.unwrap();
        let counters = Counters {
            records_read: PAGE_SIZE,
            upserted: PAGE_SIZE,
            pages: 1,
            ..Counters::default()
        };
        let left = store
            .complete_page("e1", &key, &counters, &[], at(10, 1))
            .await
            .unwrap();
        assert_eq!(left, Some(u64::from(page + 1 < PAGES)));
        queue.ack(&delivery.receipt).await.unwrap();
    }

    // Finish.
    store.get_execution("e1").await.unwrap();
    let finish = Finish {
        status: ExecutionStatus::Succeeded,
        finished_at: at(11, 0),
        error: None,
        watermark: Some(at(9, 55)),
    };
    assert!(store.finish_execution("e1", &finish).await.unwrap());
    let end = counter.snapshot();
    assert_eq!(
        store
            .get_execution("e1")
            .await
            .unwrap()
            .unwrap()
            .counters
            .records_read,
        PAGES * PAGE_SIZE
    );

    let (dynamodb, sqs) = (end.dynamodb - start.dynamodb, end.sqs - start.sqs);
    let per_thousand = (dynamodb + sqs) as f64 * 1000.0 / (PAGES * PAGE_SIZE) as f64;
    eprintln!(
        "AWS requests for {} records in {PAGES} pages: dynamodb {dynamodb}, sqs {sqs}; {per_thousand:.1} per 1,000 records",
        PAGES * PAGE_SIZE
    );
    // Five DynamoDB requests a page: the execution with its ledger, claim, next page
    // registered, batch, completion.
    assert!(dynamodb <= 5 * PAGES + 6, "DynamoDB requests: {dynamodb}");
    assert!(
        per_thousand <= 20.0,
        "{per_thousand:.1} AWS requests per 1,000 records"
    );
}

//! Counts in Insider's 200 replies are reconciled, not trusted: a reply whose `fail.count`
//! is above the users its `fail.errors` keys name reports the rest as unattributed
//! rejections, and the batch's `failed_users` (what the engine records) then counts every
//! user without an attributed rejection failed (Insider did not say which were upserted),
//! so accepted + failed = users sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use dynsync_domain::ports::{Secret, UserFailure};
use dynsync_emulators::insider::{PARTNER, TOKEN};
use dynsync_insider::InsiderClient;
use support::{Canned, CannedServer, settings, users};

const TWO_FAILED_ONE_NAMED: &str = r#"{"data":{"successful":{"count":1},"fail":{"count":2,"errors":{"users.1.identifiers.*.regexp(^.+@.+\\..+$)":["not a valid email address: sample"]}}}}"#;

/// A client of the canned server at `url` that does not retry.
fn client(url: &str) -> InsiderClient {
    let settings = settings(url, PARTNER);
    InsiderClient::new(&settings, &Secret::new(TOKEN), Duration::from_secs(10), 0).unwrap()
}

#[tokio::test]
async fn a_reply_with_fail_count_2_but_one_indexed_error_reports_one_unattributed_rejection() {
    let server = CannedServer::start(vec![Canned::json(200, TWO_FAILED_ONE_NAMED)]).await;
    let outcome = client(&server.url)
        .send_batch(&users(3), false)
        .await
        .unwrap();
    let indexes: Vec<usize> = outcome.failures.iter().map(|f| f.index).collect();
    assert_eq!(indexes, vec![1, UserFailure::UNATTRIBUTED], "{outcome:?}");
    assert!(
        !outcome.failures.iter().any(|f| f.reason.contains("sample")),
        "no rejected value in a reason"
    );
}

#[tokio::test]
async fn the_users_insider_did_not_account_for_are_counted_failed() {
    let server = CannedServer::start(vec![Canned::json(200, TWO_FAILED_ONE_NAMED)]).await;
    let outcome = client(&server.url)
        .send_batch(&users(3), false)
        .await
        .unwrap();
    let failed = outcome.failed_users(3);
    assert_eq!(
        failed.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2],
        "{outcome:?}"
    );
    assert!(failed[&1].contains("not a valid email address"));
    assert!(
        failed[&0].contains("Insider reported 1 rejection without saying which users"),
        "{}",
        failed[&0]
    );
}

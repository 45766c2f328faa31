//! Counts in Insider's 200 replies are reconciled, not trusted: a reply whose `fail.count`
//! is above the users its `fail.errors` keys name reports the rest as unattributed
//! rejections, and `upsert_all` then counts every user without an attributed rejection
//! failed (Insider did not say which were upserted), so accepted + failed = users sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use dynsync_domain::definition::InsiderSettings;
use dynsync_domain::ports::{Secret, UserFailure};
use dynsync_domain::{Identifiers, InsiderUser};
use dynsync_emulators::insider::{PARTNER, TOKEN};
use dynsync_insider::InsiderClient;
use serde_json::json;
use support::{Canned, CannedServer};

const TWO_FAILED_ONE_NAMED: &str = r#"{"data":{"successful":{"count":1},"fail":{"count":2,"errors":{"users.1.identifiers.*.regexp(^.+@.+\\..+$)":["not a valid email address: sample"]}}}}"#;

fn client(url: &str) -> InsiderClient {
    let settings: InsiderSettings = serde_json::from_value(json!({
        "api_url": url,
        "partner": PARTNER,
        "token": {"secret": "dynsync/insider"},
    }))
    .unwrap();
    InsiderClient::new(&settings, &Secret::new(TOKEN), Duration::from_secs(10), 0).unwrap()
}

fn users(n: usize) -> Vec<InsiderUser> {
    (0..n)
        .map(|i| {
            let mut user = InsiderUser {
                identifiers: Identifiers {
                    email: Some(format!("user{i}@example.com")),
                    ..Identifiers::default()
                },
                ..InsiderUser::default()
            };
            user.attributes.insert("name".into(), json!("Someone"));
            user
        })
        .collect()
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
async fn upsert_all_counts_the_users_insider_did_not_account_for_failed() {
    let server = CannedServer::start(vec![Canned::json(200, TWO_FAILED_ONE_NAMED)]).await;
    let report = client(&server.url)
        .upsert_all(&users(3), false, false)
        .await;
    let failed: Vec<usize> = report.failures.iter().map(|f| f.index).collect();
    assert_eq!(failed, vec![0, 1, 2], "{report:?}");
    assert_eq!(report.accepted, 0);
    assert!(
        report.failures[1]
            .reason
            .contains("not a valid email address")
    );
    assert!(
        report.failures[0]
            .reason
            .contains("Insider reported 1 rejection without saying which users"),
        "{}",
        report.failures[0].reason
    );
}

//! `dynsync run` with `fetch_mode: changes` (issue 11), killed mid-way: run 2 (the one
//! reading changes) is killed after a change page was fetched, between the upserts and the
//! removals, after a removal batch, or between the last page and the finish; the rerun
//! delivers every change, deletes each profile once and moves the token once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod changes_support;

use std::path::Path;

use changes_support::*;
use dynsync_tests::cli::{count as n, succeeded};
use dynsync_tests::local::sync_token;
use dynsync_tests::{RunOutput, email, events_by_email, upserted_between, upserts_by_email};

/// Kills run 2 (the one reading changes) at `point`'s `hit`th pass and reruns it.
async fn killed_at(point: &str, hit: u32) {
    let case = format!("{point} hit {hit}");
    // One change page: the upsert batch of 2 and 20, then the removal batch of 6 and 8.
    let (stack, ids, file, _) = first_run("delete_profile", 10).await;
    let token1 = sync_token(&stack.state_dir(), "e2e").await.unwrap();
    let before = upserts_by_email(&stack.insider);
    change(&stack, &ids);

    let killed: RunOutput = stack
        .run_command(Path::new(BIN), &file, &["--concurrency", "1"])
        .env(
            "FAILPOINTS",
            format!("{point}={}*off->1*return(kill)", hit - 1),
        )
        .output()
        .await
        .unwrap()
        .into();
    assert_eq!(killed.code, None, "{case}: killed\n{}", killed.stderr);
    assert_eq!(
        sync_token(&stack.state_dir(), "e2e").await.unwrap(),
        token1,
        "{case}: a killed run moves no token"
    );

    let rerun = succeeded(&dynsync(&stack, &file, &[]).await);
    assert_eq!(n(&rerun, "records_read"), 4, "{case}: {rerun}");
    assert_eq!(n(&rerun, "upserted"), 2, "{case}");
    assert_eq!(n(&rerun, "skipped"), 2, "{case}");
    assert_eq!(n(&rerun, "deleted"), 2, "{case}");
    assert_eq!(n(&rerun, "removals_applied"), 2, "{case}");
    let token2 = sync_token(&stack.state_dir(), "e2e").await.unwrap();
    assert!(token2.is_some() && token2 != token1, "{case}");
    let after = upserts_by_email(&stack.insider);
    assert_eq!(
        upserted_between(&before, &after),
        emails(&[2, 20]),
        "{case}"
    );
    assert!(after.values().all(|n| *n <= 2), "{case}: {after:?}");
    assert!(
        stack.insider.profile_by_email(&email(6)).is_none(),
        "{case}"
    );
    assert!(
        stack.insider.profile_by_email(&email(8)).is_none(),
        "{case}"
    );
    assert_eq!(
        stack.insider.delete_requests(),
        2,
        "{case}: each profile deleted once"
    );
    let events = events_by_email(&stack.insider);
    assert_eq!(events.get(&email(2)), Some(&2), "{case}");
    assert!(
        events.iter().all(|(e, c)| *c == 1 || e == &email(2)),
        "{case}: an event sent twice: {events:?}"
    );

    // The token moved once, to where run 2 ended: nothing is left to read.
    let third = succeeded(&dynsync(&stack, &file, &[]).await);
    assert_eq!(n(&third, "records_read"), 0, "{case}");
    assert_eq!(n(&third, "deleted"), 0, "{case}");
    assert!(
        sync_token(&stack.state_dir(), "e2e")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_after_a_change_page_was_fetched_reruns_and_delivers_every_change() {
    killed_at("page.after_fetch", 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_between_the_upserts_and_the_removals_reruns_and_delivers_both() {
    killed_at("page.after_batch", 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_after_a_removal_batch_reruns_and_deletes_each_profile_once() {
    killed_at("page.after_batch", 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_between_the_last_page_and_the_finish_reruns_and_moves_the_token_once() {
    killed_at("page.after_complete", 1).await;
}

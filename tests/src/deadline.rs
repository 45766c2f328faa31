//! What the clients' deadline tests share (a `Retry-After` longer than the invocation has
//! left is not waited out): a call run with the process deadline 30 s ahead, and the
//! assertion that such a call ended at once, transiently, saying why. It depends on the
//! domain and tokio alone, so the client crates (which `dynsync-tests` depends on) include
//! this file by `#[path]`.
#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use dynsync_domain::ErrorKind;
use dynsync_domain::retry::set_deadline;

/// Runs `call` with the process deadline 30 s ahead, then clears the deadline; its result,
/// or `None` when it had not ended after 15 s.
pub async fn with_deadline_in_30s<F: Future>(call: F) -> Option<F::Output> {
    set_deadline(Some(Instant::now() + Duration::from_secs(30)));
    let result = tokio::time::timeout(Duration::from_secs(15), call)
        .await
        .ok();
    set_deadline(None);
    result
}

/// A call started at `started` that met a 429 asking for longer than the invocation has
/// left ended within 5 s with a transient error (`kind`, `message`) saying the wait would
/// outlive the invocation and naming the 429.
#[track_caller]
pub fn assert_not_waited_out(started: Instant, kind: ErrorKind, message: &str) {
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(kind, ErrorKind::Transient, "{message}");
    assert!(
        message.contains("would outlive the invocation"),
        "{message}"
    );
    assert!(message.contains("429"), "{message}");
}

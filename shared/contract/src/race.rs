//! Running the same call from many tasks at once, released together by a barrier, to show
//! that a conditional write lets exactly one of them win.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Barrier;
use tokio::task::JoinSet;

/// How many concurrent callers each race uses.
pub const RACERS: usize = 8;

/// Runs `call(n)` for `n` in `0..RACERS` concurrently and returns the results in `n` order.
pub async fn race<T, F, Fut>(call: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(RACERS));
    let mut set = JoinSet::new();
    for n in 0..RACERS {
        let barrier = Arc::clone(&barrier);
        let call = call(n);
        set.spawn(async move {
            barrier.wait().await;
            (n, call.await)
        });
    }
    let mut results: Vec<(usize, T)> = Vec::with_capacity(RACERS);
    while let Some(joined) = set.join_next().await {
        results.push(joined.expect("a racer panicked"));
    }
    results.sort_by_key(|(n, _)| *n);
    results.into_iter().map(|(_, result)| result).collect()
}

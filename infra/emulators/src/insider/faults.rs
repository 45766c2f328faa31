//! Fault knobs of the Insider emulator: throttling (429 with Retry-After), server errors and
//! latency. A knob set with `every(n)` faults the first upsert request after it is set and
//! then every n-th one (n = 1: all of them; n = 2: one fails, the next succeeds, ...), so
//! "429 then success" is `throttle_every(2, ..)`.
//!
//! For the fault matrix: a storm of server errors that ends (`fail_next`, or
//! `fail_next_after` some requests were served), 413 for bodies
//! over a size (`payload_limit`), users rejected with or without their `users.<i>.` key
//! (`reject_emails`), replies that are not JSON (`garble_next`), and a token rotated after
//! some requests (`rotate_token_after`, with a hook run at the moment of the rotation).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;

#[derive(Debug, Default)]
struct Knobs {
    throttle: Option<Every<Duration>>,
    fail: Option<Every<StatusCode>>,
    latency: Duration,
    /// Requests still to fail, and with what.
    storm: Option<(u64, StatusCode)>,
    /// Requests the storm still lets through before it starts.
    storm_after: u64,
    /// Bodies over this many bytes get 413.
    payload_limit: Option<usize>,
    rejections: Option<Rejections>,
    /// Requests still to answer with a body that is not JSON.
    garble: u64,
    rotation: Option<Rotation>,
}

/// Users rejected by email, with or without the `users.<i>.` prefix on their error key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejections {
    pub(crate) emails: BTreeSet<String>,
    pub(crate) indexed: bool,
}

/// After `after` upsert requests, only `token` is accepted; `hook` runs once, at the first
/// request past `after`, before its token is checked.
struct Rotation {
    after: u64,
    token: String,
    hook: Option<Box<dyn FnOnce() + Send>>,
}

impl std::fmt::Debug for Rotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotation")
            .field("after", &self.after)
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Every<T> {
    n: u64,
    seen: u64,
    what: T,
}

impl<T: Copy> Every<T> {
    fn new(n: u64, what: T) -> Self {
        Self {
            n: n.max(1),
            seen: 0,
            what,
        }
    }

    fn next(&mut self) -> Option<T> {
        let hit = self.seen.is_multiple_of(self.n);
        self.seen += 1;
        hit.then_some(self.what)
    }
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fault {
    pub(crate) latency: Duration,
    pub(crate) throttle: Option<Duration>,
    pub(crate) fail: Option<StatusCode>,
}

/// A handle on the emulator's fault knobs; clones share them.
#[derive(Debug, Clone, Default)]
pub struct InsiderFaults {
    knobs: Arc<Mutex<Knobs>>,
}

impl InsiderFaults {
    /// Answer 429 `{"error":"rejected: too many requests"}` with `Retry-After` (whole seconds).
    pub fn throttle_every(&self, n: u64, retry_after: Duration) {
        self.update(|k| k.throttle = Some(Every::new(n, retry_after)));
    }

    /// Answer with `status` (e.g. 500, 503) and Insider's unknown-error body.
    pub fn fail_every(&self, n: u64, status: u16) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        self.update(|k| k.fail = Some(Every::new(n, status)));
    }

    /// Delay every upsert response by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.update(|k| k.latency = latency);
    }

    /// A storm: the next `n` upsert requests (after any throttled one) are answered with
    /// `status` and Insider's unknown-error body, nothing stored; later ones are served.
    pub fn fail_next(&self, n: u64, status: u16) {
        self.fail_next_after(0, n, status);
    }

    /// A storm that starts later: the next `served` upsert requests (that neither a
    /// throttle nor `fail_every` faults) are served, then `n` fail as with
    /// [`InsiderFaults::fail_next`] (`fail_next_after(1, 1, 500)`: the second batch fails once).
    pub fn fail_next_after(&self, served: u64, n: u64, status: u16) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        self.update(|k| {
            k.storm = (n > 0).then_some((n, status));
            k.storm_after = served;
        });
    }

    /// Requests whose body is over `bytes` bytes get 413 with Insider's size message (as
    /// for bodies over 5,000,000 bytes), nothing stored; `None` restores the real limit.
    pub fn payload_limit(&self, bytes: Option<usize>) {
        self.update(|k| k.payload_limit = bytes);
    }

    /// Users whose `email` identifier is one of `emails` are rejected (not stored, counted
    /// in `fail.count`). With `indexed`, each error key starts with `users.<i>.` as
    /// Insider's validation errors do; without, the key is `users` alone, so the reply
    /// says how many were rejected but not which.
    pub fn reject_emails<I, S>(&self, emails: I, indexed: bool)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let emails = emails.into_iter().map(Into::into).collect();
        self.update(|k| k.rejections = Some(Rejections { emails, indexed }));
    }

    /// The next `n` upsert requests that pass auth are answered 200 with an HTML page (not
    /// JSON), as a proxy in front of Insider might, and nothing is stored.
    pub fn garble_next(&self, n: u64) {
        self.update(|k| k.garble = n);
    }

    /// Once the emulator has received `after` upsert requests in all (its `requests()`
    /// count, faulted ones included), it accepts only `token` (the old one gets 401).
    /// `on_rotate` runs once, at the first request past `after`, before that request's
    /// token is checked and while other requests wait (tests use it to store the new
    /// token where the client will re-read it).
    pub fn rotate_token_after(
        &self,
        after: u64,
        token: &str,
        on_rotate: impl FnOnce() + Send + 'static,
    ) {
        let token = token.to_owned();
        self.update(|k| {
            k.rotation = Some(Rotation {
                after,
                token,
                hook: Some(Box::new(on_rotate)),
            });
        });
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.update(|k| *k = Knobs::default());
    }

    pub(crate) fn next(&self) -> Fault {
        let Ok(mut knobs) = self.knobs.lock() else {
            return Fault::default();
        };
        let throttle = knobs.throttle.as_mut().and_then(Every::next);
        let mut fail = if throttle.is_none() {
            knobs.fail.as_mut().and_then(Every::next)
        } else {
            None
        };
        if throttle.is_none()
            && fail.is_none()
            && let Some((left, status)) = knobs.storm
        {
            if knobs.storm_after > 0 {
                knobs.storm_after -= 1;
            } else {
                fail = Some(status);
                knobs.storm = (left > 1).then_some((left - 1, status));
            }
        }
        Fault {
            latency: knobs.latency,
            throttle,
            fail,
        }
    }

    /// Whether a body of `len` bytes is over the [`InsiderFaults::payload_limit`].
    pub(crate) fn too_large(&self, len: usize) -> bool {
        self.knobs
            .lock()
            .is_ok_and(|k| k.payload_limit.is_some_and(|limit| len > limit))
    }

    /// The [`InsiderFaults::reject_emails`] setting.
    pub(crate) fn rejections(&self) -> Option<Rejections> {
        self.knobs.lock().ok().and_then(|k| k.rejections.clone())
    }

    /// Whether this request's reply is to be garbled (counts it down).
    pub(crate) fn garble(&self) -> bool {
        let Ok(mut knobs) = self.knobs.lock() else {
            return false;
        };
        let hit = knobs.garble > 0;
        knobs.garble = knobs.garble.saturating_sub(1);
        hit
    }

    /// The token to accept for the `request`-th (1-based) upsert request, when rotated;
    /// runs the rotation hook the first time, holding the knobs so that concurrent
    /// requests see the rotation only once the hook is done.
    pub(crate) fn rotated_token(&self, request: u64) -> Option<String> {
        let mut knobs = self.knobs.lock().ok()?;
        let rotation = knobs.rotation.as_mut()?;
        if request <= rotation.after {
            return None;
        }
        if let Some(hook) = rotation.hook.take() {
            hook();
        }
        Some(rotation.token.clone())
    }

    fn update(&self, change: impl FnOnce(&mut Knobs)) {
        if let Ok(mut knobs) = self.knobs.lock() {
            change(&mut knobs);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn a_storm_fails_the_next_requests_then_ends() {
        let faults = InsiderFaults::default();
        faults.fail_next(2, 503);
        let fails: Vec<Option<u16>> = (0..3)
            .map(|_| faults.next().fail.map(|s| s.as_u16()))
            .collect();
        assert_eq!(fails, [Some(503), Some(503), None]);
    }

    #[test]
    fn a_later_storm_serves_the_given_requests_first() {
        let faults = InsiderFaults::default();
        faults.fail_next_after(1, 2, 500);
        let fails: Vec<Option<u16>> = (0..4)
            .map(|_| faults.next().fail.map(|s| s.as_u16()))
            .collect();
        assert_eq!(fails, [None, Some(500), Some(500), None]);
    }

    #[test]
    fn size_limit_rejections_and_garbled_replies() {
        let faults = InsiderFaults::default();
        assert!(!faults.too_large(10_000));
        faults.payload_limit(Some(100));
        assert!(!faults.too_large(100) && faults.too_large(101));
        faults.reject_emails(["a@example.com"], false);
        let rejections = faults.rejections().unwrap_or_else(|| unreachable!());
        assert!(rejections.emails.contains("a@example.com") && !rejections.indexed);
        faults.garble_next(1);
        assert!(faults.garble());
        assert!(!faults.garble());
    }

    #[test]
    fn the_token_rotates_after_the_given_requests_and_the_hook_runs_once() {
        let faults = InsiderFaults::default();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        faults.rotate_token_after(2, "new", move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(faults.rotated_token(1), None);
        assert_eq!(faults.rotated_token(2), None);
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        assert_eq!(faults.rotated_token(3).as_deref(), Some("new"));
        assert_eq!(faults.rotated_token(4).as_deref(), Some("new"));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        faults.clear();
        assert_eq!(faults.rotated_token(5), None);
    }
}

//! Fault knobs of the Insider emulator: throttling (429 with Retry-After), server errors and
//! latency. A knob set with `every(n)` faults the first upsert request after it is set and
//! then every n-th one (n = 1: all of them; n = 2: one fails, the next succeeds, ...), so
//! "429 then success" is `throttle_every(2, ..)`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;

#[derive(Debug, Default)]
struct Knobs {
    throttle: Option<Every<Duration>>,
    fail: Option<Every<StatusCode>>,
    latency: Duration,
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

    /// Removes every fault.
    pub fn clear(&self) {
        self.update(|k| *k = Knobs::default());
    }

    pub(crate) fn next(&self) -> Fault {
        let Ok(mut knobs) = self.knobs.lock() else {
            return Fault::default();
        };
        let throttle = knobs.throttle.as_mut().and_then(Every::next);
        let fail = if throttle.is_none() {
            knobs.fail.as_mut().and_then(Every::next)
        } else {
            None
        };
        Fault {
            latency: knobs.latency,
            throttle,
            fail,
        }
    }

    fn update(&self, change: impl FnOnce(&mut Knobs)) {
        if let Ok(mut knobs) = self.knobs.lock() {
            change(&mut knobs);
        }
    }
}

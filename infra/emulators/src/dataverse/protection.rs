//! Service protection limits (API-FACTS.md 2.7) and the parallelism hint, emulated at the
//! Web API gate.
//!
//! Limits are per user: the caller identity behind the bearer token (the application user
//! of a client-credentials token, the signed-in user of a delegated one), so every token of
//! one caller shares them. Off until [`Faults::service_protection`] turns them on; then
//! - at most `concurrent` of the caller's requests are served at once; one more is refused
//!   at once with 429, `Retry-After: 1` and `0x80072326` ("Number of concurrent requests
//!   exceeded the limit of 52.");
//! - at most `requests` of the caller's requests are served in any sliding `window`; one
//!   more is refused with 429, `0x80072322` ("Number of requests exceeded the limit of 6000
//!   over time window of 300 seconds.") and a `Retry-After` of the whole seconds until the
//!   oldest request in the window leaves it. (Dataverse may let a burst pass briefly before
//!   enforcing; the emulator enforces exactly, so tests are deterministic.)
//!
//! Refused requests do not count toward the window. An HTTP request counts once (a `$batch`
//! is one request). Requests without a valid token are not limited (they get 401).
//!
//! [`Faults::dop_hint`] adds `x-ms-dop-hint: N` (Dataverse's recommended degree of
//! parallelism) to every Web API reply. Observables: the peak number of Web API requests in
//! flight at once (all callers, counted from arrival to reply, refused ones included, so it
//! shows what the client sent) and the 429s served by reason ([`Throttled`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::faults::Faults;

/// Dataverse's service protection limits for one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceProtection {
    /// Requests served per sliding [`ServiceProtection::window`].
    pub requests: u64,
    /// The sliding window.
    pub window: Duration,
    /// Requests served at once.
    pub concurrent: u64,
}

impl ServiceProtection {
    /// The documented defaults: 6,000 requests per 5 minutes, 52 concurrent requests.
    pub const DATAVERSE: ServiceProtection = ServiceProtection {
        requests: 6_000,
        window: Duration::from_secs(300),
        concurrent: 52,
    };
}

impl Default for ServiceProtection {
    fn default() -> Self {
        Self::DATAVERSE
    }
}

/// 429s served so far, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Throttled {
    /// `0x80072326`: the concurrent-requests limit.
    pub concurrency: u64,
    /// `0x80072322` from the sliding window of [`ServiceProtection::requests`].
    pub requests: u64,
    /// Injected by the other knobs (`throttle_every`, `throttle_without_retry_after_every`).
    pub injected: u64,
}

impl Throttled {
    pub fn total(&self) -> u64 {
        self.concurrency + self.requests + self.injected
    }
}

/// A refusal by the service protection limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: &'static str,
    pub message: String,
    pub retry_after_secs: u64,
}

#[derive(Debug, Default)]
struct Caller {
    in_flight: u64,
    served: VecDeque<Instant>,
}

#[derive(Debug, Default)]
struct Limits {
    limits: Option<ServiceProtection>,
    dop_hint: Option<u32>,
    callers: HashMap<String, Caller>,
}

/// The state behind the knobs (inside [`Faults`]).
#[derive(Debug, Default)]
pub(crate) struct Protection {
    state: Mutex<Limits>,
    in_flight: AtomicU64,
    peak: AtomicU64,
    concurrency: AtomicU64,
    requests: AtomicU64,
    total_429: AtomicU64,
}

impl Protection {
    fn state(&self) -> MutexGuard<'_, Limits> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Limits and hint off (counters and in-flight requests stay).
    pub(crate) fn clear(&self) {
        let mut state = self.state();
        state.limits = None;
        state.dop_hint = None;
    }
}

/// Held while a Web API request is in flight (arrival to reply).
#[derive(Debug)]
pub(crate) struct InFlight {
    faults: Faults,
    /// The caller whose concurrency slot this request holds.
    caller: Option<String>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let protection = self.faults.protection();
        protection.in_flight.fetch_sub(1, Ordering::SeqCst);
        if let Some(caller) = self.caller.take() {
            let mut state = protection.state();
            if let Some(c) = state.callers.get_mut(&caller) {
                c.in_flight = c.in_flight.saturating_sub(1);
            }
        }
    }
}

impl InFlight {
    /// Admits the request of `caller` (`None`: no valid token) under the limits, holding
    /// its concurrency slot until this guard drops, or refuses it.
    pub(crate) fn admit(&mut self, caller: Option<&str>) -> Result<(), Refusal> {
        let Some(caller) = caller else { return Ok(()) };
        let protection = self.faults.protection();
        let mut state = protection.state();
        let Some(limits) = state.limits else {
            return Ok(());
        };
        let now = Instant::now();
        let c = state.callers.entry(caller.to_owned()).or_default();
        while c
            .served
            .front()
            .is_some_and(|t| now.duration_since(*t) >= limits.window)
        {
            c.served.pop_front();
        }
        if c.in_flight >= limits.concurrent {
            protection.concurrency.fetch_add(1, Ordering::SeqCst);
            return Err(Refusal {
                code: "0x80072326",
                message: format!(
                    "Number of concurrent requests exceeded the limit of {}.",
                    limits.concurrent
                ),
                retry_after_secs: 1,
            });
        }
        if c.served.len() as u64 >= limits.requests {
            let leaves = c
                .served
                .front()
                .map(|t| limits.window.saturating_sub(now.duration_since(*t)))
                .unwrap_or_default();
            let secs = leaves.as_secs() + u64::from(leaves.subsec_nanos() > 0);
            protection.requests.fetch_add(1, Ordering::SeqCst);
            return Err(Refusal {
                code: "0x80072322",
                message: format!(
                    "Number of requests exceeded the limit of {} over time window of {} seconds.",
                    limits.requests,
                    limits.window.as_secs()
                ),
                retry_after_secs: secs.max(1),
            });
        }
        c.in_flight += 1;
        c.served.push_back(now);
        self.caller = Some(caller.to_owned());
        Ok(())
    }
}

impl Faults {
    /// Turns on Dataverse's service protection limits per user (e.g.
    /// [`ServiceProtection::DATAVERSE`]); [`Faults::clear`] turns them off.
    pub fn service_protection(&self, limits: ServiceProtection) {
        self.protection().state().limits = Some(limits);
    }

    /// Sends `x-ms-dop-hint: n` on every Web API reply (`None` or 0: no header).
    pub fn dop_hint(&self, n: Option<u32>) {
        self.protection().state().dop_hint = n.filter(|n| *n > 0);
    }

    /// The most Web API requests in flight at once so far (all callers; refused ones
    /// included).
    pub fn peak_concurrent_requests(&self) -> u64 {
        self.protection().peak.load(Ordering::SeqCst)
    }

    /// The 429s served so far, by reason.
    pub fn throttled(&self) -> Throttled {
        let p = self.protection();
        let concurrency = p.concurrency.load(Ordering::SeqCst);
        let requests = p.requests.load(Ordering::SeqCst);
        let total = p.total_429.load(Ordering::SeqCst);
        Throttled {
            concurrency,
            requests,
            injected: total.saturating_sub(concurrency + requests),
        }
    }

    /// A Web API request arrived: counts it in flight until the guard drops.
    pub(crate) fn arrive(&self) -> InFlight {
        let p = self.protection();
        let now = p.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        p.peak.fetch_max(now, Ordering::SeqCst);
        InFlight {
            faults: self.clone(),
            caller: None,
        }
    }

    /// A reply is going out: counts a 429, and gives the hint header's value to send.
    pub(crate) fn replying(&self, status: u16) -> Option<u32> {
        let p = self.protection();
        if status == 429 {
            p.total_429.fetch_add(1, Ordering::SeqCst);
        }
        p.state().dop_hint
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn limits(requests: u64, concurrent: u64) -> ServiceProtection {
        ServiceProtection {
            requests,
            window: Duration::from_secs(300),
            concurrent,
        }
    }

    #[test]
    fn the_concurrency_limit_is_per_caller_and_freed_when_a_request_ends() {
        let faults = Faults::default();
        faults.service_protection(limits(100, 2));
        let mut a1 = faults.arrive();
        let mut a2 = faults.arrive();
        let mut a3 = faults.arrive();
        let mut b1 = faults.arrive();
        assert_eq!(a1.admit(Some("a")), Ok(()));
        assert_eq!(a2.admit(Some("a")), Ok(()));
        let refused = a3.admit(Some("a")).unwrap_err();
        assert_eq!(refused.code, "0x80072326");
        assert_eq!(
            refused.message,
            "Number of concurrent requests exceeded the limit of 2."
        );
        assert_eq!(
            b1.admit(Some("b")),
            Ok(()),
            "another user has its own limit"
        );
        drop(a1);
        let mut a4 = faults.arrive();
        assert_eq!(a4.admit(Some("a")), Ok(()));
        assert_eq!(faults.peak_concurrent_requests(), 4);
        assert_eq!(faults.throttled().concurrency, 1);
        drop((a2, a3, a4, b1));
        assert_eq!(faults.protection().in_flight.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_request_window_refuses_past_the_limit_with_a_retry_after() {
        let faults = Faults::default();
        faults.service_protection(limits(3, 52));
        for _ in 0..3 {
            assert_eq!(faults.arrive().admit(Some("a")), Ok(()));
        }
        let refused = faults.arrive().admit(Some("a")).unwrap_err();
        assert_eq!(refused.code, "0x80072322");
        assert_eq!(
            refused.message,
            "Number of requests exceeded the limit of 3 over time window of 300 seconds."
        );
        assert!((299..=300).contains(&refused.retry_after_secs));
        assert_eq!(faults.arrive().admit(None), Ok(()), "no token: not limited");
        faults.clear();
        assert_eq!(faults.arrive().admit(Some("a")), Ok(()), "limits off");
        assert_eq!(faults.throttled().requests, 1);
    }

    #[test]
    fn limits_are_off_by_default_and_the_hint_ignores_zero() {
        let faults = Faults::default();
        let guards: Vec<InFlight> = (0..60)
            .map(|_| {
                let mut g = faults.arrive();
                assert_eq!(g.admit(Some("a")), Ok(()));
                g
            })
            .collect();
        assert_eq!(faults.peak_concurrent_requests(), 60);
        drop(guards);
        assert_eq!(faults.replying(200), None);
        faults.dop_hint(Some(0));
        assert_eq!(faults.replying(200), None);
        faults.dop_hint(Some(8));
        assert_eq!(faults.replying(429), Some(8));
        assert_eq!(faults.throttled().injected, 1);
    }
}

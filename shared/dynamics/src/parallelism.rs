//! One adaptive parallelism gate per Dataverse client, shared by every clone (so by every
//! page worker of a run): it bounds the Web API requests in flight to a cap that follows
//! what Dataverse says (API-FACTS.md 2.7, service protection limits).
//!
//! - The cap starts at the configured concurrency (the run's page workers; 52, Dataverse's
//!   concurrent-requests limit, when the caller does not say). The client's first request
//!   goes alone: until one attempt has ended, one request is in flight at most, so the
//!   first burst already follows the hint of the first reply.
//! - A reply carrying `x-ms-dop-hint: N` (Dataverse's recommended degree of parallelism)
//!   sets the ceiling to min(configured, N). A new hint value sets the cap to that ceiling;
//!   the same value again only keeps the cap under it (so repeated hints do not undo a step
//!   down). A missing, invalid or zero header is ignored.
//! - A throttled reply (429, or a service-protection error in any status or inside a
//!   `$batch` reply) halves the cap, not below 1. Only once per burst: a throttled request
//!   halves the cap only when it was sent after the last decrease, so 20 requests refused
//!   together halve it once, not 20 times.
//! - [`RECOVERY_RUN`] successes in a row raise the cap by one, never above the ceiling.
//!
//! The gate holds a request's slot from the send to the end of its reply body, not while
//! decoding it nor during a retry's wait. [`Cap`] is the pure state machine; [`Gate`] adds
//! the waiting. A debug line is logged whenever the cap changes.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

/// The cap when the caller does not configure one: Dataverse's default concurrent-requests
/// limit per user.
pub const DEFAULT_CONCURRENCY: u32 = 52;

/// Successes in a row that raise the cap by one.
pub const RECOVERY_RUN: u32 = 20;

/// What a finished request tells the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Throttled,
    /// Any other failure (timeout, 5xx, 4xx...): neither raises nor lowers the cap.
    Other,
}

/// The cap's state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cap {
    configured: u32,
    hint: Option<u32>,
    cap: u32,
    /// Bumped by every decrease; a request carries the generation it was sent in.
    generation: u64,
    successes: u32,
    /// An attempt has ended (before that, one request at a time).
    answered: bool,
}

impl Cap {
    pub(crate) fn new(configured: u32) -> Self {
        let configured = configured.max(1);
        Self {
            configured,
            hint: None,
            cap: configured,
            generation: 0,
            successes: 0,
            answered: false,
        }
    }

    pub(crate) fn cap(&self) -> u32 {
        self.cap
    }

    /// Requests allowed in flight now: the cap, or 1 until the first attempt has ended.
    pub(crate) fn limit(&self) -> u32 {
        if self.answered { self.cap } else { 1 }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// min(configured, hint).
    fn ceiling(&self) -> u32 {
        self.hint
            .map_or(self.configured, |h| h.min(self.configured))
    }

    /// A reply came back for a request sent in `generation`, with this hint header value
    /// (`None`: absent or unreadable). Returns the reason when the cap changed.
    pub(crate) fn observe(
        &mut self,
        generation: u64,
        hint: Option<u32>,
        outcome: Outcome,
    ) -> Option<&'static str> {
        let before = self.cap;
        let first = !std::mem::replace(&mut self.answered, true);
        let mut reason = None;
        if let Some(h) = hint.filter(|h| *h > 0) {
            let new_hint = self.hint != Some(h);
            self.hint = Some(h);
            self.cap = if new_hint {
                self.ceiling()
            } else {
                self.cap.min(self.ceiling())
            };
            if self.cap != before {
                reason = Some("x-ms-dop-hint");
            }
        }
        match outcome {
            Outcome::Throttled => {
                self.successes = 0;
                if generation == self.generation {
                    self.cap = (self.cap / 2).max(1);
                    self.generation += 1;
                    reason = Some("throttled");
                }
            }
            Outcome::Success => {
                self.successes += 1;
                if self.successes >= RECOVERY_RUN {
                    self.successes = 0;
                    if self.cap < self.ceiling() {
                        self.cap += 1;
                        reason = Some("successes");
                    }
                }
            }
            Outcome::Other => {}
        }
        if first && reason.is_none() {
            reason = Some("first reply");
        }
        (self.cap != before || first).then_some(reason).flatten()
    }
}

#[derive(Debug)]
struct State {
    cap: Cap,
    in_flight: u32,
}

/// The gate: waits for a slot under the cap.
#[derive(Debug)]
pub(crate) struct Gate {
    state: Mutex<State>,
    freed: Notify,
}

/// A request's slot in the gate, released by [`Permit::release`] or on drop.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    gate: &'a Gate,
    generation: u64,
    held: bool,
}

impl Gate {
    pub(crate) fn new(configured: u32) -> Self {
        Self {
            state: Mutex::new(State {
                cap: Cap::new(configured),
                in_flight: 0,
            }),
            freed: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current cap.
    pub(crate) fn cap(&self) -> u32 {
        self.state().cap.cap()
    }

    /// Waits until fewer requests than the cap are in flight and takes a slot.
    pub(crate) async fn acquire(&self) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut state = self.state();
                if state.in_flight < state.cap.limit() {
                    state.in_flight += 1;
                    return Permit {
                        gate: self,
                        generation: state.cap.generation(),
                        held: true,
                    };
                }
            }
            freed.await;
        }
    }
}

impl Permit<'_> {
    /// Frees the slot (the reply has been read); the outcome can still be observed.
    pub(crate) fn release(&mut self) {
        if std::mem::take(&mut self.held) {
            self.gate.state().in_flight -= 1;
            self.gate.freed.notify_waiters();
        }
    }

    /// Tells the gate how the request ended and what hint its reply carried.
    pub(crate) fn observe(&self, hint: Option<u32>, outcome: Outcome) {
        let mut state = self.gate.state();
        let before = state.cap.cap();
        if let Some(reason) = state.cap.observe(self.generation, hint, outcome) {
            let cap = state.cap.cap();
            let in_flight = state.in_flight;
            drop(state);
            tracing::debug!(
                cap,
                previous = before,
                in_flight,
                reason,
                "Dataverse parallelism cap changed"
            );
            if cap >= before {
                self.gate.freed.notify_waiters();
            }
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cap_after(cap: &mut Cap, steps: &[(Option<u32>, Outcome)]) -> Vec<u32> {
        steps
            .iter()
            .map(|(hint, outcome)| {
                let g = cap.generation();
                cap.observe(g, *hint, *outcome);
                cap.cap()
            })
            .collect()
    }

    #[test]
    fn the_hint_sets_the_cap_to_the_smaller_of_it_and_the_configured_concurrency() {
        let mut cap = Cap::new(8);
        assert_eq!(cap.cap(), 8);
        let steps = [
            (Some(2), Outcome::Success),
            (Some(16), Outcome::Success),
            (Some(0), Outcome::Success),
            (None, Outcome::Other),
        ];
        assert_eq!(cap_after(&mut cap, &steps), [2, 8, 8, 8]);
        assert_eq!(Cap::new(0).cap(), 1, "never below 1");
    }

    #[test]
    fn a_throttle_halves_once_per_burst_and_not_below_one() {
        let mut cap = Cap::new(64);
        let sent_before = cap.generation();
        assert_eq!(
            cap.observe(sent_before, None, Outcome::Throttled),
            Some("throttled")
        );
        assert_eq!(cap.cap(), 32);
        // Requests of the same burst (sent before the decrease) do not halve again.
        for _ in 0..10 {
            assert_eq!(cap.observe(sent_before, None, Outcome::Throttled), None);
        }
        assert_eq!(cap.cap(), 32);
        let steps = [(None, Outcome::Throttled); 7];
        assert_eq!(cap_after(&mut cap, &steps), [16, 8, 4, 2, 1, 1, 1]);
    }

    #[test]
    fn successes_creep_back_up_by_one_never_above_the_hint() {
        let mut cap = Cap::new(8);
        cap_after(
            &mut cap,
            &[(Some(4), Outcome::Success), (Some(4), Outcome::Throttled)],
        );
        assert_eq!(cap.cap(), 2);
        // The same hint again does not undo the step down.
        let run = vec![(Some(4), Outcome::Success); RECOVERY_RUN as usize];
        assert_eq!(*cap_after(&mut cap, &run).last().unwrap(), 3);
        let caps = cap_after(&mut cap, &run.repeat(3));
        assert_eq!(*caps.last().unwrap(), 4, "not above the hint");
        // A failure that is not a throttle changes nothing but does not break the run.
        cap_after(&mut cap, &[(None, Outcome::Other)]);
        assert_eq!(cap.cap(), 4);
        // Without a hint, the ceiling is the configured concurrency.
        let mut cap = Cap::new(3);
        cap_after(&mut cap, &[(None, Outcome::Throttled)]);
        let caps = cap_after(&mut cap, &vec![(None, Outcome::Success); 100]);
        assert_eq!(*caps.last().unwrap(), 3);
    }

    #[test]
    fn the_first_request_goes_alone() {
        let mut cap = Cap::new(8);
        assert_eq!((cap.cap(), cap.limit()), (8, 1));
        assert_eq!(cap.observe(0, None, Outcome::Other), Some("first reply"));
        assert_eq!(cap.limit(), 8);
        let mut cap = Cap::new(8);
        assert_eq!(
            cap.observe(0, Some(2), Outcome::Success),
            Some("x-ms-dop-hint")
        );
        assert_eq!(cap.limit(), 2);
    }

    #[tokio::test]
    async fn the_gate_holds_requests_past_the_cap_until_a_slot_is_freed() {
        let gate = Gate::new(2);
        let probe = gate.acquire().await;
        let second = tokio::time::timeout(std::time::Duration::from_millis(50), gate.acquire());
        assert!(second.await.is_err(), "the first request goes alone");
        probe.observe(None, Outcome::Success);
        drop(probe);
        let mut a = gate.acquire().await;
        let _b = gate.acquire().await;
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), gate.acquire());
        assert!(third.await.is_err(), "a third request waits");
        a.release();
        a.release();
        let c = tokio::time::timeout(std::time::Duration::from_secs(5), gate.acquire()).await;
        assert!(c.is_ok(), "a freed slot is taken");
        // A throttle halves the cap; the permit is freed when dropped.
        c.unwrap().observe(None, Outcome::Throttled);
        assert_eq!(gate.cap(), 1);
        assert_eq!(gate.state().in_flight, 1);
    }
}

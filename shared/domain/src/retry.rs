//! The retry policy both HTTP clients use: exponential backoff with jitter, never sooner
//! than the server's `Retry-After`, never longer than [`MAX_WAIT`], and never past the
//! invocation's deadline.
//!
//! The deadline: a Lambda handles one invocation at a time, so the handler sets the process
//! deadline with [`set_deadline`] when an invocation starts and clears it when it ends. Both
//! clients' retry loops ask [`fits_before_deadline`] before each wait; a wait that would end
//! less than [`DEADLINE_MARGIN`] before the deadline is not started: the client returns its
//! transient error, and the page is handed back to be retried by a later delivery. Without a
//! deadline (the CLI) only [`MAX_WAIT`] bounds a wait.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The longest wait before one retry, whatever the server's `Retry-After` or the policy asks
/// (a Lambda invocation lasts at most 300 s here; a longer wait is better spent by handing
/// the work back).
pub const MAX_WAIT: Duration = Duration::from_secs(120);

/// A wait must end at least this long before the deadline: the retried request needs time too.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// When the current invocation ends (`None`: no deadline).
static DEADLINE: Mutex<Option<Instant>> = Mutex::new(None);

/// A `Retry-After` header value in seconds (fractions allowed), at most [`MAX_WAIT`]; `None`
/// when it is not a finite, non-negative number (an HTTP date is not honoured; the backoff
/// applies). Never panics, whatever the value.
pub fn retry_after_secs(value: &str) -> Option<Duration> {
    let seconds = value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)?;
    Duration::try_from_secs_f64(seconds.min(MAX_WAIT.as_secs_f64()))
        .ok()
        .map(|wait| wait.min(MAX_WAIT))
}

/// Sets (at the start of an invocation) or clears (`None`, at its end) the process deadline.
pub fn set_deadline(deadline: Option<Instant>) {
    *DEADLINE.lock().unwrap_or_else(PoisonError::into_inner) = deadline;
}

/// Whether a wait of `wait` starting now ends at least [`DEADLINE_MARGIN`] before the
/// process deadline (always, when there is none).
pub fn fits_before_deadline(wait: Duration) -> bool {
    let deadline = *DEADLINE.lock().unwrap_or_else(PoisonError::into_inner);
    wait_fits(deadline, Instant::now(), wait)
}

fn wait_fits(deadline: Option<Instant>, now: Instant, wait: Duration) -> bool {
    let Some(deadline) = deadline else {
        return true;
    };
    now.checked_add(wait)
        .and_then(|end| end.checked_add(DEADLINE_MARGIN))
        .is_some_and(|end| end <= deadline)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (the definition's `retries`).
    pub retries: u32,
    /// Backoff before the first retry, doubled for each further one.
    pub base: Duration,
    /// Upper bound of the exponential part.
    pub max: Duration,
}

impl RetryPolicy {
    pub fn new(retries: u32) -> Self {
        Self {
            retries,
            base: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }

    /// The wait before retry number `retry` (1-based). `jitter` in `[0, 1]` spreads the wait
    /// over the upper half of the exponential step (callers pass a random number); a
    /// `retry_after` from the server is a floor; [`MAX_WAIT`] is the ceiling.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        let step = self.base.saturating_mul(1u32 << exponent).min(self.max);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let backoff = step.mul_f64(0.5 + 0.5 * jitter);
        let wait = match retry_after {
            Some(floor) if floor > backoff => floor,
            _ => backoff,
        };
        wait.min(MAX_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let policy = RetryPolicy::new(10);
        assert_eq!(policy.delay(1, None, 1.0), Duration::from_millis(500));
        assert_eq!(policy.delay(2, None, 1.0), Duration::from_secs(1));
        assert_eq!(policy.delay(3, None, 1.0), Duration::from_secs(2));
        assert_eq!(policy.delay(30, None, 1.0), Duration::from_secs(30));
    }

    #[test]
    fn jitter_keeps_the_wait_within_the_upper_half_of_the_step() {
        let policy = RetryPolicy::new(3);
        assert_eq!(policy.delay(2, None, 0.0), Duration::from_millis(500));
        assert_eq!(policy.delay(2, None, f64::NAN), Duration::from_millis(500));
        assert_eq!(policy.delay(2, None, 7.0), Duration::from_secs(1));
    }

    #[test]
    fn retry_after_is_never_undercut() {
        let policy = RetryPolicy::new(3);
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(2)), 0.3),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.delay(4, Some(Duration::from_millis(10)), 1.0),
            Duration::from_secs(4)
        );
    }
    #[test]
    fn retry_after_values_from_a_reply_are_bounded_and_never_panic() {
        for (value, expected) in [
            ("2", Some(Duration::from_secs(2))),
            ("1.5", Some(Duration::from_millis(1500))),
            ("-0", Some(Duration::ZERO)),
            ("86400", Some(MAX_WAIT)),
            ("1e308", Some(MAX_WAIT)),
            ("18446744073709551615", Some(MAX_WAIT)),
            (
                "179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
                Some(MAX_WAIT),
            ),
            ("NaN", None),
            ("inf", None),
            ("-inf", None),
            ("-1", None),
            ("-1e308", None),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("", None),
        ] {
            assert_eq!(retry_after_secs(value), expected, "Retry-After: {value}");
        }
    }

    #[test]
    fn no_wait_is_longer_than_the_cap_whatever_the_server_or_policy_asks() {
        let policy = RetryPolicy {
            retries: 10,
            base: Duration::from_secs(3600),
            max: Duration::MAX,
        };
        assert_eq!(policy.delay(1, None, 1.0), MAX_WAIT);
        let policy = RetryPolicy::new(3);
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(86_400)), 0.5),
            MAX_WAIT
        );
        assert_eq!(policy.delay(1, Some(Duration::MAX), 0.5), MAX_WAIT);
    }

    #[test]
    fn a_wait_fits_only_when_it_ends_a_margin_before_the_deadline() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(30);
        assert!(wait_fits(None, now, MAX_WAIT));
        assert!(wait_fits(Some(deadline), now, Duration::from_secs(20)));
        assert!(!wait_fits(Some(deadline), now, Duration::from_secs(21)));
        assert!(!wait_fits(Some(deadline), now, MAX_WAIT));
        assert!(!wait_fits(Some(deadline), now, Duration::MAX));
        // A deadline already passed leaves no time for any wait.
        assert!(!wait_fits(
            Some(now),
            now + Duration::from_secs(1),
            Duration::ZERO
        ));
    }

    #[test]
    fn the_process_deadline_is_consulted_and_cleared() {
        set_deadline(Some(Instant::now() + Duration::from_secs(30)));
        let short = fits_before_deadline(Duration::from_secs(1));
        let long = fits_before_deadline(Duration::from_secs(25));
        set_deadline(None);
        assert!(short && !long);
        assert!(fits_before_deadline(MAX_WAIT));
    }
}

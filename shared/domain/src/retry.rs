//! The retry policy both HTTP clients use: exponential backoff with jitter, never sooner
//! than the server's `Retry-After`.

use std::time::Duration;

/// A `Retry-After` header value in seconds (fractions allowed); `None` when it is not a
/// finite, non-negative number (an HTTP date is not honoured; the backoff applies).
pub fn retry_after_secs(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
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
    /// `retry_after` from the server is a floor.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        let step = self.base.saturating_mul(1u32 << exponent).min(self.max);
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let backoff = step.mul_f64(0.5 + 0.5 * jitter);
        match retry_after {
            Some(floor) if floor > backoff => floor,
            _ => backoff,
        }
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
}

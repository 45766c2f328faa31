//! Fault knobs: latency, throttling (429 + `Retry-After`), 5xx failures, dropped
//! connections, malformed pages, records with a missing or bad primary id, an organization
//! that refuses range conditions on the primary id, and short-lived tokens. Setters take
//! effect at once.
//!
//! "Every n" knobs count Web API requests (token calls are not counted); the k-th request
//! is hit when k is a multiple of n.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Default, Clone)]
struct Knobs {
    latency: Duration,
    throttle: Option<(u64, u64)>,
    fail: Option<(u64, u16)>,
    drop: Option<u64>,
    malformed: Option<u64>,
    token_lifetime: Option<u64>,
    refuse_primary_id_ranges: bool,
    /// Position in each FetchXML page, and the primary id's replacement (`None` = removed).
    bad_primary_id: Option<(usize, Option<serde_json::Value>)>,
}

#[derive(Debug, Default)]
struct Inner {
    knobs: Mutex<Knobs>,
    revoked_generation: AtomicU64,
}

/// Cheap clone handle on the emulator's fault settings.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

/// What to do with the k-th Web API request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Serve,
    Drop,
    Throttle { retry_after_secs: u64 },
    Fail { status: u16 },
}

impl Faults {
    fn knobs(&self) -> std::sync::MutexGuard<'_, Knobs> {
        self.inner.knobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Delay before every Web API reply.
    pub fn set_latency(&self, latency: Duration) {
        self.knobs().latency = latency;
    }

    /// Every `n`-th Web API request gets 429 with `Retry-After: retry_after_secs`.
    pub fn throttle_every(&self, n: u64, retry_after_secs: u64) {
        self.knobs().throttle = (n > 0).then_some((n, retry_after_secs));
    }

    /// Every `n`-th Web API request fails with `status` (e.g. 500, 503).
    pub fn fail_every(&self, n: u64, status: u16) {
        self.knobs().fail = (n > 0).then_some((n, status));
    }

    /// Every `n`-th Web API request has its connection closed without a reply.
    pub fn drop_every(&self, n: u64) {
        self.knobs().drop = (n > 0).then_some(n);
    }

    /// Access tokens issued from now on expire after `secs` (`expires_in`); 0 = already expired.
    pub fn token_lifetime(&self, secs: u64) {
        self.knobs().token_lifetime = Some(secs);
    }

    /// Every `n`-th page of records (entity set query) is answered with invalid JSON.
    pub fn malformed_page_every(&self, n: u64) {
        self.knobs().malformed = (n > 0).then_some(n);
    }

    /// With `true`, FetchXML queries with a `gt`, `ge`, `lt` or `le` condition on the
    /// entity's primary id (at any depth of its filters) are refused with 400 and
    /// `0x80040203` ("The operator 'gt' is not valid for attribute 'contactid' ..."), as an
    /// organization that does not allow keyset paging on the primary id answers; paging
    /// cookies still work.
    pub fn refuse_primary_id_ranges(&self, on: bool) {
        self.knobs().refuse_primary_id_ranges = on;
    }

    /// In every FetchXML page, the record at 0-based `position` (when the page has one)
    /// loses its primary id (`value` = `None`) or carries `value` instead (a non-GUID
    /// string, a number...). The other records and columns are untouched.
    pub fn bad_primary_id(&self, position: usize, value: Option<serde_json::Value>) {
        self.knobs().bad_primary_id = Some((position, value));
    }

    /// Revokes every refresh token issued so far.
    pub fn revoke_refresh_tokens(&self) {
        self.inner.revoked_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Turns every fault off (revocations stay in force).
    pub fn clear(&self) {
        *self.knobs() = Knobs::default();
    }

    pub(crate) fn latency(&self) -> Duration {
        self.knobs().latency
    }

    pub(crate) fn lifetime(&self) -> Option<u64> {
        self.knobs().token_lifetime
    }

    pub(crate) fn refuses_primary_id_ranges(&self) -> bool {
        self.knobs().refuse_primary_id_ranges
    }

    /// Applies [`Faults::bad_primary_id`] to a page's rows.
    pub(crate) fn spoil_primary_id(
        &self,
        rows: &mut [serde_json::Map<String, serde_json::Value>],
        primary_id: &str,
    ) {
        let Some((position, value)) = self.knobs().bad_primary_id.clone() else {
            return;
        };
        if let Some(row) = rows.get_mut(position) {
            match value {
                None => {
                    row.remove(primary_id);
                }
                Some(v) => {
                    row.insert(primary_id.to_owned(), v);
                }
            }
        }
    }

    pub(crate) fn revocation_generation(&self) -> u64 {
        self.inner.revoked_generation.load(Ordering::SeqCst)
    }

    /// Decision for the k-th (1-based) Web API request.
    pub(crate) fn action(&self, k: u64) -> Action {
        let knobs = self.knobs().clone();
        if knobs.drop.is_some_and(|n| k.is_multiple_of(n)) {
            return Action::Drop;
        }
        if let Some((n, secs)) = knobs.throttle
            && k.is_multiple_of(n)
        {
            return Action::Throttle {
                retry_after_secs: secs,
            };
        }
        if let Some((n, status)) = knobs.fail
            && k.is_multiple_of(n)
        {
            return Action::Fail { status };
        }
        Action::Serve
    }

    /// Whether the p-th (1-based) page of records is to be malformed.
    pub(crate) fn malformed(&self, p: u64) -> bool {
        self.knobs().malformed.is_some_and(|n| p.is_multiple_of(n))
    }
}

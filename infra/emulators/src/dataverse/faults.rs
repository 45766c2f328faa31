//! Fault knobs: latency, throttling (429 + `Retry-After`), 5xx failures, dropped
//! connections, malformed pages, records with a missing or bad primary id, an organization
//! that refuses range conditions on the primary id, and short-lived tokens. Setters take
//! effect at once. Service protection limits and `x-ms-dop-hint` are in `protection.rs`.
//!
//! "Every n" knobs count Web API requests (token calls are not counted); the k-th request
//! is hit when k is a multiple of n.
//!
//! For the fault matrix: a few requests slowed past a client's timeout (`slow_requests`),
//! 429s without `Retry-After` (`throttle_without_retry_after_every`), pages whose `value`
//! holds no records (`wrong_types_page_every`), a record column of the wrong type
//! (`wrong_type_field`), an access token that was valid refused from one request on
//! (`revoke_next_access_token`), and a count of access tokens issued (`tokens_issued`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::protection::Protection;

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
    /// Requests still to pass at the normal speed, requests still to slow, and by how much.
    slow: Option<(u64, u64, Duration)>,
    /// Every n-th dispatched request gets 429 without `Retry-After`.
    bare_throttle: Option<u64>,
    /// Every n-th page of records has a `value` of non-objects.
    wrong_types: Option<u64>,
    /// Position in each FetchXML page, column, and the value it carries instead.
    wrong_type_field: Option<(usize, String, serde_json::Value)>,
    /// Requests carrying an access token still to pass before one revokes its token.
    revoke_token_in: Option<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    knobs: Mutex<Knobs>,
    revoked_generation: AtomicU64,
    /// Access tokens refused although they have not expired.
    revoked_access: Mutex<HashSet<String>>,
    tokens_issued: AtomicU64,
    /// Requests seen by [`Faults::injected`] (`$batch` inner requests included).
    dispatched: AtomicU64,
    /// Service protection limits, the dop hint and their observables (`protection.rs`).
    protection: Protection,
}

/// A fault decided after the bearer check (see [`Faults::injected`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Injected {
    /// 429 with the service-protection code and no `Retry-After`.
    BareThrottle,
    /// 401: the access token was revoked.
    RevokedToken,
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

    pub(super) fn protection(&self) -> &Protection {
        &self.inner.protection
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

    /// Of the Web API requests from now on, the first `skip` are served at the normal
    /// speed and the `n` after them are each delayed by `latency` more (on top of
    /// [`Faults::set_latency`]); later ones are not. With a `latency` past a client's
    /// timeout, exactly those `n` requests time out.
    pub fn slow_requests(&self, skip: u64, n: u64, latency: Duration) {
        self.knobs().slow = (n > 0).then_some((skip, n, latency));
    }

    /// The next `n` Web API requests are each delayed by `latency` more.
    pub fn slow_next(&self, n: u64, latency: Duration) {
        self.slow_requests(0, n, latency);
    }

    /// Every `n`-th request (counted after the bearer check, `$batch` inner requests
    /// included) gets 429 with the service-protection code `0x80072322` and no
    /// `Retry-After` header, so the client's own backoff decides the wait.
    pub fn throttle_without_retry_after_every(&self, n: u64) {
        self.knobs().bare_throttle = (n > 0).then_some(n);
    }

    /// Every `n`-th page of records (counted as [`Faults::malformed_page_every`] counts)
    /// is valid JSON whose `value` holds the records' primary ids as strings instead of
    /// record objects (a page with wrong types in `value`).
    pub fn wrong_types_page_every(&self, n: u64) {
        self.knobs().wrong_types = (n > 0).then_some(n);
    }

    /// In every FetchXML page, the record at 0-based `position` (when the page has one)
    /// carries `value` in column `field` (e.g. a number where a string is expected).
    pub fn wrong_type_field(&self, position: usize, field: &str, value: serde_json::Value) {
        self.knobs().wrong_type_field = Some((position, field.to_owned(), value));
    }

    /// Of the Web API requests from now on that carry an access token, the first `skip`
    /// pass and the next one revokes its token: that request and every later one with
    /// the same token get 401 as for an invalid token, although it has not expired;
    /// tokens issued afterwards work. Revocations survive [`Faults::clear`].
    pub fn revoke_access_token_after(&self, skip: u64) {
        self.knobs().revoke_token_in = Some(skip);
    }

    /// [`Faults::revoke_access_token_after`] the next request.
    pub fn revoke_next_access_token(&self) {
        self.revoke_access_token_after(0);
    }

    /// Access tokens issued so far (all grants).
    pub fn tokens_issued(&self) -> u64 {
        self.inner.tokens_issued.load(Ordering::SeqCst)
    }

    /// Turns every fault off, service protection and the dop hint included (revocations
    /// and counters stay).
    pub fn clear(&self) {
        *self.knobs() = Knobs::default();
        self.inner.protection.clear();
    }

    /// The delay before one Web API request's reply (asked once per request): the base
    /// latency, plus the [`Faults::slow_requests`] delay when this request is one of those.
    pub(crate) fn latency(&self) -> Duration {
        let mut knobs = self.knobs();
        let mut latency = knobs.latency;
        if let Some((skip, n, extra)) = knobs.slow {
            if skip > 0 {
                knobs.slow = Some((skip - 1, n, extra));
            } else {
                latency += extra;
                knobs.slow = (n > 1).then_some((0, n - 1, extra));
            }
        }
        latency
    }

    /// The lifetime of an access token being issued (asked once per token issued).
    pub(crate) fn lifetime(&self) -> Option<u64> {
        self.inner.tokens_issued.fetch_add(1, Ordering::SeqCst);
        self.knobs().token_lifetime
    }

    /// The fault for a request that passed the bearer check, given its headers: a revoked
    /// access token, or a bare 429.
    pub(crate) fn injected(&self, authorization: Option<&str>) -> Option<Injected> {
        let token = authorization
            .and_then(|raw| raw.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if let Some(token) = token {
            let revoke = {
                let mut knobs = self.knobs();
                match knobs.revoke_token_in {
                    Some(0) => {
                        knobs.revoke_token_in = None;
                        true
                    }
                    Some(left) => {
                        knobs.revoke_token_in = Some(left - 1);
                        false
                    }
                    None => false,
                }
            };
            let mut revoked = self
                .inner
                .revoked_access
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if revoke {
                revoked.insert(token.to_owned());
            }
            if revoked.contains(token) {
                return Some(Injected::RevokedToken);
            }
        }
        let k = self.inner.dispatched.fetch_add(1, Ordering::SeqCst) + 1;
        let bare = self.knobs().bare_throttle;
        bare.is_some_and(|n| k.is_multiple_of(n))
            .then_some(Injected::BareThrottle)
    }

    /// Whether the p-th (1-based) page of records is to hold wrong types in `value`.
    pub(crate) fn wrong_types(&self, p: u64) -> bool {
        self.knobs()
            .wrong_types
            .is_some_and(|n| p.is_multiple_of(n))
    }

    /// Applies [`Faults::wrong_type_field`] to a page's rows.
    pub(crate) fn spoil_field(&self, rows: &mut [serde_json::Map<String, serde_json::Value>]) {
        let Some((position, field, value)) = self.knobs().wrong_type_field.clone() else {
            return;
        };
        if let Some(row) = rows.get_mut(position) {
            row.insert(field, value);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_requests_delays_exactly_the_chosen_requests() {
        let faults = Faults::default();
        faults.set_latency(Duration::from_millis(5));
        faults.slow_requests(2, 2, Duration::from_millis(100));
        let delays: Vec<u128> = (0..6).map(|_| faults.latency().as_millis()).collect();
        assert_eq!(delays, [5, 5, 105, 105, 5, 5]);
        faults.slow_next(1, Duration::from_millis(10));
        assert_eq!(faults.latency(), Duration::from_millis(15));
        assert_eq!(faults.latency(), Duration::from_millis(5));
    }

    #[test]
    fn a_revoked_access_token_stays_refused_and_other_tokens_pass() {
        let faults = Faults::default();
        faults.revoke_access_token_after(1);
        assert_eq!(faults.injected(Some("Bearer a")), None);
        assert_eq!(
            faults.injected(Some("Bearer a")),
            Some(Injected::RevokedToken)
        );
        assert_eq!(faults.injected(Some("Bearer b")), None);
        faults.clear();
        assert_eq!(
            faults.injected(Some("Bearer a")),
            Some(Injected::RevokedToken)
        );
        assert_eq!(faults.injected(None), None, "$batch inner requests");
    }

    #[test]
    fn bare_throttling_hits_every_nth_request_and_tokens_are_counted() {
        let faults = Faults::default();
        faults.throttle_without_retry_after_every(2);
        let hits: Vec<bool> = (0..4)
            .map(|_| faults.injected(Some("Bearer t")).is_some())
            .collect();
        assert_eq!(hits, [false, true, false, true]);
        assert_eq!(faults.tokens_issued(), 0);
        faults.lifetime();
        faults.lifetime();
        assert_eq!(faults.tokens_issued(), 2);
    }

    #[test]
    fn spoiled_fields_and_wrong_type_pages() {
        let faults = Faults::default();
        faults.wrong_type_field(1, "emailaddress1", serde_json::json!(12345));
        let mut rows = vec![serde_json::Map::new(), serde_json::Map::new()];
        faults.spoil_field(&mut rows);
        assert!(rows[0].is_empty());
        assert_eq!(rows[1]["emailaddress1"], 12345);
        faults.wrong_types_page_every(2);
        assert_eq!(
            (1..=4).map(|p| faults.wrong_types(p)).collect::<Vec<_>>(),
            [false, true, false, true]
        );
    }
}

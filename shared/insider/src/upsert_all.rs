//! Sending a whole set of users: split into batches by `dynsync_mapping::batch::split`, sent
//! one after the other, with the guide's "Fast Fail on Upsert Error": when set, the sync
//! stops at the first failed batch (a batch fails when its request fails or any user in it
//! is rejected). Whatever the setting, sending stops at a credential error (401, 403,
//! invalid partner), since every further batch would fail the same way. Every user ends
//! accepted, failed (with a reason) or not sent; a user Insider did not confirm (it reported
//! rejections without saying which users) is failed, as the engine counts it.

use std::ops::Range;

use dynsync_domain::InsiderUser;
use dynsync_domain::ports::UserFailure;
use dynsync_mapping::batch;

use crate::client::InsiderClient;
use crate::error::InsiderError;

/// What became of the users given to [`InsiderClient::upsert_all`].
#[derive(Debug, Default)]
pub struct UpsertReport {
    /// Users Insider accepted.
    pub accepted: u64,
    /// Users rejected, by index in the slice given, with reasons.
    pub failures: Vec<UserFailure>,
    /// Batches processed, each one request (retried as needed); a lone user too large for
    /// any request is a batch failed without a request.
    pub batches: usize,
    /// Users never sent because sending stopped early (empty when all were sent).
    pub not_sent: Range<usize>,
    /// The first batch-level error, if any.
    pub error: Option<InsiderError>,
}

impl UpsertReport {
    /// Whether sending stopped before every user was sent.
    pub fn stopped_early(&self) -> bool {
        !self.not_sent.is_empty()
    }
}

impl InsiderClient {
    /// Upserts `users` in as many batches as the limits require.
    pub async fn upsert_all(
        &self,
        users: &[InsiderUser],
        skip_hook: bool,
        fast_fail: bool,
    ) -> UpsertReport {
        let mut report = UpsertReport::default();
        let ranges = batch::split(users, skip_hook);
        for range in ranges {
            let Some(slice) = users.get(range.clone()) else {
                continue;
            };
            report.batches += 1;
            let failed = match self.send_batch(slice, skip_hook).await {
                Ok(outcome) => {
                    // As the engine counts: users Insider did not confirm are failed.
                    let failed = outcome.failed_users(slice.len());
                    report.accepted += slice.len().saturating_sub(failed.len()) as u64;
                    let any_failed = !failed.is_empty();
                    report
                        .failures
                        .extend(failed.into_iter().map(|(index, reason)| UserFailure {
                            index: range.start + index,
                            reason,
                        }));
                    any_failed
                }
                Err(error) => {
                    tracing::warn!(users = slice.len(), error = %error, "insider batch failed");
                    let reason = error.to_string();
                    report
                        .failures
                        .extend(range.clone().map(|index| UserFailure {
                            index,
                            reason: reason.clone(),
                        }));
                    let credentials = error.is_credential_error();
                    report.error.get_or_insert(error);
                    if credentials {
                        report.not_sent = range.end..users.len();
                        return report;
                    }
                    true
                }
            };
            if failed && fast_fail {
                report.not_sent = range.end..users.len();
                return report;
            }
        }
        report
    }
}

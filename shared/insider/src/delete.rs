//! Deleting users' profiles (`removals: delete_profile`, API-FACTS.md 1.4): Insider's Delete
//! User Profile API takes one user per request (`POST /api/user/v1/delete` with
//! `{"identifiers": {...}}`) and 10,000 requests a minute, so [`InsiderClient::delete_all`]
//! sends one request per user, at most [`DELETE_CONCURRENCY`] in flight.
//!
//! Each request goes through the client's retry loop: 429 (honouring `Retry-After`), 5xx,
//! timeouts and connection errors are retried with the shared `RetryPolicy`, never longer
//! than `MAX_WAIT`, never past the invocation's deadline; a 401 re-reads the token secret
//! once, as upserts do.
//!
//! Outcomes: `200` deletes the user; `404` ("no such user for these identifiers") means
//! Insider does not know the user, which is counted deleted (nothing of it is left); another
//! 4xx fails that user alone, by index, with Insider's message. A credential error (401,
//! 403, invalid partner) fails the whole call: no other user could be deleted either. A
//! transient failure that outlasts the retries (or a wait that would outlive the
//! invocation) also fails the whole call, as a transient error, so the caller retries it
//! later: deleting is idempotent (a user deleted by the first try is unknown, so deleted,
//! on the second). Once a call fails, no further request is started.
//!
//! Users' identifiers are personal data: they are sent, never logged or put in reasons.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use dynsync_domain::InsiderUser;
use dynsync_domain::ports::{DeleteOutcome, UserFailure};
use reqwest::StatusCode;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::client::{InsiderClient, classify};
use crate::error::InsiderError;
use crate::reply::error_message;

/// Delete requests in flight at once.
pub const DELETE_CONCURRENCY: usize = 16;

/// What one delete request came to.
enum Deleted {
    /// Deleted, or unknown to Insider.
    Gone,
    /// Refused for this user alone.
    Failed(String),
}

impl InsiderClient {
    /// Deletes the profiles of `users` (each named by its identifiers), one request per
    /// user, [`DELETE_CONCURRENCY`] at a time; see the module comment for the outcomes.
    pub async fn delete_all(&self, users: &[InsiderUser]) -> Result<DeleteOutcome, InsiderError> {
        let mut failures = Vec::new();
        let mut bodies: Vec<(usize, Vec<u8>)> = Vec::with_capacity(users.len());
        for (index, user) in users.iter().enumerate() {
            if user.identifiers.is_empty() {
                failures.push(UserFailure {
                    index,
                    reason: "the user has no identifier to delete it by; map the primary id to \
                             uuid or to a custom identifier"
                        .to_owned(),
                });
                continue;
            }
            match serde_json::to_vec(&serde_json::json!({ "identifiers": user.identifiers })) {
                Ok(body) => bodies.push((index, body)),
                Err(e) => failures.push(UserFailure {
                    index,
                    reason: format!("the user's identifiers cannot be written as JSON ({e})"),
                }),
            }
        }
        let work = Arc::new(Work {
            bodies,
            next: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            fatal: Mutex::new(None),
            results: Mutex::new(Vec::new()),
        });
        let workers = DELETE_CONCURRENCY.min(work.bodies.len());
        let mut set = JoinSet::new();
        for _ in 0..workers {
            let client = self.clone();
            let work = Arc::clone(&work);
            set.spawn(async move { client.delete_worker(&work).await });
        }
        while let Some(joined) = set.join_next().await {
            if let Err(e) = joined {
                work.stop.store(true, Ordering::SeqCst);
                return Err(InsiderError::BadReply {
                    reason: format!("a delete task ended abnormally ({e})"),
                });
            }
        }
        if let Some(error) = work.fatal.lock().await.take() {
            return Err(error);
        }
        let mut deleted = 0u64;
        for (index, result) in work.results.lock().await.drain(..) {
            match result {
                Deleted::Gone => deleted += 1,
                Deleted::Failed(reason) => failures.push(UserFailure { index, reason }),
            }
        }
        failures.sort_by_key(|f| f.index);
        tracing::debug!(
            users = users.len(),
            deleted,
            failed = failures.len(),
            "insider users deleted"
        );
        Ok(DeleteOutcome { deleted, failures })
    }

    /// Takes requests from `work` until none are left or the call failed.
    async fn delete_worker(&self, work: &Work) {
        while !work.stop.load(Ordering::SeqCst) {
            let i = work.next.fetch_add(1, Ordering::SeqCst);
            let Some((index, body)) = work.bodies.get(i) else {
                return;
            };
            match self.delete_one(body.clone()).await {
                Ok(result) => work.results.lock().await.push((*index, result)),
                Err(error) => {
                    work.stop.store(true, Ordering::SeqCst);
                    let mut fatal = work.fatal.lock().await;
                    if fatal.is_none() {
                        *fatal = Some(error);
                    }
                    return;
                }
            }
        }
    }

    /// One delete request: the user's fate, or the error that ends the call.
    async fn delete_one(&self, body: Vec<u8>) -> Result<Deleted, InsiderError> {
        let url = self.delete_url().clone();
        let (status, reply) = self.post_authorised_to(&url, body).await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(Deleted::Gone);
        }
        let error = classify(status, &reply, 0);
        if error.is_credential_error() {
            return Err(error);
        }
        let message = error_message(&reply);
        Ok(Deleted::Failed(format!(
            "Insider refused to delete the user ({}): {message}",
            status.as_u16()
        )))
    }
}

/// The requests of one call, shared by its workers.
struct Work {
    bodies: Vec<(usize, Vec<u8>)>,
    next: AtomicUsize,
    stop: AtomicBool,
    fatal: Mutex<Option<InsiderError>>,
    results: Mutex<Vec<(usize, Deleted)>>,
}

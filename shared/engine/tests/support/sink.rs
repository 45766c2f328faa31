//! An Insider-like sink: accepts users, rejects chosen ones (by email or by index in the
//! batch) with a reason as Insider's partial failures do, fails whole calls transiently or
//! permanently on demand, and counts what it received so tests can prove nothing was
//! sent twice. It deletes users too (Insider's delete endpoint), counting each delete by
//! the user's uuid or custom identifier, and can refuse chosen deletes.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use dynsync_domain::InsiderUser;
use dynsync_domain::ports::{BatchOutcome, DeleteOutcome, PortError, UserFailure, UserSink};

/// Run after a call was answered, with its 1-based number.
pub type AfterCall = Arc<dyn Fn(u32) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

#[derive(Default)]
pub struct FakeSink {
    inner: Mutex<State>,
    after_call: Mutex<Option<AfterCall>>,
}

#[derive(Default)]
struct State {
    reject_emails: HashSet<String>,
    reject_index: Option<usize>,
    transient_failures: u32,
    transient_calls: HashSet<u32>,
    permanent_error: Option<String>,
    calls: u32,
    batch_sizes: Vec<usize>,
    /// Accepted users by email: how many times each was accepted, and events received.
    accepted: BTreeMap<String, u32>,
    events: BTreeMap<String, u32>,
    /// Every user accepted, as sent.
    received: Vec<InsiderUser>,
    /// Deletes by the user's key (uuid or custom identifier value): how many times.
    deleted: BTreeMap<String, u32>,
    delete_calls: u32,
    refuse_delete: HashSet<String>,
}

/// The key a user is counted under: the email, else the uuid, else a custom identifier.
pub fn user_key(user: &InsiderUser) -> String {
    let ids = &user.identifiers;
    ids.email
        .clone()
        .or_else(|| ids.uuid.clone())
        .or_else(|| ids.custom.values().next().cloned())
        .unwrap_or_default()
}

impl FakeSink {
    pub fn reject_email(&self, email: &str) {
        self.inner
            .lock()
            .unwrap()
            .reject_emails
            .insert(email.to_owned());
    }

    /// Rejects the user at `index` of every batch.
    pub fn reject_index(&self, index: usize) {
        self.inner.lock().unwrap().reject_index = Some(index);
    }

    /// The next `n` calls fail with a transient error (nothing is stored).
    pub fn fail_next_transiently(&self, n: u32) {
        self.inner.lock().unwrap().transient_failures = n;
    }

    /// Call number `call` (1-based) fails with a transient error.
    pub fn fail_call(&self, call: u32) {
        self.inner.lock().unwrap().transient_calls.insert(call);
    }

    pub fn fail_permanently(&self, message: &str) {
        self.inner.lock().unwrap().permanent_error = Some(message.to_owned());
    }

    pub fn heal(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.permanent_error = None;
        inner.transient_failures = 0;
    }

    /// Runs `hook` after each answered call (before the engine sees the answer).
    pub fn after_call(&self, hook: AfterCall) {
        *self.after_call.lock().unwrap() = Some(hook);
    }

    /// Deleting the user with this key fails (a per-user failure).
    pub fn refuse_delete(&self, key: &str) {
        self.inner
            .lock()
            .unwrap()
            .refuse_delete
            .insert(key.to_owned());
    }

    /// How many times each user (by uuid or custom identifier) was deleted.
    pub fn deleted(&self) -> BTreeMap<String, u32> {
        self.inner.lock().unwrap().deleted.clone()
    }

    /// Delete requests answered (one per user, as Insider's endpoint takes).
    pub fn delete_calls(&self) -> u32 {
        self.inner.lock().unwrap().delete_calls
    }

    /// Every user accepted by an upsert, as sent.
    pub fn received(&self) -> Vec<InsiderUser> {
        self.inner.lock().unwrap().received.clone()
    }

    pub fn calls(&self) -> u32 {
        self.inner.lock().unwrap().calls
    }

    pub fn batch_sizes(&self) -> Vec<usize> {
        self.inner.lock().unwrap().batch_sizes.clone()
    }

    /// Accepted users (distinct emails).
    pub fn accepted_users(&self) -> usize {
        self.inner.lock().unwrap().accepted.len()
    }

    /// How many times each email was accepted.
    pub fn accepted(&self) -> BTreeMap<String, u32> {
        self.inner.lock().unwrap().accepted.clone()
    }

    pub fn total_events(&self) -> u64 {
        self.inner
            .lock()
            .unwrap()
            .events
            .values()
            .map(|n| u64::from(*n))
            .sum()
    }

    /// The largest number of events any one user received.
    pub fn max_events_per_user(&self) -> u32 {
        self.inner
            .lock()
            .unwrap()
            .events
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }
}

impl FakeSink {
    /// The answer to a call, and the call's number.
    fn answer(&self, users: &[InsiderUser]) -> Result<(u32, BatchOutcome), PortError> {
        let mut inner = self.inner.lock().unwrap();
        inner.calls += 1;
        let call = inner.calls;
        if inner.transient_calls.remove(&call) {
            return Err(PortError::transient("Insider answered 500 after retries"));
        }
        if inner.transient_failures > 0 {
            inner.transient_failures -= 1;
            return Err(PortError::transient("Insider answered 503 after retries"));
        }
        if let Some(message) = inner.permanent_error.clone() {
            return Err(PortError::permanent(message));
        }
        inner.batch_sizes.push(users.len());
        let mut outcome = BatchOutcome::default();
        for (index, user) in users.iter().enumerate() {
            let email = user_key(user);
            if inner.reject_emails.contains(&email) || inner.reject_index == Some(index) {
                outcome.failures.push(UserFailure {
                    index,
                    reason: "users.0.identifiers.email: invalid email".into(),
                });
                continue;
            }
            outcome.accepted += 1;
            inner.received.push(user.clone());
            *inner.accepted.entry(email.clone()).or_default() += 1;
            *inner.events.entry(email).or_default() += user.events.len() as u32;
        }
        Ok((call, outcome))
    }
}

#[async_trait::async_trait]
impl UserSink for FakeSink {
    async fn upsert(
        &self,
        users: &[InsiderUser],
        _skip_hook: bool,
    ) -> Result<BatchOutcome, PortError> {
        let (call, outcome) = self.answer(users)?;
        let hook = self.after_call.lock().unwrap().clone();
        if let Some(hook) = hook {
            hook(call).await;
        }
        Ok(outcome)
    }

    async fn delete_users(&self, users: &[InsiderUser]) -> Result<DeleteOutcome, PortError> {
        let call = {
            let mut inner = self.inner.lock().unwrap();
            inner.calls += 1;
            let call = inner.calls;
            if inner.transient_calls.remove(&call) {
                return Err(PortError::transient("Insider answered 500 after retries"));
            }
            if inner.transient_failures > 0 {
                inner.transient_failures -= 1;
                return Err(PortError::transient("Insider answered 503 after retries"));
            }
            if let Some(message) = inner.permanent_error.clone() {
                return Err(PortError::permanent(message));
            }
            call
        };
        let mut outcome = DeleteOutcome::default();
        {
            let mut inner = self.inner.lock().unwrap();
            for (index, user) in users.iter().enumerate() {
                inner.delete_calls += 1;
                let key = user_key(user);
                if inner.refuse_delete.contains(&key) {
                    outcome.failures.push(UserFailure {
                        index,
                        reason: "Insider answered 400: the user cannot be deleted".into(),
                    });
                    continue;
                }
                outcome.deleted += 1;
                *inner.deleted.entry(key).or_default() += 1;
            }
        }
        let hook = self.after_call.lock().unwrap().clone();
        if let Some(hook) = hook {
            hook(call).await;
        }
        Ok(outcome)
    }
}

//! The secret store on AWS Secrets Manager, with a per-process cache.
//!
//! `get` reads a secret at most once per cache TTL (5 minutes by default) per process: a
//! warm Lambda container does not call Secrets Manager per page.
//!
//! `put` keeps rotated refresh tokens. AWS advises against calling `PutSecretValue` more
//! than about once every 10 minutes per secret, and Entra rotates the refresh token on every
//! token refresh. So a `put` writes only when the value changed, and at most once per
//! write interval (10 minutes) per secret and process. A rotation inside the interval is
//! *deferred*: the newest value stays in this process's cache (its `get` returns it) and is
//! written at the next opportunity — the next `get`/`put` of that secret after the interval,
//! or [`SecretsManagerSecretStore::flush_due`] (the Lambda handlers call it at the end of an
//! invocation) or [`SecretsManagerSecretStore::flush`] (writes all deferred values at once:
//! the CLI calls it before exiting).
//!
//! The trade-off: if a container is frozen and never thawed while holding a deferred value,
//! that value is lost. That costs nothing: Entra does not revoke the previous refresh token
//! when it issues a new one, so the value in Secrets Manager (at most one interval older)
//! still works and is simply rotated again by its next use. A failed write is kept the same
//! way and retried at the next opportunity; nothing is dropped while the process lives.
//!
//! Values never appear in logs or errors. IAM (resource: the secrets, `<prefix>*`):
//! `secretsmanager:GetSecretValue`, `secretsmanager:PutSecretValue`, and
//! `secretsmanager:CreateSecret` for a `put` of a secret that does not exist yet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueError;
use chrono::{DateTime, Utc};
use dynsync_domain::ErrorKind;
use dynsync_domain::ports::{Clock, Secret, SecretError, SecretStore, SystemClock};

use crate::error::AwsError;

/// How long a read value is served from the cache.
pub const DEFAULT_CACHE_TTL: chrono::Duration = chrono::Duration::minutes(5);
/// The shortest time between two writes of one secret by one process.
pub const DEFAULT_WRITE_INTERVAL: chrono::Duration = chrono::Duration::minutes(10);

struct Entry {
    value: Secret,
    fetched_at: DateTime<Utc>,
    /// When this process last wrote (or began writing) the secret.
    last_written: Option<DateTime<Utc>>,
    /// `value` is newer than what Secrets Manager holds and must still be written.
    pending: bool,
}

/// The secret store port on AWS Secrets Manager.
pub struct SecretsManagerSecretStore {
    client: aws_sdk_secretsmanager::Client,
    prefix: String,
    clock: Arc<dyn Clock>,
    cache_ttl: chrono::Duration,
    write_interval: chrono::Duration,
    cache: Mutex<HashMap<String, Entry>>,
}

impl SecretsManagerSecretStore {
    /// A store whose secret `NAME` is the Secrets Manager secret `<prefix>NAME`.
    pub fn new(config: &SdkConfig, prefix: Option<String>) -> Self {
        Self::from_client(aws_sdk_secretsmanager::Client::new(config), prefix)
    }

    pub fn from_client(client: aws_sdk_secretsmanager::Client, prefix: Option<String>) -> Self {
        Self {
            client,
            prefix: prefix.unwrap_or_default(),
            clock: Arc::new(SystemClock),
            cache_ttl: DEFAULT_CACHE_TTL,
            write_interval: DEFAULT_WRITE_INTERVAL,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Judges cache age and write intervals by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The Secrets Manager name of secret `name`.
    pub fn secret_id(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Writes every deferred value whose write interval has passed.
    pub async fn flush_due(&self) -> Result<(), SecretError> {
        self.flush_where(true).await
    }

    /// Writes every deferred value now, interval or not (before a process exits).
    pub async fn flush(&self) -> Result<(), SecretError> {
        self.flush_where(false).await
    }

    async fn flush_where(&self, only_due: bool) -> Result<(), SecretError> {
        let now = self.clock.now();
        let names: Vec<String> = self
            .cache()
            .iter()
            .filter(|(_, e)| e.pending && (!only_due || self.due(e, now)))
            .map(|(name, _)| name.clone())
            .collect();
        let mut first_error = None;
        for name in names {
            if let Err(error) = self.write_pending(&name).await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Whether the entry may be written now.
    fn due(&self, entry: &Entry, now: DateTime<Utc>) -> bool {
        entry
            .last_written
            .is_none_or(|at| now - at >= self.write_interval)
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the entry's pending value, reserving the write slot first so that concurrent
    /// callers defer instead of writing too.
    async fn write_pending(&self, name: &str) -> Result<(), SecretError> {
        let now = self.clock.now();
        let (value, previous) = {
            let mut cache = self.cache();
            let Some(entry) = cache.get_mut(name).filter(|e| e.pending) else {
                return Ok(());
            };
            let previous = entry.last_written.replace(now);
            (entry.value.clone(), previous)
        };
        let result = self.write(name, &value).await;
        let mut cache = self.cache();
        if let Some(entry) = cache.get_mut(name) {
            match &result {
                Ok(()) if entry.value == value => entry.pending = false,
                Ok(()) => {}
                // Kept pending; due again at once.
                Err(_) => entry.last_written = previous,
            }
        }
        result
    }

    async fn write(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        let id = self.secret_id(name);
        let resource = format!("secret '{id}'");
        let result = self
            .client
            .put_secret_value()
            .secret_id(&id)
            .secret_string(value.expose())
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::info!(secret = %id, "secret value written");
                Ok(())
            }
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutSecretValueError::ResourceNotFoundException(_))
                ) =>
            {
                self.client
                    .create_secret()
                    .name(&id)
                    .secret_string(value.expose())
                    .send()
                    .await
                    .map_err(|e| {
                        store_error(
                            name,
                            AwsError::from_sdk("secretsmanager:CreateSecret", &resource, e),
                        )
                    })?;
                tracing::info!(secret = %id, "secret created");
                Ok(())
            }
            Err(e) => Err(store_error(
                name,
                AwsError::from_sdk("secretsmanager:PutSecretValue", &resource, e),
            )),
        }
    }

    async fn fetch(&self, name: &str) -> Result<Secret, SecretError> {
        let id = self.secret_id(name);
        let resource = format!("secret '{id}'");
        let out = self
            .client
            .get_secret_value()
            .secret_id(&id)
            .send()
            .await
            .map_err(|e| {
                let error = AwsError::from_sdk("secretsmanager:GetSecretValue", &resource, e);
                if matches!(error, AwsError::NotFound { .. }) {
                    SecretError::NotFound {
                        name: name.to_owned(),
                        hint: format!(
                            "there is no secret '{id}' in AWS Secrets Manager; create it with \
                             `aws secretsmanager create-secret --name {id} --secret-string '<value>'`"
                        ),
                    }
                } else {
                    store_error(name, error)
                }
            })?;
        match out.secret_string {
            Some(value) => Ok(Secret::new(value)),
            None => Err(SecretError::Store {
                name: name.to_owned(),
                message: format!(
                    "{resource} holds a binary value; store it as a string (--secret-string)"
                ),
                kind: ErrorKind::Permanent,
            }),
        }
    }
}

fn store_error(name: &str, error: AwsError) -> SecretError {
    SecretError::Store {
        name: name.to_owned(),
        kind: error.kind(),
        message: error.to_string(),
    }
}

#[async_trait::async_trait]
impl SecretStore for SecretsManagerSecretStore {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        let now = self.clock.now();
        let cached = self.cache().get(name).map(|e| {
            let fresh = now - e.fetched_at < self.cache_ttl;
            (e.value.clone(), e.pending, self.due(e, now), fresh)
        });
        match cached {
            Some((value, true, due, _)) => {
                if due && let Err(error) = self.write_pending(name).await {
                    tracing::warn!(
                        secret = %self.secret_id(name),
                        error = %error,
                        "deferred secret write failed; kept for the next attempt"
                    );
                }
                // A deferred value is newer than the stored one.
                return Ok(value);
            }
            Some((value, false, _, true)) => return Ok(value),
            _ => {}
        }
        let value = self.fetch(name).await?;
        let mut cache = self.cache();
        let entry = cache.entry(name.to_owned()).or_insert_with(|| Entry {
            value: value.clone(),
            fetched_at: now,
            last_written: None,
            pending: false,
        });
        entry.fetched_at = now;
        if !entry.pending {
            entry.value = value;
        }
        Ok(entry.value.clone())
    }

    async fn get_fresh(&self, name: &str) -> Result<Secret, SecretError> {
        // A value of ours not yet written is newer than the stored one: keep it; any other
        // cached value is read again.
        self.cache()
            .retain(|cached, entry| cached != name || entry.pending);
        self.get(name).await
    }

    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        let now = self.clock.now();
        let write_now = {
            let mut cache = self.cache();
            match cache.get_mut(name) {
                Some(entry) if entry.value == *value => return Ok(()),
                Some(entry) => {
                    entry.value = value.clone();
                    entry.fetched_at = now;
                    entry.pending = true;
                    self.due(entry, now)
                }
                None => {
                    cache.insert(
                        name.to_owned(),
                        Entry {
                            value: value.clone(),
                            fetched_at: now,
                            last_written: None,
                            pending: true,
                        },
                    );
                    true
                }
            }
        };
        if !write_now {
            tracing::info!(secret = %self.secret_id(name), "secret changed again within the write interval; write deferred");
            return Ok(());
        }
        match self.write_pending(name).await {
            Err(error) if error.kind() == ErrorKind::Transient => {
                tracing::warn!(secret = %self.secret_id(name), error = %error, "secret write failed; kept in memory for the next attempt");
                Ok(())
            }
            other => other,
        }
    }
}

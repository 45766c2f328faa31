//! An in-memory secret store: names to values, for tests and embedded use.

use std::collections::HashMap;
use std::sync::Mutex;

use dynsync_domain::ports::{Secret, SecretError, SecretStore};

#[derive(Debug, Default)]
pub struct MemorySecretStore {
    values: Mutex<HashMap<String, Secret>>,
}

impl MemorySecretStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a secret; returns the store for chaining.
    pub fn with(self, name: &str, value: &str) -> Self {
        self.insert(name, value);
        self
    }

    pub fn insert(&self, name: &str, value: &str) {
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), Secret::new(value));
    }
}

#[async_trait::async_trait]
impl SecretStore for MemorySecretStore {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| SecretError::NotFound {
                name: name.to_owned(),
                hint: "the in-memory secret store has no secret of that name; add it first"
                    .to_owned(),
            })
    }

    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        self.values
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), value.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynsync_domain::ErrorKind;

    #[tokio::test]
    async fn a_stored_secret_comes_back_and_a_missing_one_is_a_permanent_not_found() {
        let store = MemorySecretStore::new().with("dynsync/insider", "token-1");
        let got = store
            .get("dynsync/insider")
            .await
            .map(|s| s.expose().to_owned());
        assert_eq!(got.ok().as_deref(), Some("token-1"));
        store
            .put("dynsync/insider", &Secret::new("token-2"))
            .await
            .ok();
        let got = store
            .get("dynsync/insider")
            .await
            .map(|s| s.expose().to_owned());
        assert_eq!(got.ok().as_deref(), Some("token-2"));
        let missing = store.get("nope").await;
        assert!(matches!(missing, Err(ref e) if e.kind() == ErrorKind::Permanent));
    }
}

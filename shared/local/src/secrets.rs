//! The local secret store (ARCHITECTURE.md section 3): a secret named `dynsync/insider` is
//! read from the environment variable `DYNSYNC_SECRET_DYNSYNC_INSIDER`, else from the state
//! folder's `secrets.json` (a JSON object from name to value, mode 0600). Writes (rotated
//! refresh tokens, `dynsync auth login`) go to `secrets.json`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dynsync_domain::ErrorKind;
use dynsync_domain::ports::{Secret, SecretError, SecretStore};

/// The environment variable that holds a secret locally.
pub fn env_var_name(secret_name: &str) -> String {
    let mut var = String::from("DYNSYNC_SECRET_");
    var.extend(secret_name.chars().map(|c| {
        let c = c.to_ascii_uppercase();
        if c.is_ascii_uppercase() || c.is_ascii_digit() {
            c
        } else {
            '_'
        }
    }));
    var
}

/// Environment first, then `<state dir>/secrets.json`.
#[derive(Debug)]
pub struct LocalSecretStore {
    file: PathBuf,
    /// Serialises read-modify-write of the file within this process.
    write_lock: Mutex<()>,
}

impl LocalSecretStore {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            file: state_dir.join("secrets.json"),
            write_lock: Mutex::new(()),
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    fn read_file(&self, name: &str) -> Result<BTreeMap<String, String>, SecretError> {
        let text = match fs::read_to_string(&self.file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.store_error(name, format!("cannot read: {e}"))),
        };
        // The parse error is not shown: it could quote a secret value.
        serde_json::from_str(&text).map_err(|_| {
            self.store_error(
                name,
                "is not a JSON object of secret name to string value".to_owned(),
            )
        })
    }

    fn store_error(&self, name: &str, problem: String) -> SecretError {
        SecretError::Store {
            name: name.to_owned(),
            message: format!("{} {problem}", self.file.display()),
            kind: ErrorKind::Permanent,
        }
    }
}

#[async_trait::async_trait]
impl SecretStore for LocalSecretStore {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        let var = env_var_name(name);
        if let Ok(value) = std::env::var(&var) {
            return Ok(Secret::new(value));
        }
        match self.read_file(name)?.remove(name) {
            Some(value) => Ok(Secret::new(value)),
            None => Err(SecretError::NotFound {
                name: name.to_owned(),
                hint: format!(
                    "set the environment variable {var} or add \"{name}\" to {}",
                    self.file.display()
                ),
            }),
        }
    }

    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        let _guard = self
            .write_lock
            .lock()
            .map_err(|_| self.store_error(name, "lock poisoned".to_owned()))?;
        let mut secrets = self.read_file(name)?;
        secrets.insert(name.to_owned(), value.expose().to_owned());
        let text = serde_json::to_string_pretty(&secrets)
            .map_err(|e| self.store_error(name, format!("cannot encode: {e}")))?;
        if let Some(dir) = self.file.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| self.store_error(name, format!("cannot create folder: {e}")))?;
        }
        // Write a private temporary file, then rename: the file is never half-written and
        // never readable by others.
        let tmp = self.file.with_extension("json.tmp");
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&tmp)
            .map_err(|e| self.store_error(name, format!("cannot write: {e}")))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| self.store_error(name, format!("cannot write: {e}")))?;
        fs::rename(&tmp, &self.file)
            .map_err(|e| self.store_error(name, format!("cannot replace: {e}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_names_upper_case_and_replace_other_characters() {
        assert_eq!(
            env_var_name("dynsync/insider"),
            "DYNSYNC_SECRET_DYNSYNC_INSIDER"
        );
        assert_eq!(
            env_var_name("dynsync/active-contacts/dynamics"),
            "DYNSYNC_SECRET_DYNSYNC_ACTIVE_CONTACTS_DYNAMICS"
        );
    }

    #[tokio::test]
    async fn put_then_get_round_trips_through_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSecretStore::new(dir.path());
        store
            .put("test/round-trip", &Secret::new("v1"))
            .await
            .unwrap();
        store
            .put("test/round-trip", &Secret::new("v2"))
            .await
            .unwrap();
        assert_eq!(store.get("test/round-trip").await.unwrap().expose(), "v2");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(store.file()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[tokio::test]
    async fn a_missing_secret_names_both_places_to_put_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSecretStore::new(dir.path());
        let err = store.get("test/missing-one").await.unwrap_err().to_string();
        assert!(err.contains("DYNSYNC_SECRET_TEST_MISSING_ONE"), "{err}");
        assert!(err.contains("secrets.json"), "{err}");
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_error_that_does_not_quote_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("secrets.json"), "{\"a\": \"hunter2\"").unwrap();
        let store = LocalSecretStore::new(dir.path());
        let err = store.get("a").await.unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}

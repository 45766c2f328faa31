//! The local secret store (ARCHITECTURE.md section 3): a secret named `dynsync/insider` is
//! read from the environment variable `DYNSYNC_SECRET_DYNSYNC_INSIDER`, else from the state
//! folder's `secrets.json` (a JSON object from name to value, mode 0600). Writes (rotated
//! refresh tokens, `dynsync auth login`) go to `secrets.json`.
//!
//! Which wins when both hold a secret: the environment variable, except for a secret
//! dynsync itself wrote to the file (`dynsync auth login`, or a refresh token rotated by a
//! refresh): that value is newer than any variable set before, so the file wins, and the
//! file lists such names under [`WRITTEN_KEY`]. Either way a variable and a file that
//! disagree get one warning per secret and process, naming both places, never the values.
//!
//! The file stays private (`secrets/file.rs`): it is written through a fresh owner-only temporary file
//! (created with `O_CREAT | O_EXCL`, which never follows a link, after removing any
//! leftover) renamed into place, and a file that is a link or open to group or others is
//! refused with the `chmod` that fixes it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use dynsync_domain::ErrorKind;
use dynsync_domain::ports::{Secret, SecretError, SecretStore};

mod file;

/// The key of `secrets.json` listing the secrets dynsync wrote there (a JSON array of
/// names). No secret name can take it: names never contain `#`.
pub const WRITTEN_KEY: &str = "#written-by-dynsync";

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

/// Environment first, then `<state dir>/secrets.json`; a value dynsync wrote to the file
/// wins over the environment (see the module documentation).
#[derive(Debug)]
pub struct LocalSecretStore {
    file: PathBuf,
    /// Serialises read-modify-write of the file within this process.
    write_lock: Mutex<()>,
    /// Secrets whose variable and file disagreement was already reported.
    warned: Mutex<BTreeSet<String>>,
    /// Reads an environment variable (a seam for tests, which may not change the
    /// process environment).
    env: fn(&str) -> Option<String>,
}

impl LocalSecretStore {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            file: state_dir.join("secrets.json"),
            write_lock: Mutex::new(()),
            warned: Mutex::new(BTreeSet::new()),
            env: |var| std::env::var(var).ok(),
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The same store reading environment variables through `env`.
    #[cfg(test)]
    fn with_env(self, env: fn(&str) -> Option<String>) -> Self {
        Self { env, ..self }
    }

    fn store_error(&self, name: &str, problem: String) -> SecretError {
        SecretError::Store {
            name: name.to_owned(),
            message: format!("{} {problem}", self.file.display()),
            kind: ErrorKind::Permanent,
        }
    }

    /// Runs `warn` the first time a disagreement about `name` is seen.
    fn warn_once(&self, name: &str, warn: impl FnOnce()) {
        let first = self
            .warned
            .lock()
            .map(|mut warned| warned.insert(name.to_owned()))
            .unwrap_or(true);
        if first {
            warn();
        }
    }
}

#[async_trait::async_trait]
impl SecretStore for LocalSecretStore {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        let var = env_var_name(name);
        let from_env = (self.env)(&var);
        let mut file = self.read_file(name)?;
        let written = file.written.contains(name);
        let path = self.file.display();
        match (from_env, file.values.remove(name)) {
            (Some(from_env), Some(stored)) if written => {
                if from_env != stored {
                    self.warn_once(name, || {
                        tracing::warn!(
                            secret = name,
                            variable = %var,
                            file = %path,
                            "the environment variable {var} holds another value of secret '{name}' than {path}, where dynsync wrote it (dynsync auth login, or a refresh token rotated by a refresh); the file's newer value is used: unset {var}"
                        );
                    });
                }
                Ok(Secret::new(stored))
            }
            (Some(from_env), Some(stored)) => {
                if from_env != stored {
                    self.warn_once(name, || {
                        tracing::warn!(
                            secret = name,
                            variable = %var,
                            file = %path,
                            "the environment variable {var} overrides another value of secret '{name}' in {path}; the variable's value is used: remove one of the two"
                        );
                    });
                }
                Ok(Secret::new(from_env))
            }
            (Some(from_env), None) => Ok(Secret::new(from_env)),
            (None, Some(stored)) => Ok(Secret::new(stored)),
            (None, None) => Err(SecretError::NotFound {
                name: name.to_owned(),
                hint: format!("set the environment variable {var} or add \"{name}\" to {path}"),
            }),
        }
    }

    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        let _guard = self
            .write_lock
            .lock()
            .map_err(|_| self.store_error(name, "lock poisoned".to_owned()))?;
        let mut file = self.read_file(name)?;
        file.values
            .insert(name.to_owned(), value.expose().to_owned());
        file.written.insert(name.to_owned());
        self.write_file(name, &file)?;
        let var = env_var_name(name);
        if (self.env)(&var).is_some_and(|from_env| from_env != value.expose()) {
            let path = self.file.display();
            self.warn_once(name, || {
                tracing::warn!(
                    secret = name,
                    variable = %var,
                    file = %path,
                    "secret '{name}' was written to {path}; from now on that value is used, not the environment variable {var}, which holds an older one: unset {var}"
                );
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

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

    /// Every event's fields, as text, recorded while a test runs.
    mod capture {
        use std::fmt::Write as _;
        use std::sync::{Arc, Mutex};

        use tracing::field::{Field, Visit};
        use tracing::span::{Attributes, Id, Record};
        use tracing::{Event, Metadata, Subscriber};

        #[derive(Clone, Default)]
        pub struct Logs(pub Arc<Mutex<Vec<String>>>);

        impl Logs {
            pub fn lines(&self) -> Vec<String> {
                self.0.lock().unwrap().clone()
            }
        }

        struct Text(String);

        impl Visit for Text {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                let _ = write!(self.0, "{}={value:?} ", field.name());
            }
        }

        impl Subscriber for Logs {
            fn enabled(&self, _: &Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &Attributes<'_>) -> Id {
                Id::from_u64(1)
            }
            fn record(&self, _: &Id, _: &Record<'_>) {}
            fn record_follows_from(&self, _: &Id, _: &Id) {}
            fn event(&self, event: &Event<'_>) {
                let mut text = Text(format!("{} ", event.metadata().level()));
                event.record(&mut text);
                self.0.lock().unwrap().push(text.0);
            }
            fn enter(&self, _: &Id) {}
            fn exit(&self, _: &Id) {}
        }
    }

    const OLD: &str = "old-token-from-the-environment";
    const ROTATED: &str = "rotated-token-written-by-dynsync";

    fn old_refresh_token(var: &str) -> Option<String> {
        (var == "DYNSYNC_SECRET_TEST_REFRESH").then(|| OLD.to_owned())
    }

    fn no_variables(_: &str) -> Option<String> {
        None
    }

    fn assert_no_value_in(lines: &[String]) {
        for line in lines {
            assert!(
                !line.contains(OLD) && !line.contains(ROTATED) && !line.contains("by-hand"),
                "a value reached the log"
            );
        }
    }

    #[tokio::test]
    async fn a_rotated_refresh_token_in_the_file_wins_over_an_older_variable_with_one_warning() {
        let logs = capture::Logs::default();
        let _guard = tracing::subscriber::set_default(logs.clone());
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSecretStore::new(dir.path()).with_env(old_refresh_token);
        assert!(
            store.get("test/refresh").await.unwrap().expose() == OLD,
            "the variable's value"
        );
        assert!(logs.lines().is_empty(), "only the variable holds it yet");

        store
            .put("test/refresh", &Secret::new(ROTATED))
            .await
            .unwrap();
        for _ in 0..3 {
            assert!(
                store.get("test/refresh").await.unwrap().expose() == ROTATED,
                "the rotated value"
            );
        }
        // The next process (a later run) reads the rotated token too, and says so once.
        let later = LocalSecretStore::new(dir.path()).with_env(old_refresh_token);
        for _ in 0..2 {
            assert!(
                later.get("test/refresh").await.unwrap().expose() == ROTATED,
                "the rotated value"
            );
        }
        let lines = logs.lines();
        assert_eq!(lines.len(), 2, "one warning per process: {lines:#?}");
        for line in &lines {
            assert!(line.starts_with("WARN"), "{line}");
            assert!(line.contains("DYNSYNC_SECRET_TEST_REFRESH"), "{line}");
            assert!(line.contains("secrets.json"), "{line}");
            assert!(line.contains("unset DYNSYNC_SECRET_TEST_REFRESH"), "{line}");
        }
        assert_no_value_in(&lines);
    }

    #[tokio::test]
    async fn a_value_written_by_hand_is_overridden_by_the_variable_with_one_warning() {
        let logs = capture::Logs::default();
        let _guard = tracing::subscriber::set_default(logs.clone());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.json");
        fs::write(&file, "{\"test/refresh\": \"by-hand\"}").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
        }
        let store = LocalSecretStore::new(dir.path()).with_env(old_refresh_token);
        for _ in 0..2 {
            assert!(
                store.get("test/refresh").await.unwrap().expose() == OLD,
                "the variable's value"
            );
        }
        let lines = logs.lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(lines[0].contains("overrides"), "{}", lines[0]);
        assert_no_value_in(&lines);
    }

    #[tokio::test]
    async fn the_file_lists_what_dynsync_wrote_and_still_maps_names_to_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalSecretStore::new(dir.path()).with_env(no_variables);
        store.put("test/b", &Secret::new("2")).await.unwrap();
        store.put("test/a", &Secret::new("1")).await.unwrap();
        let raw: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(store.file()).unwrap()).unwrap();
        assert_eq!(raw["test/a"], "1");
        assert_eq!(raw["test/b"], "2");
        assert_eq!(raw[WRITTEN_KEY], serde_json::json!(["test/a", "test/b"]));
        assert_eq!(store.get("test/a").await.unwrap().expose(), "1");
        assert!(
            store.get(WRITTEN_KEY).await.is_err(),
            "the list is no secret"
        );
    }
}

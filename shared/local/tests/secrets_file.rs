//! The local secrets file stays private: a write never inherits a leftover temporary
//! file's permissions nor follows a planted symbolic link, and a secrets file that others
//! could read (or that is a link) is refused with the `chmod` that fixes it.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use dynsync_domain::ports::{Secret, SecretStore};
use dynsync_local::LocalSecretStore;

const VALUE: &str = "s3cr3t-value-never-shown";

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every temporary name a write of this process could use.
fn temporary_names(dir: &Path) -> Vec<std::path::PathBuf> {
    vec![
        dir.join("secrets.json.tmp"),
        dir.join(format!("secrets.json.{}.tmp", std::process::id())),
    ]
}

#[tokio::test]
async fn a_leftover_temporary_file_with_wide_permissions_is_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    for leftover in temporary_names(dir.path()) {
        fs::write(&leftover, "{}").unwrap();
        fs::set_permissions(&leftover, fs::Permissions::from_mode(0o644)).unwrap();
    }
    let store = LocalSecretStore::new(dir.path());
    store
        .put("test/leftover", &Secret::new(VALUE))
        .await
        .unwrap();
    assert_eq!(mode(store.file()), 0o600, "the secrets file is owner-only");
    assert!(
        store.get("test/leftover").await.unwrap().expose() == VALUE,
        "test/leftover reads back"
    );
}

#[tokio::test]
async fn a_planted_link_at_the_temporary_name_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let stolen = elsewhere.path().join("stolen");
    fs::write(&stolen, "").unwrap();
    fs::set_permissions(&stolen, fs::Permissions::from_mode(0o666)).unwrap();
    for link in temporary_names(dir.path()) {
        symlink(&stolen, &link).unwrap();
    }
    let store = LocalSecretStore::new(dir.path());
    store.put("test/link", &Secret::new(VALUE)).await.unwrap();
    assert!(
        fs::read_to_string(&stolen).unwrap().is_empty(),
        "the secret went through the link"
    );
    assert!(
        !fs::symlink_metadata(store.file())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(mode(store.file()), 0o600);
    assert!(
        store.get("test/link").await.unwrap().expose() == VALUE,
        "test/link reads back"
    );
}

#[tokio::test]
async fn a_secrets_file_others_can_read_is_refused_with_the_chmod_that_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.json");
    fs::write(&file, format!("{{\"test/wide\": \"{VALUE}\"}}")).unwrap();
    let store = LocalSecretStore::new(dir.path());
    for wide in [0o644, 0o640, 0o604, 0o660] {
        fs::set_permissions(&file, fs::Permissions::from_mode(wide)).unwrap();
        let err = store.get("test/wide").await.unwrap_err().to_string();
        assert!(
            err.contains(&format!("chmod 600 {}", file.display())),
            "{err}"
        );
        assert!(err.contains(&format!("{wide:o}")), "names the mode: {err}");
        assert!(!err.contains(VALUE), "the value leaked: {err}");
        let err = store
            .put("test/other", &Secret::new("x"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(
        store.get("test/wide").await.unwrap().expose() == VALUE,
        "test/wide reads back"
    );
}

#[tokio::test]
async fn a_secrets_file_that_is_a_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("real.json");
    fs::write(&target, format!("{{\"test/linked\": \"{VALUE}\"}}")).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    symlink(&target, dir.path().join("secrets.json")).unwrap();
    let store = LocalSecretStore::new(dir.path());
    let err = store.get("test/linked").await.unwrap_err().to_string();
    assert!(err.contains("symbolic link"), "{err}");
    assert!(err.contains(&store.file().display().to_string()), "{err}");
    assert!(!err.contains(VALUE), "the value leaked: {err}");
    let err = store
        .put("test/linked", &Secret::new("new"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("symbolic link"), "{err}");
    assert!(
        fs::read_to_string(&target).unwrap() == format!("{{\"test/linked\": \"{VALUE}\"}}"),
        "the link's target is untouched"
    );
}

#[tokio::test]
async fn a_missing_file_is_no_secret_and_a_first_write_creates_it_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalSecretStore::new(&dir.path().join("new-state"));
    assert!(store.get("test/none").await.is_err());
    store.put("test/none", &Secret::new(VALUE)).await.unwrap();
    assert_eq!(mode(store.file()), 0o600);
    let leftovers: Vec<_> = fs::read_dir(dir.path().join("new-state"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|name| name != "secrets.json")
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary file left: {leftovers:?}"
    );
}

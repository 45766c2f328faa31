//! `secrets.json`, read and written so that it stays private: it is written through a
//! fresh owner-only temporary file (created with `O_CREAT | O_EXCL`, which never follows a
//! link, after removing any leftover) renamed into place, and a file that is a link or
//! open to group or others is refused with the `chmod` that fixes it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};

use dynsync_domain::ports::SecretError;
use serde_json::{Map, Value};

use super::{LocalSecretStore, WRITTEN_KEY};

/// What `secrets.json` holds.
#[derive(Default)]
pub(super) struct SecretsFile {
    pub(super) values: BTreeMap<String, String>,
    /// Names whose value dynsync wrote.
    pub(super) written: BTreeSet<String>,
}

impl LocalSecretStore {
    pub(super) fn read_file(&self, name: &str) -> Result<SecretsFile, SecretError> {
        let Some(text) = self.read_private(name)? else {
            return Ok(SecretsFile::default());
        };
        // The parse error is not shown: it could quote a secret value.
        let shape = "is not a JSON object of secret name to string value";
        let raw: Map<String, Value> =
            serde_json::from_str(&text).map_err(|_| self.store_error(name, shape.to_owned()))?;
        let mut file = SecretsFile::default();
        for (key, value) in raw {
            match value {
                Value::String(value) if key != WRITTEN_KEY => {
                    file.values.insert(key, value);
                }
                Value::Array(names) if key == WRITTEN_KEY => {
                    file.written = names
                        .into_iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect();
                }
                _ => {
                    return Err(self.store_error(
                        name,
                        format!(
                            "{shape}: \"{key}\" holds something else; fix or remove that entry"
                        ),
                    ));
                }
            }
        }
        Ok(file)
    }

    /// The file's text, `None` when there is no file. Refuses a link and a file group or
    /// others may read or write: secrets only come from a private, regular file.
    fn read_private(&self, name: &str) -> Result<Option<String>, SecretError> {
        let path = self.file.display();
        let before = match fs::symlink_metadata(&self.file) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.store_error(name, format!("cannot read: {e}"))),
        };
        if before.file_type().is_symlink() {
            return Err(self.store_error(
                name,
                format!(
                    "is a symbolic link; dynsync reads secrets only from a regular file: replace the link by the file (mv TARGET {path}) and run chmod 600 {path}"
                ),
            ));
        }
        if !before.is_file() {
            return Err(self.store_error(
                name,
                "is not a regular file; move it aside and store the secrets again".to_owned(),
            ));
        }
        let mut file = fs::File::open(&self.file)
            .map_err(|e| self.store_error(name, format!("cannot read: {e}")))?;
        let opened = file
            .metadata()
            .map_err(|e| self.store_error(name, format!("cannot read: {e}")))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            // Replaced (by a link, say) between the check and the open: not what was checked.
            if (opened.dev(), opened.ino()) != (before.dev(), before.ino()) {
                return Err(self.store_error(
                    name,
                    "changed while it was being opened; check who else writes to the state folder and try again".to_owned(),
                ));
            }
            let mode = opened.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(self.store_error(
                    name,
                    format!(
                        "is open to group or others (mode {mode:03o}), so its secrets are not private; run chmod 600 {path}"
                    ),
                ));
            }
        }
        #[cfg(not(unix))]
        let _ = opened;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| self.store_error(name, format!("cannot read: {e}")))?;
        Ok(Some(text))
    }

    /// Writes the whole file: a fresh owner-only temporary file, then a rename, so the
    /// file is never half-written, never readable by others, and no link is followed.
    pub(super) fn write_file(&self, name: &str, file: &SecretsFile) -> Result<(), SecretError> {
        let mut object = Map::new();
        for (key, value) in &file.values {
            object.insert(key.clone(), Value::String(value.clone()));
        }
        if !file.written.is_empty() {
            let names = file.written.iter().cloned().map(Value::String).collect();
            object.insert(WRITTEN_KEY.to_owned(), Value::Array(names));
        }
        let text = serde_json::to_string_pretty(&object)
            .map_err(|e| self.store_error(name, format!("cannot encode: {e}")))?;
        if let Some(dir) = self.file.parent() {
            fs::create_dir_all(dir)
                .map_err(|e| self.store_error(name, format!("cannot create folder: {e}")))?;
        }
        // One temporary name per process, so two processes never share one; a leftover
        // of a crashed writer (whatever its mode, or a planted link) is removed, not
        // reused.
        let tmp = self
            .file
            .with_extension(format!("json.{}.tmp", std::process::id()));
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(self.store_error(
                    name,
                    format!(
                        "cannot be written: the leftover {} cannot be removed ({e}); delete it",
                        tmp.display()
                    ),
                ));
            }
        }
        let mut options = fs::OpenOptions::new();
        // O_CREAT | O_EXCL: fails on anything already there, a link included.
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&tmp).and_then(|mut out| {
            out.write_all(text.as_bytes())?;
            out.sync_all()
        });
        let written = written.and_then(|()| fs::rename(&tmp, &self.file));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(self.store_error(
                name,
                format!("cannot be written ({e}); check that the state folder is writable"),
            ));
        }
        Ok(())
    }
}

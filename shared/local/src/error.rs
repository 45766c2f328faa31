//! The local adapters' one error type. Each variant is classified where it is born: a
//! database another process holds busy past the timeout is transient, everything else
//! (a corrupt or too-new file, a folder that cannot be created) needs a person to fix it.

use std::path::PathBuf;

use dynsync_domain::ErrorKind;
use dynsync_domain::ports::PortError;

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot create the state folder {path}: {source}; check that it is writable")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot open the state database {path}: {source}; check the file's permissions or \
         move it aside if it is not a dynsync database"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the state database {path} has schema version {found}, newer than the {supported} \
         this dynsync understands; upgrade dynsync or use another --state folder"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("state database: {operation} failed: {source}")]
    Sqlite {
        operation: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("state database: stored {what} is unreadable ({source}); the file is damaged")]
    Corrupt {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("state database: cannot encode {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The caller asked for something the stored state does not allow (an unknown
    /// execution, a page never registered, a duplicate id).
    #[error("state database: {0}")]
    Rejected(String),
    #[error("state database: the worker thread stopped: {0}")]
    Worker(#[source] tokio::task::JoinError),
}

impl LocalError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            LocalError::Sqlite { source, .. } | LocalError::Open { source, .. }
                if is_busy(source) =>
            {
                ErrorKind::Transient
            }
            LocalError::Worker(e) if e.is_cancelled() => ErrorKind::Transient,
            _ => ErrorKind::Permanent,
        }
    }

    pub(crate) fn sqlite(operation: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| LocalError::Sqlite { operation, source }
    }

    pub(crate) fn corrupt(
        what: impl Into<String>,
    ) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> Self {
        let what = what.into();
        move |source| LocalError::Corrupt { what, source }
    }
}

/// Another connection held the database longer than the busy timeout.
fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl From<LocalError> for PortError {
    fn from(error: LocalError) -> Self {
        PortError::from_error(error.kind(), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_database_is_transient_and_a_rejection_permanent() {
        let busy = LocalError::Sqlite {
            operation: "test",
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                None,
            ),
        };
        assert_eq!(busy.kind(), ErrorKind::Transient);
        assert_eq!(
            LocalError::Rejected("no such execution".into()).kind(),
            ErrorKind::Permanent
        );
        let port: PortError = busy.into();
        assert_eq!(port.kind(), ErrorKind::Transient);
    }
}

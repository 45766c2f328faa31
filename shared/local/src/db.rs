//! The state folder's SQLite database (`<state dir>/state.db`): opening it (WAL, busy
//! timeout), its schema migrations (`PRAGMA user_version`), and running blocking SQLite
//! work off the async runtime, one connection per adapter behind a mutex.
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction: it takes the database's write lock
//! before reading, so a read-decide-write (a compare-and-set) is atomic against other
//! connections of this process and against other processes using the same folder.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::LocalError;

/// The database file inside a state folder.
pub const STATE_FILE: &str = "state.db";

/// How long a statement waits for another connection's write lock before giving up
/// (then the error is transient).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Schema steps; `PRAGMA user_version` is the number of steps applied. Append only.
const MIGRATIONS: &[&str] = &[
    // 1: state and queue tables.
    "CREATE TABLE definitions (
         id TEXT PRIMARY KEY,
         json TEXT NOT NULL
     );
     CREATE TABLE slots (
         integration_id TEXT PRIMARY KEY,
         slot TEXT NOT NULL
     );
     CREATE TABLE locks (
         integration_id TEXT PRIMARY KEY,
         execution_id TEXT NOT NULL,
         owner TEXT NOT NULL,
         expires_at TEXT NOT NULL
     );
     CREATE TABLE executions (
         id TEXT PRIMARY KEY,
         integration_id TEXT NOT NULL,
         status TEXT NOT NULL,
         started_at_us INTEGER NOT NULL,
         json TEXT NOT NULL,
         plan TEXT,
         outstanding INTEGER NOT NULL DEFAULT 0,
         last_progress TEXT NOT NULL
     );
     CREATE INDEX executions_by_integration ON executions (integration_id, started_at_us);
     CREATE INDEX executions_by_status ON executions (status);
     CREATE TABLE pages (
         execution_id TEXT NOT NULL,
         page_key TEXT NOT NULL,
         done INTEGER NOT NULL DEFAULT 0,
         batches TEXT NOT NULL DEFAULT '[]',
         PRIMARY KEY (execution_id, page_key)
     ) WITHOUT ROWID;
     CREATE TABLE watermarks (
         integration_id TEXT PRIMARY KEY,
         watermark TEXT NOT NULL
     );
     CREATE TABLE queue_messages (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         queue TEXT NOT NULL,
         body TEXT NOT NULL,
         visible_at_ms INTEGER NOT NULL,
         receive_count INTEGER NOT NULL DEFAULT 0,
         receipt TEXT,
         sent_at_ms INTEGER NOT NULL
     );
     CREATE INDEX queue_messages_visible ON queue_messages (queue, visible_at_ms);
     CREATE UNIQUE INDEX queue_messages_receipt ON queue_messages (receipt);",
    // 2: page claims (one delivery at a time processes a page).
    "ALTER TABLE pages ADD COLUMN claimant TEXT;
     ALTER TABLE pages ADD COLUMN claimed_until TEXT;",
    // 3: stable pages (what a page's first delivery fetched: where it ends).
    "ALTER TABLE pages ADD COLUMN fixed INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE pages ADD COLUMN next_cursor TEXT;",
    // 4: change tracking: the delta link a running execution's read ended with, and the
    // one of each integration's last successful read.
    "ALTER TABLE executions ADD COLUMN staged_token TEXT;
     ALTER TABLE pages ADD COLUMN fixed_token TEXT;
     CREATE TABLE sync_tokens (
         integration_id TEXT PRIMARY KEY,
         token TEXT NOT NULL
     );",
    // 5: incremental marketing lists: the members each execution staged (a generation)
    // and each integration's committed generation (shared/local/src/members.rs).
    "CREATE TABLE members (
         integration_id TEXT NOT NULL,
         generation TEXT NOT NULL,
         member BLOB NOT NULL,
         PRIMARY KEY (integration_id, generation, member)
     ) WITHOUT ROWID;
     CREATE TABLE member_sets (
         integration_id TEXT PRIMARY KEY,
         generation TEXT NOT NULL
     );",
];

/// One connection to a state folder's database, shareable across tasks.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl Db {
    /// Opens (creating the folder and the file if needed) and migrates `<dir>/state.db`.
    pub(crate) fn open(dir: &Path) -> Result<Self, LocalError> {
        std::fs::create_dir_all(dir).map_err(|source| LocalError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(STATE_FILE);
        let open_error = |source| LocalError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        // WAL lets readers run beside the one writer; NORMAL sync is durable across process
        // crashes (what resuming needs) and much faster than FULL.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error)?;
        migrate(&mut conn, &path)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the blocking pool with this connection.
    pub(crate) async fn call<T, F>(&self, work: F) -> Result<T, LocalError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, LocalError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic inside `work` rolled its transaction back when it unwound, so the
            // connection is still consistent.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut conn)
        })
        .await
        .map_err(LocalError::Worker)?
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction, committed when it returns `Ok`.
    pub(crate) async fn write<T, F>(
        &self,
        operation: &'static str,
        work: F,
    ) -> Result<T, LocalError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, LocalError> + Send + 'static,
    {
        self.call(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(LocalError::sqlite(operation))?;
            let value = work(&tx)?;
            tx.commit().map_err(LocalError::sqlite(operation))?;
            Ok(value)
        })
        .await
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), LocalError> {
    let operation = "migrating the schema";
    let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    // Current already (every open but the first): no write lock taken.
    let current: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(LocalError::sqlite(operation))?;
    if current == supported {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(LocalError::sqlite(operation))?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(LocalError::sqlite(operation))?;
    if version > supported {
        return Err(LocalError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported,
        });
    }
    let applied = usize::try_from(version).unwrap_or(0);
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(sql)
            .map_err(LocalError::sqlite(operation))?;
        tracing::debug!(step = step + 1, path = %path.display(), "state schema migrated");
    }
    tx.pragma_update(None, "user_version", supported)
        .map_err(LocalError::sqlite(operation))?;
    tx.commit().map_err(LocalError::sqlite(operation))
}

/// Timestamps are stored as RFC 3339 UTC text with as many fraction digits as they have,
/// so they round-trip exactly (slot compare-and-set compares them for equality).
pub(crate) fn time_to_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

pub(crate) fn time_from_text(text: &str, what: &str) -> Result<DateTime<Utc>, LocalError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|e| LocalError::corrupt(what)(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_twice_migrates_once_and_sets_the_user_version() {
        let dir = tempfile::tempdir().unwrap();
        drop(Db::open(dir.path()).unwrap());
        let db = Db::open(dir.path()).unwrap();
        let conn = db.conn.lock().unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, i64::try_from(MIGRATIONS.len()).unwrap());
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_database_of_an_older_schema_is_migrated_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(STATE_FILE)).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO pages (execution_id, page_key) VALUES ('e', '0:')",
                [],
            )
            .unwrap();
        }
        let db = Db::open(dir.path()).unwrap();
        let conn = db.conn.lock().unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, i64::try_from(MIGRATIONS.len()).unwrap());
        let claimant: Option<String> = conn
            .query_row(
                "SELECT claimant FROM pages WHERE execution_id = 'e'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(claimant, None, "the old page is kept, unclaimed");
    }

    #[test]
    fn a_database_from_a_newer_dynsync_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(STATE_FILE)).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = Db::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, LocalError::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("upgrade dynsync"), "{err}");
    }

    #[test]
    fn timestamps_round_trip_exactly_through_text() {
        let time = DateTime::parse_from_rfc3339("2026-11-27T10:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(time_from_text(&time_to_text(time), "t").unwrap(), time);
        assert!(time_from_text("yesterday", "a lock's expiry").is_err());
    }
}

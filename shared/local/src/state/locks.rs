//! The `RunLocks` port in SQLite, and the timestamps slots and watermarks keep: each
//! function is the body of one port method's transaction (a compare-and-set inside
//! `BEGIN IMMEDIATE`), and the local resume decision (`take_over_execution`), one such
//! transaction too.

use chrono::{DateTime, Utc};
use dynsync_domain::ports::{LockOutcome, LockRequest, PortError, RunLocks};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::SqliteStateStore;
use crate::db::{time_from_text, time_to_text};
use crate::error::LocalError;
use crate::owner::TakeOver;

/// Takes the lock when it is free, expired at `now`, or held by the same execution.
pub(super) fn acquire(
    tx: &Transaction<'_>,
    request: &LockRequest,
    now: DateTime<Utc>,
) -> Result<LockOutcome, LocalError> {
    if let Some((holder, _, expires_at)) = read_lock(tx, &request.integration_id)?
        && holder != request.execution_id
        && expires_at > now
    {
        return Ok(LockOutcome::HeldBy {
            execution_id: holder,
        });
    }
    write_lock(tx, request)?;
    Ok(LockOutcome::Acquired)
}

/// Writes the lock as `request` says, whoever held it.
fn write_lock(tx: &Transaction<'_>, request: &LockRequest) -> Result<(), LocalError> {
    tx.execute(
        "INSERT INTO locks (integration_id, execution_id, owner, expires_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (integration_id) DO UPDATE SET execution_id = excluded.execution_id,
             owner = excluded.owner, expires_at = excluded.expires_at",
        params![
            request.integration_id,
            request.execution_id,
            request.owner,
            time_to_text(request.expires_at)
        ],
    )
    .map_err(LocalError::sqlite("taking a run lock"))?;
    Ok(())
}

/// Deletes the lock only if `execution_id` holds it.
pub(super) fn release(
    tx: &Transaction<'_>,
    integration_id: &str,
    execution_id: &str,
) -> Result<(), LocalError> {
    tx.execute(
        "DELETE FROM locks WHERE integration_id = ?1 AND execution_id = ?2",
        params![integration_id, execution_id],
    )
    .map_err(LocalError::sqlite("releasing a run lock"))?;
    Ok(())
}

/// The holder's execution id, owner tag and expiry.
pub(super) fn read_lock(
    conn: &Connection,
    integration_id: &str,
) -> Result<Option<(String, String, DateTime<Utc>)>, LocalError> {
    let row: Option<(String, String, String)> = conn
        .query_row(
            "SELECT execution_id, owner, expires_at FROM locks WHERE integration_id = ?1",
            [integration_id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .map_err(LocalError::sqlite("reading a run lock"))?;
    row.map(|(execution, owner, expires)| {
        Ok((
            execution,
            owner,
            time_from_text(&expires, "a lock's expiry")?,
        ))
    })
    .transpose()
}

/// A timestamp column of a table keyed by `integration_id` (slots, watermarks).
pub(super) fn read_time(
    conn: &Connection,
    op: &'static str,
    table: &'static str,
    column: &'static str,
    integration_id: &str,
) -> Result<Option<DateTime<Utc>>, LocalError> {
    let text: Option<String> = conn
        .query_row(
            &format!("SELECT {column} FROM {table} WHERE integration_id = ?1"),
            [integration_id],
            |row| row.get(0),
        )
        .optional()
        .map_err(LocalError::sqlite(op))?;
    text.map(|text| time_from_text(&text, column)).transpose()
}

impl super::SqliteStateStore {
    /// The resume decision of a local run, atomic: in one write transaction, find the
    /// integration's newest `running` execution and, unless a live process holds its run
    /// lock (one that has not expired and whose owner is not gone, see
    /// [`crate::owner::owner_is_gone`]), write the lock anew for that execution under
    /// `owner`, valid for `ttl`. Of two runs deciding at once, one gets
    /// [`TakeOver::Resume`]; the other then sees the first one's live lock:
    /// [`TakeOver::Busy`]. [`TakeOver::Nothing`] when nothing is left to resume (no
    /// running execution, or one orphaned by another execution taking its expired lock).
    pub async fn take_over_execution(
        &self,
        integration_id: &str,
        owner: &str,
        ttl: std::time::Duration,
    ) -> Result<TakeOver, LocalError> {
        let (integration_id, owner) = (integration_id.to_owned(), owner.to_owned());
        let now = self.clock.now();
        let expires_at = chrono::Duration::from_std(ttl)
            .ok()
            .and_then(|ttl| now.checked_add_signed(ttl))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.db
            .write("taking over an unfinished execution", move |tx| {
                let Some(execution) = super::executions::running_of(tx, &integration_id)? else {
                    return Ok(TakeOver::Nothing);
                };
                if let Some((holder, held_by, lock_expires)) = read_lock(tx, &integration_id)? {
                    let live = lock_expires > now && !crate::owner::owner_is_gone(&held_by);
                    match (holder == execution.id, live) {
                        (_, true) => {
                            return Ok(TakeOver::Busy {
                                execution_id: holder,
                                owner: held_by,
                            });
                        }
                        // Another execution took the expired lock: not this one's to resume.
                        (false, false) => return Ok(TakeOver::Nothing),
                        (true, false) => {}
                    }
                }
                let request = LockRequest {
                    integration_id: integration_id.clone(),
                    execution_id: execution.id.clone(),
                    owner,
                    expires_at,
                };
                write_lock(tx, &request)?;
                Ok(TakeOver::Resume(execution))
            })
            .await
    }
}

#[async_trait::async_trait]
impl RunLocks for SqliteStateStore {
    async fn acquire_lock(&self, request: &LockRequest) -> Result<LockOutcome, PortError> {
        let request = request.clone();
        let now = self.clock.now();
        Ok(self
            .db
            .write("taking a run lock", move |tx| acquire(tx, &request, now))
            .await?)
    }

    async fn lock_holder(
        &self,
        integration_id: &str,
    ) -> Result<Option<(String, String, DateTime<Utc>)>, PortError> {
        let integration_id = integration_id.to_owned();
        Ok(self
            .db
            .call(move |conn| read_lock(conn, &integration_id))
            .await?)
    }

    async fn release_lock(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError> {
        let (integration_id, execution_id) = (integration_id.to_owned(), execution_id.to_owned());
        let op = "releasing a run lock";
        self.db
            .write(op, move |tx| release(tx, &integration_id, &execution_id))
            .await?;
        Ok(())
    }
}

//! Schedule slots, run locks and the timestamps they keep, in SQLite: each function is the
//! body of one port method's transaction (a compare-and-set inside `BEGIN IMMEDIATE`).

use chrono::{DateTime, Utc};
use dynsync_domain::ports::{LockOutcome, LockRequest};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::db::{time_from_text, time_to_text};
use crate::error::LocalError;

/// Moves the integration's last slot from `previous` to a later `slot`; `false` when the
/// stored slot is not `previous` (someone else moved it) or `slot` is not later.
pub(super) fn claim_slot(
    tx: &Transaction<'_>,
    integration_id: &str,
    previous: Option<DateTime<Utc>>,
    slot: DateTime<Utc>,
) -> Result<bool, LocalError> {
    let op = "claiming a schedule slot";
    let current = read_time(tx, op, "slots", "slot", integration_id)?;
    if current != previous || current.is_some_and(|current| slot <= current) {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO slots (integration_id, slot) VALUES (?1, ?2)
         ON CONFLICT (integration_id) DO UPDATE SET slot = excluded.slot",
        params![integration_id, time_to_text(slot)],
    )
    .map_err(LocalError::sqlite(op))?;
    Ok(true)
}

/// Takes the lock when it is free, expired at `now`, or held by the same execution.
pub(super) fn acquire(
    tx: &Transaction<'_>,
    request: &LockRequest,
    now: DateTime<Utc>,
) -> Result<LockOutcome, LocalError> {
    let op = "taking a run lock";
    if let Some((holder, _, expires_at)) = read_lock(tx, &request.integration_id)?
        && holder != request.execution_id
        && expires_at > now
    {
        return Ok(LockOutcome::HeldBy {
            execution_id: holder,
        });
    }
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
    .map_err(LocalError::sqlite(op))?;
    Ok(LockOutcome::Acquired)
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

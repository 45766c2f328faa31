//! The `SyncState` port in SQLite: the watermark (moved forward by the finish in
//! `executions.rs`), the sync token a running execution staged and the integration's
//! committed sync token.

use chrono::{DateTime, Utc};
use dynsync_domain::ports::{PortError, SyncState};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::SqliteStateStore;
use super::executions::get_known;
use crate::error::LocalError;

/// Stages the delta link a running execution's read ended with.
pub(super) fn stage_sync_token(
    tx: &Transaction<'_>,
    id: &str,
    token: &str,
) -> Result<(), LocalError> {
    let row = get_known(tx, id)?;
    if row.execution.status.is_final() {
        return Err(LocalError::Rejected(format!(
            "execution {id} has ended; its sync token can no longer change"
        )));
    }
    tx.execute(
        "UPDATE executions SET staged_token = ?2 WHERE id = ?1",
        params![id, token],
    )
    .map_err(LocalError::sqlite("staging a sync token"))?;
    Ok(())
}

/// The integration's sync token, if a change-tracking read of it ever succeeded.
pub(super) fn sync_token(
    conn: &Connection,
    integration_id: &str,
) -> Result<Option<String>, LocalError> {
    conn.query_row(
        "SELECT token FROM sync_tokens WHERE integration_id = ?1",
        [integration_id],
        |row| row.get(0),
    )
    .optional()
    .map_err(LocalError::sqlite("reading a sync token"))
}

#[async_trait::async_trait]
impl SyncState for SqliteStateStore {
    async fn watermark(&self, integration_id: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        let integration_id = integration_id.to_owned();
        let op = "reading a watermark";
        Ok(self
            .db
            .call(move |conn| {
                super::locks::read_time(conn, op, "watermarks", "watermark", &integration_id)
            })
            .await?)
    }

    async fn stage_sync_token(&self, execution_id: &str, token: &str) -> Result<(), PortError> {
        let (id, token) = (execution_id.to_owned(), token.to_owned());
        Ok(self
            .db
            .write("staging a sync token", move |tx| {
                stage_sync_token(tx, &id, &token)
            })
            .await?)
    }

    async fn sync_token(&self, integration_id: &str) -> Result<Option<String>, PortError> {
        let integration_id = integration_id.to_owned();
        Ok(self
            .db
            .call(move |conn| sync_token(conn, &integration_id))
            .await?)
    }
}

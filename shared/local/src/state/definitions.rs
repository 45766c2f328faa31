//! The `Definitions` port in SQLite: definitions (JSON, with their enabled flag) and the
//! last schedule slot of each integration (a compare-and-set inside `BEGIN IMMEDIATE`).

use chrono::{DateTime, Utc};
use dynsync_domain::Definition;
use dynsync_domain::ports::{Definitions, PortError};
use rusqlite::{OptionalExtension, Transaction, params};

use super::SqliteStateStore;
use crate::db::time_to_text;
use crate::error::LocalError;

fn definition_from_json(json: &str) -> Result<Definition, LocalError> {
    serde_json::from_str(json).map_err(|e| LocalError::corrupt("definition")(Box::new(e)))
}

/// Moves the integration's last slot from `previous` to a later `slot`; `false` when the
/// stored slot is not `previous` (someone else moved it) or `slot` is not later.
pub(super) fn claim_slot(
    tx: &Transaction<'_>,
    integration_id: &str,
    previous: Option<DateTime<Utc>>,
    slot: DateTime<Utc>,
) -> Result<bool, LocalError> {
    let op = "claiming a schedule slot";
    let current = super::locks::read_time(tx, op, "slots", "slot", integration_id)?;
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

#[async_trait::async_trait]
impl Definitions for SqliteStateStore {
    async fn put_definition(&self, definition: &Definition) -> Result<(), PortError> {
        let json = serde_json::to_string(definition).map_err(|source| LocalError::Encode {
            what: "a definition",
            source,
        })?;
        let id = definition.id.clone();
        let op = "storing a definition";
        self.db
            .write(op, move |tx| {
                tx.execute(
                    "INSERT INTO definitions (id, json) VALUES (?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET json = excluded.json",
                    params![id, json],
                )
                .map_err(LocalError::sqlite(op))?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn get_definition(&self, id: &str) -> Result<Option<Definition>, PortError> {
        let id = id.to_owned();
        let op = "reading a definition";
        let json: Option<String> = self
            .db
            .call(move |conn| {
                conn.query_row("SELECT json FROM definitions WHERE id = ?1", [id], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(LocalError::sqlite(op))
            })
            .await?;
        Ok(json.as_deref().map(definition_from_json).transpose()?)
    }

    async fn list_definitions(&self) -> Result<Vec<Definition>, PortError> {
        let op = "listing definitions";
        let rows: Vec<String> = self
            .db
            .call(move |conn| {
                let mut stmt = conn
                    .prepare("SELECT json FROM definitions ORDER BY id")
                    .map_err(LocalError::sqlite(op))?;
                let rows = stmt
                    .query_map([], |row| row.get(0))
                    .and_then(Iterator::collect)
                    .map_err(LocalError::sqlite(op))?;
                Ok(rows)
            })
            .await?;
        Ok(rows
            .iter()
            .map(|json| definition_from_json(json))
            .collect::<Result<_, _>>()?)
    }

    async fn set_enabled(&self, id: &str, enabled: bool) -> Result<bool, PortError> {
        let id = id.to_owned();
        let op = "pausing or resuming a definition";
        let found = self
            .db
            .write(op, move |tx| {
                let json: Option<String> = tx
                    .query_row("SELECT json FROM definitions WHERE id = ?1", [&id], |row| {
                        row.get(0)
                    })
                    .optional()
                    .map_err(LocalError::sqlite(op))?;
                let Some(json) = json else {
                    return Ok(false);
                };
                let mut definition = definition_from_json(&json)?;
                definition.enabled = enabled;
                let json =
                    serde_json::to_string(&definition).map_err(|source| LocalError::Encode {
                        what: "a definition",
                        source,
                    })?;
                tx.execute(
                    "UPDATE definitions SET json = ?2 WHERE id = ?1",
                    params![id, json],
                )
                .map_err(LocalError::sqlite(op))?;
                Ok(true)
            })
            .await?;
        Ok(found)
    }

    async fn last_slot(&self, integration_id: &str) -> Result<Option<DateTime<Utc>>, PortError> {
        let integration_id = integration_id.to_owned();
        let op = "reading the last schedule slot";
        Ok(self
            .db
            .call(move |conn| super::locks::read_time(conn, op, "slots", "slot", &integration_id))
            .await?)
    }

    async fn claim_slot(
        &self,
        integration_id: &str,
        previous: Option<DateTime<Utc>>,
        slot: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        let integration_id = integration_id.to_owned();
        Ok(self
            .db
            .write("claiming a schedule slot", move |tx| {
                claim_slot(tx, &integration_id, previous, slot)
            })
            .await?)
    }
}

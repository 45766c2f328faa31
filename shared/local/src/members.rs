//! `SqliteMemberSets`: the member-set port (`list_mode: changes`) on the state folder's
//! SQLite file. One row per member and generation (an execution's staged set), keyed by
//! the member's 16-byte big-endian key so that BLOB order is SQL Server order and a
//! range read is one index range; `member_sets` points each integration at its committed
//! generation, so promotion is one row written (and the old generation dropped).

use std::path::Path;

use dynsync_domain::ports::{MemberKey, MemberRange, MemberSets, PortError};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::db::Db;
use crate::error::LocalError;

/// The member sets of a state folder.
#[derive(Debug, Clone)]
pub struct SqliteMemberSets {
    db: Db,
}

impl SqliteMemberSets {
    /// Opens (and migrates) `<dir>/state.db`; its own connection beside the state store's.
    pub fn open(dir: &Path) -> Result<Self, LocalError> {
        Ok(Self { db: Db::open(dir)? })
    }
}

fn blob(key: MemberKey) -> [u8; 16] {
    key.to_be_bytes()
}

fn key_of(bytes: &[u8]) -> Option<MemberKey> {
    <[u8; 16]>::try_from(bytes).ok().map(u128::from_be_bytes)
}

fn committed(
    tx: &rusqlite::Connection,
    integration_id: &str,
) -> Result<Option<String>, LocalError> {
    tx.query_row(
        "SELECT generation FROM member_sets WHERE integration_id = ?1",
        params![integration_id],
        |row| row.get(0),
    )
    .optional()
    .map_err(LocalError::sqlite("reading a member set"))
}

/// `key > after AND key <= until` with open ends as the lowest / highest blob.
fn bounds(range: MemberRange) -> (Vec<u8>, Vec<u8>) {
    let after = range.after.map(|k| blob(k).to_vec()).unwrap_or_default();
    // Longer than any key, and above it: 16 bytes of 0xff sort below 17.
    let until = range
        .until
        .map(|k| blob(k).to_vec())
        .unwrap_or_else(|| vec![0xff; 17]);
    (after, until)
}

fn delete_generation(
    tx: &Transaction<'_>,
    integration_id: &str,
    generation: &str,
) -> Result<(), LocalError> {
    tx.execute(
        "DELETE FROM members WHERE integration_id = ?1 AND generation = ?2",
        params![integration_id, generation],
    )
    .map_err(LocalError::sqlite("dropping a member set"))?;
    Ok(())
}

#[async_trait::async_trait]
impl MemberSets for SqliteMemberSets {
    async fn committed_members(
        &self,
        integration_id: &str,
        range: MemberRange,
    ) -> Result<Option<Vec<MemberKey>>, PortError> {
        let integration_id = integration_id.to_owned();
        let op = "reading a member set";
        Ok(self
            .db
            .call(move |conn| {
                let Some(generation) = committed(conn, &integration_id)? else {
                    return Ok(None);
                };
                let (after, until) = bounds(range);
                let mut statement = conn
                    .prepare_cached(
                        "SELECT member FROM members WHERE integration_id = ?1 AND generation = ?2
                         AND member > ?3 AND member <= ?4 ORDER BY member",
                    )
                    .map_err(LocalError::sqlite(op))?;
                let rows = statement
                    .query_map(params![integration_id, generation, after, until], |row| {
                        row.get::<_, Vec<u8>>(0)
                    })
                    .map_err(LocalError::sqlite(op))?;
                let mut ids = Vec::new();
                for row in rows {
                    let bytes = row.map_err(LocalError::sqlite(op))?;
                    let key = key_of(&bytes).ok_or_else(|| {
                        LocalError::corrupt("a member set")(
                            format!("a member id of {} bytes, not 16", bytes.len()).into(),
                        )
                    })?;
                    ids.push(key);
                }
                Ok(Some(ids))
            })
            .await?)
    }

    async fn stage_members(
        &self,
        integration_id: &str,
        execution_id: &str,
        range: MemberRange,
        ids: &[MemberKey],
    ) -> Result<(), PortError> {
        let integration_id = integration_id.to_owned();
        let execution_id = execution_id.to_owned();
        let ids = range.members_among(ids.iter().copied());
        let op = "staging list members";
        Ok(self
            .db
            .write(op, move |tx| {
                let (after, until) = bounds(range);
                tx.execute(
                    "DELETE FROM members WHERE integration_id = ?1 AND generation = ?2
                     AND member > ?3 AND member <= ?4",
                    params![integration_id, execution_id, after, until],
                )
                .map_err(LocalError::sqlite(op))?;
                let mut insert = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO members (integration_id, generation, member)
                         VALUES (?1, ?2, ?3)",
                    )
                    .map_err(LocalError::sqlite(op))?;
                for key in ids {
                    insert
                        .execute(params![integration_id, execution_id, blob(key).to_vec()])
                        .map_err(LocalError::sqlite(op))?;
                }
                Ok(())
            })
            .await?)
    }

    async fn promote_members(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError> {
        let integration_id = integration_id.to_owned();
        let execution_id = execution_id.to_owned();
        let op = "promoting a member set";
        Ok(self
            .db
            .write(op, move |tx| {
                let previous = committed(tx, &integration_id)?;
                if previous.as_deref() == Some(execution_id.as_str()) {
                    return Ok(());
                }
                tx.execute(
                    "INSERT INTO member_sets (integration_id, generation) VALUES (?1, ?2)
                     ON CONFLICT (integration_id) DO UPDATE SET generation = excluded.generation",
                    params![integration_id, execution_id],
                )
                .map_err(LocalError::sqlite(op))?;
                if let Some(previous) = previous {
                    delete_generation(tx, &integration_id, &previous)?;
                }
                Ok(())
            })
            .await?)
    }

    async fn discard_members(
        &self,
        integration_id: &str,
        execution_id: &str,
    ) -> Result<(), PortError> {
        let integration_id = integration_id.to_owned();
        let execution_id = execution_id.to_owned();
        Ok(self
            .db
            .write("discarding a member set", move |tx| {
                if committed(tx, &integration_id)?.as_deref() != Some(execution_id.as_str()) {
                    delete_generation(tx, &integration_id, &execution_id)?;
                }
                Ok(())
            })
            .await?)
    }
}

//! Executions in SQLite: each function is the body of one port method's transaction (the
//! page ledger is in `ledger.rs`). An execution is stored as its contract JSON plus the
//! columns it is looked up by (integration, status, start time), its plan as JSON, and the
//! count of pages still outstanding.

use chrono::{DateTime, Utc};
use dynsync_domain::execution::{Execution, ExecutionPlan, ExecutionStatus};
use dynsync_domain::ports::{Executions, Finish, PortError};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::SqliteStateStore;
use crate::db::{time_from_text, time_to_text};
use crate::error::LocalError;

const SELECT: &str = "SELECT json, outstanding, last_progress FROM executions";

/// An execution row as read back.
pub(super) struct Row {
    pub execution: Execution,
    pub outstanding: u64,
    pub last_progress: DateTime<Utc>,
}

/// A new execution, encoded before the transaction so that encoding cannot fail inside it.
pub(super) struct NewExecution {
    id: String,
    integration_id: String,
    status: &'static str,
    started_at_us: i64,
    json: String,
    plan: Option<String>,
    pages: Vec<String>,
    progress: String,
}

impl NewExecution {
    pub fn encode(
        execution: &Execution,
        plan: Option<&ExecutionPlan>,
        first_page_keys: &[String],
    ) -> Result<Self, LocalError> {
        if execution.status == ExecutionStatus::Running && plan.is_none() {
            return Err(LocalError::Rejected(format!(
                "execution {} is running but came without its plan",
                execution.id
            )));
        }
        let running = execution.status == ExecutionStatus::Running;
        // Only a running execution has pages (and needs its plan).
        let mut pages = if running {
            first_page_keys.to_vec()
        } else {
            Vec::new()
        };
        pages.sort();
        pages.dedup();
        Ok(Self {
            id: execution.id.clone(),
            integration_id: execution.integration_id.clone(),
            status: execution.status.as_str(),
            started_at_us: execution.started_at.timestamp_micros(),
            json: encode(execution, "an execution")?,
            plan: plan
                .filter(|_| running)
                .map(|plan| encode(plan, "an execution plan"))
                .transpose()?,
            pages,
            progress: time_to_text(execution.started_at),
        })
    }

    pub fn insert(self, tx: &Transaction<'_>) -> Result<(), LocalError> {
        let op = "recording an execution";
        let inserted = tx
            .execute(
                "INSERT INTO executions (id, integration_id, status, started_at_us, json, plan,
                     outstanding, last_progress)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO NOTHING",
                params![
                    self.id,
                    self.integration_id,
                    self.status,
                    self.started_at_us,
                    self.json,
                    self.plan,
                    i64::try_from(self.pages.len()).unwrap_or(i64::MAX),
                    self.progress
                ],
            )
            .map_err(LocalError::sqlite(op))?;
        if inserted == 0 {
            return Err(LocalError::Rejected(format!(
                "execution {} already exists; every execution needs a new id",
                self.id
            )));
        }
        for key in &self.pages {
            tx.execute(
                "INSERT INTO pages (execution_id, page_key) VALUES (?1, ?2)",
                params![self.id, key],
            )
            .map_err(LocalError::sqlite(op))?;
        }
        Ok(())
    }
}

pub(super) fn encode(value: &impl Serialize, what: &'static str) -> Result<String, LocalError> {
    serde_json::to_string(value).map_err(|source| LocalError::Encode { what, source })
}

pub(super) fn decode<T: for<'de> Deserialize<'de>>(
    json: &str,
    what: &str,
) -> Result<T, LocalError> {
    serde_json::from_str(json).map_err(|e| LocalError::corrupt(what)(Box::new(e)))
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, i64, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
}

fn decode_row((json, outstanding, progress): (String, i64, String)) -> Result<Row, LocalError> {
    Ok(Row {
        execution: decode(&json, "execution")?,
        outstanding: u64::try_from(outstanding).unwrap_or(0),
        last_progress: time_from_text(&progress, "an execution's last progress")?,
    })
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Option<Row>, LocalError> {
    conn.query_row(&format!("{SELECT} WHERE id = ?1"), [id], read_row)
        .optional()
        .map_err(LocalError::sqlite("reading an execution"))?
        .map(decode_row)
        .transpose()
}

/// Like [`get`], but an unknown execution is the caller's mistake.
pub(super) fn get_known(conn: &Connection, id: &str) -> Result<Row, LocalError> {
    get(conn, id)?.ok_or_else(|| LocalError::Rejected(format!("no execution {id}")))
}

pub(super) fn save(
    tx: &Transaction<'_>,
    execution: &Execution,
    outstanding: u64,
    progress: DateTime<Utc>,
) -> Result<(), LocalError> {
    tx.execute(
        "UPDATE executions SET status = ?2, json = ?3, outstanding = ?4, last_progress = ?5
         WHERE id = ?1",
        params![
            execution.id,
            execution.status.as_str(),
            encode(execution, "an execution")?,
            i64::try_from(outstanding).unwrap_or(i64::MAX),
            time_to_text(progress)
        ],
    )
    .map_err(LocalError::sqlite("updating an execution"))?;
    Ok(())
}

pub(super) fn plan(conn: &Connection, id: &str) -> Result<Option<ExecutionPlan>, LocalError> {
    let plan: Option<Option<String>> = conn
        .query_row("SELECT plan FROM executions WHERE id = ?1", [id], |row| {
            row.get(0)
        })
        .optional()
        .map_err(LocalError::sqlite("reading an execution plan"))?;
    plan.flatten()
        .map(|json| decode(&json, "execution plan"))
        .transpose()
}

fn collect(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<Row>, LocalError> {
    let op = "listing executions";
    let mut stmt = conn.prepare(sql).map_err(LocalError::sqlite(op))?;
    let rows: Vec<_> = stmt
        .query_map(args, read_row)
        .and_then(Iterator::collect)
        .map_err(LocalError::sqlite(op))?;
    rows.into_iter().map(decode_row).collect()
}

pub(super) fn list(
    conn: &Connection,
    integration_id: Option<&str>,
    limit: usize,
) -> Result<Vec<Execution>, LocalError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let order = "ORDER BY started_at_us DESC, rowid DESC LIMIT";
    let rows = match integration_id {
        Some(id) => collect(
            conn,
            &format!("{SELECT} WHERE integration_id = ?1 {order} ?2"),
            params![id, limit],
        )?,
        None => collect(conn, &format!("{SELECT} {order} ?1"), [limit])?,
    };
    Ok(rows.into_iter().map(|row| row.execution).collect())
}

pub(super) fn running(
    conn: &mut Connection,
) -> Result<Vec<(Execution, DateTime<Utc>)>, LocalError> {
    let sql = format!("{SELECT} WHERE status = 'running' ORDER BY started_at_us, rowid");
    Ok(collect(conn, &sql, [])?
        .into_iter()
        .map(|row| (row.execution, row.last_progress))
        .collect())
}

pub(super) fn running_of(
    conn: &Connection,
    integration_id: &str,
) -> Result<Option<Execution>, LocalError> {
    let sql = format!(
        "{SELECT} WHERE status = 'running' AND integration_id = ?1
         ORDER BY started_at_us DESC, rowid DESC LIMIT 1"
    );
    Ok(collect(conn, &sql, [integration_id])?
        .into_iter()
        .next()
        .map(|row| row.execution))
}

pub(super) fn finish(tx: &Transaction<'_>, id: &str, finish: &Finish) -> Result<bool, LocalError> {
    let Row {
        mut execution,
        outstanding,
        last_progress,
    } = get_known(tx, id)?;
    // "Finishing" as running ends nothing.
    if execution.status.is_final() || !finish.status.is_final() {
        return Ok(false);
    }
    execution.status = finish.status;
    execution.finished_at = Some(finish.finished_at);
    execution.error.clone_from(&finish.error);
    save(tx, &execution, outstanding, last_progress)?;
    // A failed execution never moves the watermark: records of its window may be unsent.
    let watermark = finish
        .watermark
        .filter(|_| finish.status != ExecutionStatus::Failed);
    if let Some(watermark) = watermark {
        let op = "moving a watermark";
        let integration = &execution.integration_id;
        let current = super::locks::read_time(tx, op, "watermarks", "watermark", integration)?;
        // Forward only: a late finisher of an older window never moves it back.
        if current.is_none_or(|current| current < watermark) {
            tx.execute(
                "INSERT INTO watermarks (integration_id, watermark) VALUES (?1, ?2)
                 ON CONFLICT (integration_id) DO UPDATE SET watermark = excluded.watermark",
                params![integration, time_to_text(watermark)],
            )
            .map_err(LocalError::sqlite(op))?;
        }
    }
    if finish.status != ExecutionStatus::Failed {
        let op = "moving a sync token";
        tx.execute(
            "INSERT INTO sync_tokens (integration_id, token)
             SELECT integration_id, staged_token FROM executions
             WHERE id = ?1 AND staged_token IS NOT NULL
             ON CONFLICT (integration_id) DO UPDATE SET token = excluded.token",
            params![id],
        )
        .map_err(LocalError::sqlite(op))?;
    }
    super::locks::release(tx, &execution.integration_id, id)?;
    Ok(true)
}

#[async_trait::async_trait]
impl Executions for SqliteStateStore {
    async fn create_execution(
        &self,
        execution: &Execution,
        plan: Option<&ExecutionPlan>,
        first_page_keys: &[String],
    ) -> Result<(), PortError> {
        let new = NewExecution::encode(execution, plan, first_page_keys)?;
        self.db
            .write("recording an execution", move |tx| new.insert(tx))
            .await?;
        Ok(())
    }

    async fn get_execution(&self, id: &str) -> Result<Option<Execution>, PortError> {
        let id = id.to_owned();
        Ok(self
            .db
            .call(move |conn| get(conn, &id).map(|row| row.map(|row| row.execution)))
            .await?)
    }

    async fn get_plan(&self, execution_id: &str) -> Result<Option<ExecutionPlan>, PortError> {
        let id = execution_id.to_owned();
        Ok(self.db.call(move |conn| plan(conn, &id)).await?)
    }

    async fn list_executions(
        &self,
        integration_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Execution>, PortError> {
        let integration_id = integration_id.map(str::to_owned);
        Ok(self
            .db
            .call(move |conn| list(conn, integration_id.as_deref(), limit))
            .await?)
    }

    async fn running_executions(&self) -> Result<Vec<(Execution, DateTime<Utc>)>, PortError> {
        Ok(self.db.call(running).await?)
    }

    async fn finish_execution(
        &self,
        execution_id: &str,
        finish: &Finish,
    ) -> Result<bool, PortError> {
        let (id, finish) = (execution_id.to_owned(), finish.clone());
        Ok(self
            .db
            .write("finishing an execution", move |tx| {
                self::finish(tx, &id, &finish)
            })
            .await?)
    }
}

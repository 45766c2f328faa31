//! Executions and the page ledger in SQLite: each function is the body of one port
//! method's transaction. An execution is stored as its contract JSON plus the columns it
//! is looked up by (integration, status, start time), its plan as JSON, and the count of
//! pages still outstanding; a page is a row with its done flag and the batches already sent.

use chrono::{DateTime, Utc};
use dynsync_domain::execution::{
    Counters, Execution, ExecutionPlan, ExecutionStatus, MAX_RECORDED_FAILURES, RecordFailure,
};
use dynsync_domain::ports::{BatchRecord, Finish, PageLedger};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

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
            status: status_text(execution.status),
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

fn encode(value: &impl Serialize, what: &'static str) -> Result<String, LocalError> {
    serde_json::to_string(value).map_err(|source| LocalError::Encode { what, source })
}

fn decode<T: for<'de> Deserialize<'de>>(json: &str, what: &str) -> Result<T, LocalError> {
    serde_json::from_str(json).map_err(|e| LocalError::corrupt(what)(Box::new(e)))
}

fn status_text(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Running => "running",
        ExecutionStatus::Succeeded => "succeeded",
        ExecutionStatus::CompletedWithFailures => "completed_with_failures",
        ExecutionStatus::Failed => "failed",
    }
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
fn get_known(conn: &Connection, id: &str) -> Result<Row, LocalError> {
    get(conn, id)?.ok_or_else(|| LocalError::Rejected(format!("no execution {id}")))
}

fn save(
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
            status_text(execution.status),
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
    conn: &mut Connection,
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

pub(super) fn pending_pages(conn: &mut Connection, id: &str) -> Result<Vec<String>, LocalError> {
    let op = "listing pending pages";
    let mut stmt = conn
        .prepare(
            "SELECT page_key FROM pages WHERE execution_id = ?1 AND done = 0 ORDER BY page_key",
        )
        .map_err(LocalError::sqlite(op))?;
    let keys = stmt
        .query_map([id], |row| row.get(0))
        .and_then(Iterator::collect)
        .map_err(LocalError::sqlite(op))?;
    Ok(keys)
}

pub(super) fn register_page(
    tx: &Transaction<'_>,
    id: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<bool, LocalError> {
    let row = get_known(tx, id)?;
    let inserted = tx
        .execute(
            "INSERT INTO pages (execution_id, page_key) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![id, key],
        )
        .map_err(LocalError::sqlite("registering a page"))?;
    if inserted == 0 {
        return Ok(false);
    }
    let progress = row.last_progress.max(now);
    save(
        tx,
        &row.execution,
        row.outstanding.saturating_add(1),
        progress,
    )?;
    Ok(true)
}

/// A sent batch as stored in a page's `batches` JSON.
#[derive(Serialize, Deserialize)]
struct StoredBatch {
    index: u32,
    upserted: u64,
    failed: u64,
    events_sent: u64,
    failures: Vec<RecordFailure>,
}

fn read_page(
    conn: &Connection,
    id: &str,
    key: &str,
) -> Result<Option<(bool, Vec<StoredBatch>)>, LocalError> {
    let row: Option<(bool, String)> = conn
        .query_row(
            "SELECT done, batches FROM pages WHERE execution_id = ?1 AND page_key = ?2",
            params![id, key],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(LocalError::sqlite("reading the page ledger"))?;
    row.map(|(done, batches)| Ok((done, decode(&batches, "page ledger batches")?)))
        .transpose()
}

fn known_page(
    conn: &Connection,
    id: &str,
    key: &str,
) -> Result<(bool, Vec<StoredBatch>), LocalError> {
    read_page(conn, id, key)?.ok_or_else(|| {
        LocalError::Rejected(format!("page {key} of execution {id} was never registered"))
    })
}

pub(super) fn page_ledger(
    conn: &mut Connection,
    id: &str,
    key: &str,
) -> Result<Option<PageLedger>, LocalError> {
    Ok(read_page(conn, id, key)?.map(|(done, batches)| PageLedger {
        done,
        batches: batches
            .into_iter()
            .map(|b| BatchRecord {
                index: b.index,
                upserted: b.upserted,
                failed: b.failed,
                events_sent: b.events_sent,
                failures: b.failures,
            })
            .collect(),
    }))
}

pub(super) fn record_batch(
    tx: &Transaction<'_>,
    id: &str,
    key: &str,
    batch: BatchRecord,
    now: DateTime<Utc>,
) -> Result<(), LocalError> {
    let (_, mut batches) = known_page(tx, id, key)?;
    batches.retain(|b| b.index != batch.index);
    batches.push(StoredBatch {
        index: batch.index,
        upserted: batch.upserted,
        failed: batch.failed,
        events_sent: batch.events_sent,
        failures: batch.failures,
    });
    batches.sort_by_key(|b| b.index);
    let op = "recording a sent batch";
    tx.execute(
        "UPDATE pages SET batches = ?3 WHERE execution_id = ?1 AND page_key = ?2",
        params![id, key, encode(&batches, "page ledger batches")?],
    )
    .map_err(LocalError::sqlite(op))?;
    let progress = get_known(tx, id)?.last_progress.max(now);
    tx.execute(
        "UPDATE executions SET last_progress = ?2 WHERE id = ?1",
        params![id, time_to_text(progress)],
    )
    .map_err(LocalError::sqlite(op))?;
    Ok(())
}

pub(super) fn complete_page(
    tx: &Transaction<'_>,
    id: &str,
    key: &str,
    counters: &Counters,
    failures: Vec<RecordFailure>,
    now: DateTime<Utc>,
) -> Result<Option<u64>, LocalError> {
    let Row {
        mut execution,
        outstanding,
        last_progress,
    } = get_known(tx, id)?;
    let (done, _) = known_page(tx, id, key)?;
    if done {
        return Ok(None);
    }
    tx.execute(
        "UPDATE pages SET done = 1 WHERE execution_id = ?1 AND page_key = ?2",
        params![id, key],
    )
    .map_err(LocalError::sqlite("completing a page"))?;
    execution.counters.add(counters);
    let room = MAX_RECORDED_FAILURES.saturating_sub(execution.failures.len());
    execution.failures.extend(failures.into_iter().take(room));
    let outstanding = outstanding.saturating_sub(1);
    save(tx, &execution, outstanding, last_progress.max(now))?;
    Ok(Some(outstanding))
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
        let current = super::read_time(tx, op, "watermarks", "watermark", integration)?;
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
    release_lock(tx, &execution.integration_id, id)
}

/// Deletes the lock only if `execution_id` holds it; `true` either way (the run is over).
pub(super) fn release_lock(
    tx: &Transaction<'_>,
    integration_id: &str,
    execution_id: &str,
) -> Result<bool, LocalError> {
    tx.execute(
        "DELETE FROM locks WHERE integration_id = ?1 AND execution_id = ?2",
        params![integration_id, execution_id],
    )
    .map_err(LocalError::sqlite("releasing a run lock"))?;
    Ok(true)
}

//! The page ledger in SQLite: each function is the body of one port method's transaction.
//! A page is a row keyed by execution and page key, with its done flag, where its first
//! delivery found it ends (`fixed`, `next_cursor`) and the upsert batches already sent with
//! their record ids (JSON); registering and completing a page move the execution's
//! outstanding count and counters in the same transaction.

use chrono::{DateTime, Utc};
use dynsync_domain::execution::{Counters, RecordFailure, record_failures};
use dynsync_domain::ports::{
    BatchRecord, ClaimOutcome, FixedPage, PageClaim, PageLedger, PageRecord, PortError,
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::SqliteStateStore;
use super::executions::{Row, encode, get_known, save};
use super::pages::{StoredBatch, known_page, never_registered, read_page};
use crate::db::{time_from_text, time_to_text};
use crate::error::LocalError;

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

/// Fixes where the page ends, once; returns what the row holds.
pub(super) fn fix_page(
    tx: &Transaction<'_>,
    id: &str,
    key: &str,
    page: &FixedPage,
) -> Result<FixedPage, LocalError> {
    if let Some(fixed) = known_page(tx, id, key)?.fixed {
        return Ok(fixed);
    }
    tx.execute(
        "UPDATE pages SET fixed = 1, next_cursor = ?3, fixed_token = ?4
         WHERE execution_id = ?1 AND page_key = ?2",
        params![id, key, page.next_cursor, page.sync_token],
    )
    .map_err(LocalError::sqlite("fixing a page"))?;
    Ok(page.clone())
}

/// Claims the page for `claim.claimant` unless someone else holds an unlapsed claim.
pub(super) fn claim_page(
    tx: &Transaction<'_>,
    id: &str,
    key: &str,
    claim: &PageClaim,
    now: DateTime<Utc>,
) -> Result<ClaimOutcome, LocalError> {
    let op = "claiming a page";
    let holder: Option<(Option<String>, Option<String>)> = tx
        .query_row(
            "SELECT claimant, claimed_until FROM pages WHERE execution_id = ?1 AND page_key = ?2",
            params![id, key],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(LocalError::sqlite(op))?;
    let Some((holder, until)) = holder else {
        return Err(never_registered(id, key));
    };
    if let (Some(claimant), Some(until)) = (holder, until)
        && claimant != claim.claimant
    {
        let until = time_from_text(&until, "a page claim's expiry")?;
        if until > now {
            return Ok(ClaimOutcome::HeldBy { claimant, until });
        }
    }
    let page = known_page(tx, id, key)?;
    tx.execute(
        "UPDATE pages SET claimant = ?3, claimed_until = ?4
         WHERE execution_id = ?1 AND page_key = ?2",
        params![id, key, claim.claimant, time_to_text(claim.until)],
    )
    .map_err(LocalError::sqlite(op))?;
    Ok(ClaimOutcome::Acquired {
        fixed: page.fixed,
        batches: page
            .batches
            .into_iter()
            .map(StoredBatch::into_record)
            .collect(),
    })
}

/// Drops `claimant`'s claim on the page, if it holds it.
pub(super) fn release_page_claim(
    tx: &Transaction<'_>,
    id: &str,
    key: &str,
    claimant: &str,
) -> Result<(), LocalError> {
    tx.execute(
        "UPDATE pages SET claimant = NULL, claimed_until = NULL
         WHERE execution_id = ?1 AND page_key = ?2 AND claimant = ?3",
        params![id, key, claimant],
    )
    .map_err(LocalError::sqlite("releasing a page claim"))?;
    Ok(())
}

/// Drops every page claim of an execution: a resumed execution's claims belong to its
/// dead process.
pub(super) fn release_all_claims(tx: &Transaction<'_>, id: &str) -> Result<usize, LocalError> {
    tx.execute(
        "UPDATE pages SET claimant = NULL, claimed_until = NULL
         WHERE execution_id = ?1 AND claimant IS NOT NULL",
        params![id],
    )
    .map_err(LocalError::sqlite(
        "releasing the page claims of a resumed execution",
    ))
}

pub(super) fn page_ledger(
    conn: &mut Connection,
    id: &str,
    key: &str,
) -> Result<Option<PageRecord>, LocalError> {
    let Some(page) = read_page(conn, id, key)? else {
        return Ok(None);
    };
    let outstanding = get_known(conn, id).map_or(0, |row| row.outstanding);
    Ok(Some(PageRecord {
        done: page.done,
        fixed: page.fixed,
        batches: page
            .batches
            .into_iter()
            .map(StoredBatch::into_record)
            .collect(),
        outstanding,
    }))
}

pub(super) fn record_batch(
    tx: &Transaction<'_>,
    id: &str,
    key: &str,
    batch: BatchRecord,
    now: DateTime<Utc>,
) -> Result<(), LocalError> {
    let mut batches = known_page(tx, id, key)?.batches;
    batches.retain(|b| b.index != batch.index);
    batches.push(StoredBatch {
        index: batch.index,
        upserted: batch.upserted,
        failed: batch.failed,
        events_sent: batch.events_sent,
        failures: batch.failures,
        record_ids: batch.record_ids,
        removal: batch.removal,
        stop: batch.stop,
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
    if known_page(tx, id, key)?.done {
        return Ok(None);
    }
    tx.execute(
        "UPDATE pages SET done = 1 WHERE execution_id = ?1 AND page_key = ?2",
        params![id, key],
    )
    .map_err(LocalError::sqlite("completing a page"))?;
    execution.counters.add(counters);
    record_failures(&mut execution.failures, failures);
    let outstanding = outstanding.saturating_sub(1);
    save(tx, &execution, outstanding, last_progress.max(now))?;
    Ok(Some(outstanding))
}

#[async_trait::async_trait]
impl PageLedger for SqliteStateStore {
    async fn register_page(&self, execution_id: &str, page_key: &str) -> Result<bool, PortError> {
        let (id, key) = (execution_id.to_owned(), page_key.to_owned());
        let now = self.clock.now();
        Ok(self
            .db
            .write("registering a page", move |tx| {
                register_page(tx, &id, &key, now)
            })
            .await?)
    }

    async fn page_ledger(
        &self,
        execution_id: &str,
        page_key: &str,
    ) -> Result<Option<PageRecord>, PortError> {
        let (id, key) = (execution_id.to_owned(), page_key.to_owned());
        Ok(self
            .db
            .call(move |conn| page_ledger(conn, &id, &key))
            .await?)
    }

    async fn fix_page(
        &self,
        execution_id: &str,
        page_key: &str,
        page: &FixedPage,
    ) -> Result<FixedPage, PortError> {
        let (id, key, page) = (execution_id.to_owned(), page_key.to_owned(), page.clone());
        Ok(self
            .db
            .write("fixing a page", move |tx| fix_page(tx, &id, &key, &page))
            .await?)
    }

    async fn record_batch(
        &self,
        execution_id: &str,
        page_key: &str,
        batch: &BatchRecord,
    ) -> Result<(), PortError> {
        let (id, key, batch) = (execution_id.to_owned(), page_key.to_owned(), batch.clone());
        let now = self.clock.now();
        self.db
            .write("recording a sent batch", move |tx| {
                record_batch(tx, &id, &key, batch, now)
            })
            .await?;
        Ok(())
    }

    async fn claim_page(
        &self,
        execution_id: &str,
        page_key: &str,
        claim: &PageClaim,
    ) -> Result<ClaimOutcome, PortError> {
        let (id, key, claim) = (execution_id.to_owned(), page_key.to_owned(), claim.clone());
        let now = self.clock.now();
        Ok(self
            .db
            .write("claiming a page", move |tx| {
                claim_page(tx, &id, &key, &claim, now)
            })
            .await?)
    }

    async fn release_page_claim(
        &self,
        execution_id: &str,
        page_key: &str,
        claimant: &str,
    ) -> Result<(), PortError> {
        let (id, key, claimant) = (
            execution_id.to_owned(),
            page_key.to_owned(),
            claimant.to_owned(),
        );
        self.db
            .write("releasing a page claim", move |tx| {
                release_page_claim(tx, &id, &key, &claimant)
            })
            .await?;
        Ok(())
    }

    async fn complete_page(
        &self,
        execution_id: &str,
        page_key: &str,
        counters: &Counters,
        failures: &[RecordFailure],
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, PortError> {
        let (id, key) = (execution_id.to_owned(), page_key.to_owned());
        let (counters, failures) = (*counters, failures.to_vec());
        Ok(self
            .db
            .write("completing a page", move |tx| {
                complete_page(tx, &id, &key, &counters, failures, now)
            })
            .await?)
    }
}

//! The in-memory `PageLedger` port: registered pages, their fixed ends, batches and
//! claims, and the completion that counts a page done.

use chrono::{DateTime, Utc};
use dynsync_domain::execution::{Counters, RecordFailure, record_failures};
use dynsync_domain::ports::{
    BatchRecord, ClaimOutcome, FixedPage, PageClaim, PageLedger, PageRecord, PortError,
};

use super::{MemoryStateStore, no_execution, not_registered, page_key};

#[async_trait::async_trait]
impl PageLedger for MemoryStateStore {
    async fn register_page(&self, execution_id: &str, page_key_: &str) -> Result<bool, PortError> {
        let mut inner = self.inner();
        let key = page_key(execution_id, page_key_);
        if inner.pages.contains_key(&key) {
            return Ok(false);
        }
        let row = inner
            .executions
            .get_mut(execution_id)
            .ok_or_else(|| no_execution(execution_id))?;
        row.outstanding += 1;
        inner.pages.insert(key, PageRecord::default());
        Ok(true)
    }

    async fn page_ledger(
        &self,
        execution_id: &str,
        page_key_: &str,
    ) -> Result<Option<PageRecord>, PortError> {
        let inner = self.inner();
        let outstanding = inner
            .executions
            .get(execution_id)
            .map_or(0, |row| row.outstanding);
        Ok(inner
            .pages
            .get(&page_key(execution_id, page_key_))
            .map(|ledger| PageRecord {
                outstanding,
                ..ledger.clone()
            }))
    }

    async fn fix_page(
        &self,
        execution_id: &str,
        page_key_: &str,
        page: &FixedPage,
    ) -> Result<FixedPage, PortError> {
        let mut inner = self.inner();
        let ledger = inner
            .pages
            .get_mut(&page_key(execution_id, page_key_))
            .ok_or_else(|| not_registered(execution_id, page_key_))?;
        Ok(ledger.fixed.get_or_insert_with(|| page.clone()).clone())
    }

    async fn record_batch(
        &self,
        execution_id: &str,
        page_key_: &str,
        batch: &BatchRecord,
    ) -> Result<(), PortError> {
        let mut inner = self.inner();
        let ledger = inner
            .pages
            .get_mut(&page_key(execution_id, page_key_))
            .ok_or_else(|| not_registered(execution_id, page_key_))?;
        ledger.batches.retain(|b| b.index != batch.index);
        ledger.batches.push(batch.clone());
        ledger.batches.sort_by_key(|b| b.index);
        Ok(())
    }

    async fn claim_page(
        &self,
        execution_id: &str,
        page_key_: &str,
        claim: &PageClaim,
    ) -> Result<ClaimOutcome, PortError> {
        let now = self.clock.now();
        let mut inner = self.inner();
        let key = page_key(execution_id, page_key_);
        let ledger = inner
            .pages
            .get(&key)
            .ok_or_else(|| not_registered(execution_id, page_key_))?;
        let (fixed, batches) = (ledger.fixed.clone(), ledger.batches.clone());
        if let Some(held) = inner.claims.get(&key)
            && held.claimant != claim.claimant
            && held.until > now
        {
            return Ok(ClaimOutcome::HeldBy {
                claimant: held.claimant.clone(),
                until: held.until,
            });
        }
        inner.claims.insert(key, claim.clone());
        Ok(ClaimOutcome::Acquired { fixed, batches })
    }

    async fn release_page_claim(
        &self,
        execution_id: &str,
        page_key_: &str,
        claimant: &str,
    ) -> Result<(), PortError> {
        let mut inner = self.inner();
        let key = page_key(execution_id, page_key_);
        if inner
            .claims
            .get(&key)
            .is_some_and(|held| held.claimant == claimant)
        {
            inner.claims.remove(&key);
        }
        Ok(())
    }

    async fn complete_page(
        &self,
        execution_id: &str,
        page_key_: &str,
        counters: &Counters,
        failures: &[RecordFailure],
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, PortError> {
        let mut inner = self.inner();
        if !inner.executions.contains_key(execution_id) {
            return Err(no_execution(execution_id));
        }
        let ledger = inner
            .pages
            .get_mut(&page_key(execution_id, page_key_))
            .ok_or_else(|| not_registered(execution_id, page_key_))?;
        if ledger.done {
            return Ok(None);
        }
        ledger.done = true;
        let row = inner
            .executions
            .get_mut(execution_id)
            .ok_or_else(|| no_execution(execution_id))?;
        row.execution.counters.add(counters);
        record_failures(&mut row.execution.failures, failures.iter().cloned());
        row.outstanding = row.outstanding.saturating_sub(1);
        row.last_progress = row.last_progress.max(now);
        Ok(Some(row.outstanding))
    }
}

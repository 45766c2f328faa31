//! A delivery's claim on the page it processes. At-least-once queues deliver a page task
//! twice now and then (an SQS duplicate, or a redelivery when processing outlasts the
//! visibility timeout); the ledger makes a *later* delivery harmless, and the claim makes a
//! *concurrent* one wait: only the claimant fetches and upserts, the other delivery is
//! released until the claim lapses and then finds the page done (or, if the claimant died,
//! takes it over and sends only the batches the ledger does not have).
//!
//! A claim lasts [`crate::EngineConfig::page_claim_ttl`] and is renewed before a batch is
//! sent once half of it has gone, so a slow page keeps its claim while a dead worker's
//! claim lapses.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dynsync_domain::ports::{BatchRecord, ClaimOutcome, FixedPage, PageClaim};

use crate::start::later;
use crate::{Engine, EngineError};

/// The claim this delivery holds on its page.
pub(crate) struct HeldClaim<'a> {
    engine: &'a Engine,
    execution_id: &'a str,
    page_key: &'a str,
    claim: PageClaim,
}

/// What the ledger held of the page when the claim was taken.
pub(crate) struct Claimed {
    pub fixed: Option<FixedPage>,
    pub batches: Vec<BatchRecord>,
}

/// What renewing a claim found.
pub(crate) enum Renewal {
    /// Still ours, nothing to renew yet.
    Held,
    /// Ours again until later; these are the batches the ledger has now (another delivery
    /// may have recorded some while our claim had lapsed).
    Renewed(Vec<BatchRecord>),
    /// Another delivery took the page over; it holds it until then.
    Lost(DateTime<Utc>),
}

impl<'a> HeldClaim<'a> {
    /// Claims the page for a new delivery: `Ok(Ok((claim, what the ledger holds)))`, or
    /// `Ok(Err(until))` when another delivery holds it.
    pub(crate) async fn take(
        engine: &'a Engine,
        execution_id: &'a str,
        page_key: &'a str,
    ) -> Result<Result<(Self, Claimed), DateTime<Utc>>, EngineError> {
        let mut held = Self {
            engine,
            execution_id,
            page_key,
            claim: PageClaim {
                claimant: format!("delivery-{}", uuid::Uuid::new_v4()),
                until: engine.clock.now(),
            },
        };
        Ok(match held.claim_again().await? {
            ClaimOutcome::Acquired { fixed, batches } => Ok((held, Claimed { fixed, batches })),
            ClaimOutcome::HeldBy { claimant, until } => {
                tracing::info!(execution_id, page = page_key, held_by = %claimant, until = %until, "page is being processed by another delivery; this one waits");
                Err(until)
            }
        })
    }

    /// Renews the claim when half of it has gone; call before sending a batch.
    pub(crate) async fn renew_if_due(&mut self) -> Result<Renewal, EngineError> {
        let left = self.claim.until - self.engine.clock.now();
        if left.to_std().unwrap_or_default() > self.engine.config.page_claim_ttl / 2 {
            return Ok(Renewal::Held);
        }
        Ok(match self.claim_again().await? {
            ClaimOutcome::Acquired { batches, .. } => Renewal::Renewed(batches),
            ClaimOutcome::HeldBy { claimant, until } => {
                tracing::warn!(execution_id = self.execution_id, page = self.page_key, held_by = %claimant, "another delivery took this page over while it was processed; this one stops");
                Renewal::Lost(until)
            }
        })
    }

    /// Gives the claim up (best effort: a claim left behind lapses on its own).
    pub(crate) async fn release(&self) {
        if let Err(error) = self
            .engine
            .state
            .release_page_claim(self.execution_id, self.page_key, &self.claim.claimant)
            .await
        {
            tracing::warn!(execution_id = self.execution_id, page = self.page_key, error = %error, "cannot release the page claim; it lapses on its own");
        }
    }

    async fn claim_again(&mut self) -> Result<ClaimOutcome, EngineError> {
        self.claim.until = later(self.engine.clock.now(), self.engine.config.page_claim_ttl);
        self.engine
            .state
            .claim_page(self.execution_id, self.page_key, &self.claim)
            .await
            .map_err(EngineError::State)
    }
}

/// How long to hold back a delivery whose page another delivery holds until `until`: until
/// the claim lapses, at least a second, at most one claim's length.
pub(crate) fn wait_for(engine: &Engine, until: DateTime<Utc>) -> Duration {
    let left = (until - engine.clock.now()).to_std().unwrap_or_default();
    left.clamp(
        Duration::from_secs(1),
        engine.config.page_claim_ttl.max(Duration::from_secs(1)),
    )
}

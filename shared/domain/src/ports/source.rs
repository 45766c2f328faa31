//! The data source port: Dataverse as the engine sees it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::execution::{Partition, SourcePlan, Window};
use crate::ports::PortError;
use crate::record::Record;
use crate::user::InsiderUser;
use crate::validate::Integration;

/// One page to read.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    pub integration: &'a Integration,
    pub plan: &'a SourcePlan,
    /// The execution's `modifiedon` window (fetch-mode conditions), if any.
    pub window: Option<&'a Window>,
    pub partition: &'a Partition,
    /// Records with a primary id after this one (SQL Server order); `None` = partition start.
    pub cursor: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourcePage {
    /// At most `page_size` records, in primary-id order.
    pub records: Vec<Record>,
    /// The cursor of the next page (the last record's primary id) when more records follow.
    pub next_cursor: Option<String>,
    /// Throttled replies (429 / service protection) the source waited out for this page.
    pub throttles: u32,
}

#[async_trait::async_trait]
pub trait DataSource: Send + Sync {
    /// What an execution needs before its first page: entity set and primary id, the labels
    /// of `code_to_label` fields, the marketing list (resolved by name or id).
    async fn plan(&self, integration: &Integration) -> Result<SourcePlan, PortError>;

    async fn fetch_page(&self, request: PageRequest<'_>) -> Result<SourcePage, PortError>;

    /// One page of a change-tracking read (fetch mode `changes`, API-FACTS.md 2.6).
    /// Sources that cannot track changes refuse it as a permanent error.
    async fn fetch_changes(&self, request: ChangesRequest<'_>) -> Result<ChangesReply, PortError> {
        let _ = request;
        Err(PortError::permanent(
            "this source cannot read Dataverse change tracking",
        ))
    }
}

/// One page of a change-tracking read to fetch.
#[derive(Debug, Clone, Copy)]
pub struct ChangesRequest<'a> {
    pub integration: &'a Integration,
    pub plan: &'a SourcePlan,
    /// Where to read: a continuation link of this read (`@odata.nextLink` of the page
    /// before), the previous successful run's delta link (an incremental run's first
    /// page), or `None` for a full read that starts change tracking.
    pub link: Option<&'a str>,
}

/// What a change-tracking page read found.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangesReply {
    Page(ChangesPage),
    /// The delta link's token is older than the organization keeps changes (or unknown):
    /// only a full read can start tracking again. Dataverse's message.
    TokenExpired(String),
}

/// One page of changes. Dataverse lists changed rows first, then deleted ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChangesPage {
    /// The changed (or, on a full read, all) records that the definition's filter selects,
    /// with the definition's fields, evaluated by Dataverse.
    pub records: Vec<Record>,
    /// Ids of changed records the filter does not select (skipped, with that reason).
    pub filtered_out: Vec<String>,
    /// Ids of records deleted since the link's token.
    pub deleted: Vec<String>,
    /// The next page of this read, when more follow.
    pub next_link: Option<String>,
    /// On the read's last page: the link the next run reads from.
    pub delta_link: Option<String>,
    /// Throttled replies (429 / service protection) the source waited out for this page.
    pub throttles: u32,
}

/// What Insider said about one batch of users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Users Insider accepted (its `successful.count`).
    pub accepted: u64,
    /// Users it rejected, by index in the batch sent, and one [`UserFailure::unattributed`]
    /// entry per rejection it reported without saying which user.
    pub failures: Vec<UserFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFailure {
    /// The user's index in the batch sent; an index outside the batch
    /// ([`UserFailure::UNATTRIBUTED`]) is a rejection that names no user.
    pub index: usize,
    pub reason: String,
}

impl BatchOutcome {
    /// The users of a batch of `len` that failed, by index, with a reason: each user rejected
    /// by index (with its first reason) and, when some rejection names no user, every other
    /// user too, since Insider did not say which of them it upserted. The rest were upserted.
    pub fn failed_users(&self, len: usize) -> BTreeMap<usize, String> {
        let mut failed = BTreeMap::new();
        let mut unattributed: Vec<&str> = Vec::new();
        for failure in &self.failures {
            if failure.index < len {
                failed
                    .entry(failure.index)
                    .or_insert_with(|| failure.reason.clone());
            } else {
                unattributed.push(&failure.reason);
            }
        }
        if !unattributed.is_empty() && failed.len() < len {
            let reason = unattributed_reason(&unattributed);
            for index in 0..len {
                failed.entry(index).or_insert_with(|| reason.clone());
            }
        }
        failed
    }
}

/// The reason of a user failed because Insider reported rejections without naming users.
fn unattributed_reason(reasons: &[&str]) -> String {
    let mut distinct: Vec<&str> = Vec::new();
    for reason in reasons {
        if !distinct.contains(reason) {
            distinct.push(reason);
        }
    }
    let shown: Vec<&str> = distinct.iter().take(3).copied().collect();
    let more = if distinct.len() > shown.len() {
        format!("; and {} more", distinct.len() - shown.len())
    } else {
        String::new()
    };
    let n = reasons.len();
    format!(
        "Insider reported {n} rejection{} without saying which users ({}{more}); counted failed \
         because Insider did not confirm this user was upserted",
        if n == 1 { "" } else { "s" },
        shown.join("; "),
    )
}

impl UserFailure {
    /// The index of a rejection Insider reported without saying which user.
    pub const UNATTRIBUTED: usize = usize::MAX;

    /// A rejection Insider counted without naming the user.
    pub fn unattributed(reason: impl Into<String>) -> Self {
        Self {
            index: Self::UNATTRIBUTED,
            reason: reason.into(),
        }
    }
}

/// The destination port: Insider's upsert API as the engine sees it. A call sends one batch
/// (at most 1,000 users and 5,000,000 bytes: the caller splits) and retries transient
/// failures itself; an `Err` means the whole batch failed.
#[async_trait::async_trait]
pub trait UserSink: Send + Sync {
    async fn upsert(
        &self,
        users: &[InsiderUser],
        skip_hook: bool,
    ) -> Result<BatchOutcome, PortError>;

    /// Deletes these users' profiles (`removals: delete_profile`; each user carries only
    /// the identifier taken from the record's primary id). Insider deletes one user per
    /// request: the sink sends them with bounded concurrency, honours 429/Retry-After and
    /// retries transient failures itself. A user Insider does not know is not a failure.
    /// An `Err` means none of them can be deleted (e.g. the token is refused).
    async fn delete_users(&self, users: &[InsiderUser]) -> Result<DeleteOutcome, PortError> {
        let _ = users;
        Err(PortError::permanent(
            "this sink cannot delete Insider users",
        ))
    }
}

/// What Insider said about deleting users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Users deleted, or that Insider did not know (nothing left to delete).
    pub deleted: u64,
    /// Users it could not delete, by index in the slice given.
    pub failures: Vec<UserFailure>,
}

/// Builds the source and sink of an integration (endpoints and credentials come from its
/// definition and the secret store). Implementations may cache per integration.
#[async_trait::async_trait]
pub trait Connectors: Send + Sync {
    async fn source(&self, integration: &Integration) -> Result<Arc<dyn DataSource>, PortError>;
    async fn sink(&self, integration: &Integration) -> Result<Arc<dyn UserSink>, PortError>;
}

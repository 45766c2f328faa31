//! The data source port: Dataverse as the engine sees it.

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
}

/// What Insider said about one batch of users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Users Insider accepted.
    pub accepted: u64,
    /// Users it rejected, by index in the batch sent.
    pub failures: Vec<UserFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFailure {
    pub index: usize,
    pub reason: String,
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
}

/// Builds the source and sink of an integration (endpoints and credentials come from its
/// definition and the secret store). Implementations may cache per integration.
#[async_trait::async_trait]
pub trait Connectors: Send + Sync {
    async fn source(&self, integration: &Integration) -> Result<Arc<dyn DataSource>, PortError>;
    async fn sink(&self, integration: &Integration) -> Result<Arc<dyn UserSink>, PortError>;
}

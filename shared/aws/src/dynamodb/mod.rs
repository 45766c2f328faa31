//! The DynamoDB state store: one table holds definitions, schedule slots, run locks,
//! watermarks, executions, their plans and the page ledger. Every method two Lambda
//! invocations could race on is one conditional write or one `TransactWriteItems`.
//!
//! Each port is implemented in its own file: `settings.rs` [`Definitions`] (definitions,
//! enabled flags, schedule slots), `locks.rs` [`RunLocks`], `executions.rs` [`Executions`],
//! `ledger.rs` [`PageLedger`] (one completion attempt in `completion.rs`), `sync.rs`
//! [`SyncState`], `members.rs` the member sets; `codec.rs` and `page_codec.rs` turn values
//! into attributes, `calls.rs` holds the request helpers, `schema.rs` the names.
//!
//! [`Definitions`]: dynsync_domain::ports::Definitions
//! [`RunLocks`]: dynsync_domain::ports::RunLocks
//! [`Executions`]: dynsync_domain::ports::Executions
//! [`PageLedger`]: dynsync_domain::ports::PageLedger
//! [`SyncState`]: dynsync_domain::ports::SyncState
//!
//! # Table (template.yaml declares exactly this; `infra::create_table` creates it)
//!
//! - Billing: `PAY_PER_REQUEST`.
//! - Key: `pk` (S, HASH), `sk` (S, RANGE).
//! - TTL attribute: `expires_at_epoch` (N, epoch seconds) — set on page-ledger and plan items,
//!   14 days after they are written.
//! - Global secondary indexes, all `Projection: KEYS_ONLY` (counter updates of an
//!   execution then write no index; readers fetch the items with `BatchGetItem`):
//!   - `by_integration`: `integration_pk` (S, HASH), `started_sk` (S, RANGE) —
//!     `list_executions` of one integration, newest first.
//!   - `by_start`: `all_pk` (S, HASH, always `EXECUTION`), `started_sk` (S, RANGE) —
//!     `list_executions` of all integrations, newest first.
//!   - `running`: `running_pk` (S, HASH, `RUNNING`), `started_sk` (S, RANGE) — sparse: only
//!     running executions carry `running_pk`; `finish_execution` removes it.
//! - AttributeDefinitions: `pk`, `sk`, `integration_pk`, `all_pk`, `running_pk`,
//!   `started_sk`, all `S`.
//!
//! # Items
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `DEFINITION` | `<integration id>` | `definition` (S, JSON), `enabled` (BOOL, wins over the JSON's) |
//! | `INTEGRATION#<id>` | `SLOT` | `slot` (S, time): compare-and-set on the previous slot |
//! | `INTEGRATION#<id>` | `LOCK` | `execution_id`, `owner`, `expires_at` (S, time): put if absent, expired or same execution; deleted only by its holder |
//! | `INTEGRATION#<id>` | `WATERMARK` | `watermark` (S, time): only moves forward |
//! | `EXECUTION#<id>` | `EXECUTION` | the execution's fields, counters as N (`ADD`), `failures` (L of M, at most 100), `open_pages` (SS: registered, not yet completed pages; its size is the outstanding count), `last_progress`, index keys |
//! | `EXECUTION#<id>` | `PLAN` | `plan` (S, JSON), TTL |
//! | `EXECUTION#<id>` | `PAGE#<page key>` | `batches` (M: `b<index>` → batch), `claimant` and `claimed_until` (S, time: the delivery processing the page; set if absent, lapsed or its own, removed only by it), TTL; the page is done when it is no longer in `open_pages` |
//!
//! Times are RFC 3339 UTC strings with nanoseconds (fixed width, so conditions compare them
//! as strings). Index reads are eventually consistent on AWS: an execution created a moment
//! ago may be missing from `list_executions`/`running_executions` for a moment; item reads
//! are strongly consistent.
//!
//! # IAM (resource: the table and `table/<name>/index/*`)
//!
//! `dynamodb:GetItem`, `PutItem`, `UpdateItem`, `DeleteItem`, `Query`, `BatchGetItem`,
//! (`TransactWriteItems` is authorised by the per-item actions);
//! `infra::create_table` also needs `CreateTable` and `UpdateTimeToLive`.
//!
//! # Requests per page (the benchmark's AWS-requests-per-1,000-records budget)
//!
//! `register_page`: one `TransactWriteItems`. `record_batch`: one `UpdateItem`.
//! `page_ledger`: one `BatchGetItem`. `complete_page`: one `UpdateItem` that marks the page
//! done, adds its counters and returns the outstanding count (a retry only when the failure
//! list nears its cap under a race). `claim_page`: one `UpdateItem` (and one per renewal of
//! a slow page; `release_page_claim`, one more, only after a failed delivery). `get_plan`:
//! one `GetItem`, once per execution per process (the engine caches the plan).

mod calls;
mod codec;
mod completion;
mod executions;
mod ledger;
mod locks;
mod members;
mod page_codec;
pub(crate) mod schema;
mod settings;
mod sync;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use aws_config::SdkConfig;
use dynsync_domain::ports::{Clock, SystemClock};

/// The state store port on one DynamoDB table.
pub struct DynamoDbStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// `table '<name>'`, for error messages.
    resource: String,
    clock: Arc<dyn Clock>,
    /// Executions whose failure list is known to be full (it only grows).
    failures_full: Mutex<HashSet<String>>,
}

impl DynamoDbStateStore {
    /// A store on `table_name`.
    pub fn new(config: &SdkConfig, table_name: impl Into<String>) -> Self {
        Self::from_client(aws_sdk_dynamodb::Client::new(config), table_name)
    }

    /// A store using a client built elsewhere.
    pub fn from_client(client: aws_sdk_dynamodb::Client, table_name: impl Into<String>) -> Self {
        let table = table_name.into();
        Self {
            client,
            resource: format!("table '{table}'"),
            table,
            clock: Arc::new(SystemClock),
            failures_full: Mutex::new(HashSet::new()),
        }
    }

    /// Judges lock and page-claim expiry and stamps ledger TTLs by `clock` instead of the
    /// system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

//! dynsync's Insider side: a client of Insider One's Upsert User Data API
//! (`POST /api/user/v1/upsert`, API-FACTS.md section 1) that implements the engine's
//! [`dynsync_domain::ports::UserSink`]. The body it sends and the batch limits it enforces
//! are `dynsync_domain::batch`'s, the same the engine cuts a page's users by (in
//! `dynsync_engine`'s `batches.rs`, which records each batch in its page ledger).
//!
//! Modules: `client` (the [`InsiderClient`]: headers, one request per batch, retries with
//! the shared `RetryPolicy` on 429/5xx/timeouts honouring `Retry-After`, credential check;
//! the retried POST itself in `client/send.rs`),
//! `reply` (reading Insider's replies: per-user failures from the `users.<i>.` keys of
//! `fail.errors`, counts reconciled), `delete` (deleting users' profiles, one request per
//! user with bounded concurrency: `removals: delete_profile`), `error` (the typed
//! [`InsiderError`], transient or permanent where it is born).
//! The token is a [`dynsync_domain::ports::Secret`] and never reaches logs or errors.

mod client;
mod delete;
mod error;
mod reply;

pub use client::{DEFAULT_TIMEOUT, InsiderClient};
pub use delete::DELETE_CONCURRENCY;
pub use error::InsiderError;

//! dynsync's Insider side: a client of Insider One's Upsert User Data API
//! (`POST /api/user/v1/upsert`, API-FACTS.md section 1) that implements the engine's
//! [`dynsync_domain::ports::UserSink`].
//!
//! Modules: `client` (the [`InsiderClient`]: headers, one request per batch, retries with
//! the shared `RetryPolicy` on 429/5xx/timeouts honouring `Retry-After`, credential check),
//! `reply` (reading Insider's replies: per-user failures from the `users.<i>.` keys of
//! `fail.errors`), `upsert_all` (a whole set of users in batches with the guide's fast-fail
//! rule, without a ledger: for tools and the client's tests; the engine sends batches
//! itself, recording each in its page ledger, in `dynsync_engine`'s `batches.rs`),
//! `delete` (deleting users' profiles, one request per user with bounded concurrency:
//! `removals: delete_profile`), `error` (the typed [`InsiderError`], transient or permanent
//! where it is born).
//! The token is a [`dynsync_domain::ports::Secret`] and never reaches logs or errors.

mod client;
mod delete;
mod error;
mod reply;
mod upsert_all;

pub use client::{DEFAULT_TIMEOUT, InsiderClient};
pub use delete::DELETE_CONCURRENCY;
pub use error::InsiderError;
pub use upsert_all::UpsertReport;

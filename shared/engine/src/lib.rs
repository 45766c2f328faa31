//! dynsync's sync engine: the use-cases of ARCHITECTURE.md section 2 written only against
//! the ports of `dynsync_domain::ports`, so the Lambdas and the local CLI run the very same
//! code with different adapters (docs/architecture.md walks one page through them).
//!
//! Modules: `engine` (the [`Engine`] and its configuration), `window` (fetch-mode windows),
//! `start` (run lock, window, plan, first page tasks), `page` (one page task as a list of
//! steps: skip or finish, claim, records, queue next, map, send and record, complete),
//! `map` (a page's records as users to send, and what the page counts), `fetch` (a page's
//! records, fixed by the first delivery and re-read in that range by later ones),
//! `batches` (batched upsert recorded by record id so redeliveries send nothing twice),
//! `outcome` (what became of a page task, and how a step ends it early), `attribute`
//! (Insider's answer to a batch as counts), `changes` (change-tracking pages: links as
//! cursors, the delta link staged),
//! `lists` (incremental marketing lists: joiners and leavers of a page's fixed id range
//! against the previous member set), `removals` (what records that left the synced set get
//! in Insider), `claim` (one delivery at a time processes a page), `error` (the engine's
//! error: the step, transient or permanent, the cause), `failpoints` (test-only fault
//! injection on the page path),
//! `finish` (final status and watermark, failing executions, stall detection), `schedule`
//! (cron slots claimed once per tick), `runner` (a local worker pool over a `PageQueue`),
//! `budget` (the bytes of records the local runner's pages in flight may hold together),
//! `memory` (in-memory ports for tests and embedded use). It must not depend on the AWS SDK,
//! reqwest or the Lambda runtime.

mod attribute;
mod batches;
mod budget;
mod changes;
mod claim;
mod engine;
mod error;
mod failpoints;
mod fetch;
mod finish;
mod lists;
mod map;
pub mod memory;
mod outcome;
mod page;
mod removals;
pub mod runner;
mod schedule;
mod start;
pub mod window;

pub use engine::{Engine, EngineConfig};
pub use error::EngineError;
pub use failpoints::{Failpoints, setup_from_env as setup_failpoints_from_env};
pub use lists::{member_id, member_key};
pub use outcome::{PageDisposition, PageOutcome};
pub use runner::{MAX_RECEIVES, OnProgress, after_error, run_until_finished};
pub use schedule::{TickOutcome, TickReport, TickStart, latest_slot};
pub use start::StartOutcome;

//! Support for dynsync's end-to-end tests and the full-sync benchmark: a [`Stack`] of the
//! Dataverse + Entra and Insider emulators on loopback with a temp state folder and a
//! definition written against them (`stack`), contacts seeded with chosen timestamps and
//! what Insider received per user (`data`), the `dynsync` binary run as a user would
//! (`cli`), and the engine run directly over the SQLite adapters and live connectors
//! (`local`, the state folder opened by `dynsync_wiring` as the CLI opens it), the fault
//! matrix's oracle (`oracle`), the YAML blocks every definition over the emulators repeats
//! (`definition`) and a call run with the process deadline near (`deadline`): these two are
//! also included by `#[path]` where this crate is no dependency; and what the benchmarks
//! share (`bench`: their contact mapping, the process's memory).
//! It depends on the emulators, the engine, the adapters and the wiring, never on the CLI.

pub mod bench;
pub mod cli;
pub mod data;
pub mod deadline;
pub mod definition;
pub mod local;
pub mod oracle;
pub mod stack;

pub use cli::{EXECUTION_KEYS, RunOutput, counter, counters_add_up};
pub use data::{
    CONTACTS_WITH_EVENTS, add_contacts, email, events_by_email, upserted_between, upserts_by_email,
};
pub use local::{LocalRun, no_progress, run_local};
pub use stack::{DYNAMICS_SECRET, DYNAMICS_SECRET_VAR, INSIDER_SECRET, INSIDER_SECRET_VAR, Stack};

//! dynsync's domain: the integration definition and its validation, records, Insider
//! users and their batches, the execution and page-task types, and the ports (traits) the
//! engine runs on.
//!
//! Modules: `definition` (the YAML shapes with the guide's defaults; its Insider side, the
//! mappings and `insider` settings, in `definition/insider.rs`), `validate` (every
//! problem at once, with paths, into a trusted [`Integration`]; the schedule), `filter` (the
//! FetchXML record filter, parsed and checked), `record` (Dataverse records and option-set
//! labels), `user` (the Insider user the upsert API takes), `batch` (Insider's upsert
//! limits, the request body and splitting by them), `execution` (executions, their plans,
//! counters and page tasks), `retry` (the HTTP clients' backoff policy and deadline),
//! `error` (transient vs permanent), `ports` (the engine's traits: clock, secret store,
//! data source and user sink, state store, page queue, member sets, connectors).
//! This crate does no I/O and must not depend on any I/O crate.

pub mod batch;
pub mod definition;
pub mod error;
pub mod execution;
pub mod filter;
pub mod ports;
pub mod record;
pub mod retry;
pub mod user;
pub mod validate;

pub use definition::Definition;
pub use error::ErrorKind;
pub use filter::{FetchXmlFilter, FilterError};
pub use record::{OptionLabels, Record};
pub use user::{Attributes, Identifiers, InsiderEvent, InsiderUser, Key};
pub use validate::{Integration, Problem, Problems, Schedule};

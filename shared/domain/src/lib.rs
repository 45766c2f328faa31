//! dynsync's domain: the integration definition and its validation, records, the
//! execution and page-task types, and the ports (traits) the engine runs on.
//!
//! Modules: `definition` (the YAML shapes with the guide's defaults), `validate` (every
//! problem at once, with paths, into a trusted [`Integration`]), `record` (Dataverse
//! records and option-set labels), `error` (transient vs permanent), `ports` (secret
//! store, state store, page queue, clock).
//! This crate does no I/O and must not depend on any I/O crate.

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
pub use user::{Identifiers, InsiderEvent, InsiderUser};
pub use validate::{Integration, Problem, Problems, Schedule};

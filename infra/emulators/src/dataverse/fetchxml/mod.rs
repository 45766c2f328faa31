//! FetchXML: reading (`ast`, over a small `xml` tree), condition operators (`ops`),
//! compilation against the schema (`plan`), ordering and key ranges (`keyset`), evaluation
//! with paging (`eval`) and the paging cookie (`cookie`).

pub mod ast;
pub mod cookie;
pub mod eval;
mod keyset;
pub mod ops;
mod plan;
pub mod xml;

pub use eval::{MAX_PAGE, Page, count_matches, execute, refuse_primary_id_ranges};

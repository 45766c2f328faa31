//! FetchXML: reading (`ast`, over a small `xml` tree), condition operators (`ops`),
//! evaluation with joins and paging (`eval`) and the paging cookie (`cookie`).

pub mod ast;
pub mod cookie;
pub mod eval;
pub mod ops;
pub mod xml;

pub use eval::{MAX_PAGE, Page, count_matches, execute};

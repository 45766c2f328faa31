//! FetchXML for dynsync, pure and without I/O: the page query an execution sends to
//! Dataverse, the primary-id partitions it pages through, and Dataverse's paging cookie.
//!
//! Modules: `tree` (a small XML element tree read and written with quick-xml, so every
//! value is escaped and stored list queries are parsed, never spliced as text), `query`
//! (fields + record filter + fetch-mode window + keyset cursor + marketing list -> one
//! `<fetch>`), `list` (static lists through `listmember`, dynamic lists by rewriting their
//! stored query), `guid` (SQL Server uniqueidentifier order and partitions of the id
//! space), `cookie` (paging cookies: decoding Dataverse's annotation, and the cookie the
//! fallback synthesizes from a cursor where keyset conditions are refused), `error` (the
//! crate's one error type, always permanent). Depends only on `dynsync-domain`.

mod cookie;
mod error;
mod guid;
mod list;
mod query;
mod tree;

pub use cookie::{PagingCookie, cookie_after, decode_paging_cookie, with_paging_cookie};
pub use error::FetchXmlError;
pub use guid::{
    parse_guid, partition_contains, partitions, sql_server_cmp, sql_server_key, uuid_from_key,
};
pub use query::{MAX_IDS_PER_QUERY, PageQuery, cookie_page_query, ids_query, page_query};

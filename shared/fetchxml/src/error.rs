//! The crate's one error type. Everything here is about bad input (a stored list query, a
//! cursor, a cookie), so every error is permanent and says what to fix.

use dynsync_domain::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum FetchXmlError {
    /// A cursor or partition bound that is not a GUID.
    #[error(
        "{what} '{value}' is not a GUID; page cursors are primary ids such as 00000000-0000-0000-0000-000000000000"
    )]
    InvalidGuid { what: &'static str, value: String },
    /// The marketing list's stored query cannot be used.
    #[error(
        "the dynamic marketing list's stored query {problem}; open the list in Dynamics and save its query again"
    )]
    StoredQuery { problem: String },
    /// The dynamic list's query reads a different entity than its member type.
    #[error(
        "the dynamic marketing list's query reads '{query_entity}' but the list's members are '{entity}'; recreate the list for {entity} records"
    )]
    EntityMismatch {
        entity: String,
        query_entity: String,
    },
    /// A supplied XML fragment (record filter, paging cookie) is not well-formed.
    #[error("{what} is not well-formed XML ({problem})")]
    Malformed { what: &'static str, problem: String },
    /// The paging-cookie annotation lacks what the next page needs.
    #[error("the paging cookie annotation {problem}")]
    PagingCookie { problem: String },
    /// Writing the XML failed (cannot happen with an in-memory buffer, kept typed anyway).
    #[error("writing FetchXML failed: {0}")]
    Write(#[from] std::io::Error),
}

impl FetchXmlError {
    /// Bad input: retrying cannot help.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Permanent
    }
}

//! Error classification shared by every crate: each error says, where it is born, whether
//! trying again can help.

/// Whether an operation may succeed if tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Timeouts, connection errors, throttling (429), server errors (5xx): retry with backoff.
    Transient,
    /// Bad credentials, invalid queries, other 4xx, bad input: retrying cannot help.
    Permanent,
}

impl ErrorKind {
    pub fn is_transient(self) -> bool {
        self == ErrorKind::Transient
    }
}

//! The Insider client's one error type. Each variant is classified where it is born:
//! throttling, server errors and transport failures are transient (already retried by the
//! client when they surface); credentials, limits and other 4xx are permanent and say what
//! to fix. No variant carries the token.

use dynsync_domain::ErrorKind;
use dynsync_domain::ports::SecretError;

#[derive(Debug, thiserror::Error)]
pub enum InsiderError {
    #[error("invalid insider.api_url '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },

    #[error(
        "the Insider token secret contains characters that cannot be sent in an HTTP header; \
         store the UCD API key exactly as Insider shows it"
    )]
    InvalidToken,

    #[error(
        "invalid insider.partner: it cannot be sent in an HTTP header; use the lowercase partner name"
    )]
    InvalidPartnerHeader,

    #[error("could not build the HTTP client for Insider")]
    Client(#[source] reqwest::Error),

    #[error("Partner token authentication failed: check insider.partner and the token secret")]
    Unauthorized,

    #[error(
        "Insider refused the token (401) and re-reading the token secret '{name}' failed: {source}"
    )]
    TokenSecret {
        name: String,
        #[source]
        source: SecretError,
    },

    #[error(
        "Partner is invalid: check insider.partner (the lowercase partner name from InOne > \
         Inone Settings > Account Settings)"
    )]
    InvalidPartner,

    #[error(
        "Insider refused the request (403 Forbidden): stop sending, check insider.partner, the \
         token secret and any IP allow-list on the Upsert API, then retry"
    )]
    Forbidden,

    /// A body dynsync itself found too big before sending (batches are split under the
    /// limit, so this is a dynsync defect, not a setting).
    #[error(
        "a batch's request body of {bytes} bytes is over Insider's 5,000,000-byte limit and was \
         not sent; this is a dynsync bug (batches are split under the limit): please report it \
         with the definition"
    )]
    TooLarge { bytes: usize },

    /// Insider (or a proxy in front of it) answered 413 to a body under the documented limit.
    #[error(
        "Insider answered 413 Payload Too Large to a request of {bytes} bytes (under its \
         documented 5,000,000-byte limit, so a proxy or a lower limit on the account refused \
         it); make requests smaller by lowering dynamics.page_size or mapping fewer or shorter \
         attributes and event params, then run again"
    )]
    PayloadTooLarge { bytes: usize },

    #[error(
        "a batch of {count} users is over Insider's 1,000-user limit and was not sent; this is \
         a dynsync bug (batches are split under the limit): please report it with the definition"
    )]
    TooManyUsers { count: usize },

    #[error("Insider rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },

    #[error(
        "Insider kept throttling (429 Too Many Requests) after {attempts} attempts; lower the sync frequency or page size"
    )]
    Throttled { attempts: u32 },

    #[error(
        "Insider failed with HTTP {status} after {attempts} attempts: {message}; Insider is \
         having trouble on its side: run again later (the next run picks up the same window), \
         or raise dynamics.retries (also Insider's retries) to ride out longer outages"
    )]
    Server {
        status: u16,
        attempts: u32,
        message: String,
    },

    #[error("request to Insider failed after {attempts} attempts ({what})")]
    Transport {
        attempts: u32,
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },

    #[error("Insider's reply could not be read: {reason}")]
    BadReply { reason: String },

    #[error(
        "{last}; not retried: the wait of {wait_secs} s before the next attempt would outlive the invocation, so the page is handed back to be retried by a later delivery"
    )]
    WouldOutliveInvocation {
        wait_secs: u64,
        last: Box<InsiderError>,
    },
}

impl InsiderError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            InsiderError::Throttled { .. }
            | InsiderError::Server { .. }
            | InsiderError::Transport { .. }
            | InsiderError::WouldOutliveInvocation { .. } => ErrorKind::Transient,
            InsiderError::TokenSecret { source, .. } => source.kind(),
            InsiderError::InvalidUrl { .. }
            | InsiderError::InvalidToken
            | InsiderError::InvalidPartnerHeader
            | InsiderError::Client(_)
            | InsiderError::Unauthorized
            | InsiderError::InvalidPartner
            | InsiderError::Forbidden
            | InsiderError::TooLarge { .. }
            | InsiderError::PayloadTooLarge { .. }
            | InsiderError::TooManyUsers { .. }
            | InsiderError::Rejected { .. }
            | InsiderError::BadReply { .. } => ErrorKind::Permanent,
        }
    }

    /// Whether every further request with the same credentials would fail the same way.
    pub fn is_credential_error(&self) -> bool {
        matches!(
            self,
            InsiderError::Unauthorized | InsiderError::InvalidPartner | InsiderError::Forbidden
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_transient_and_credentials_are_permanent() {
        assert_eq!(
            InsiderError::Throttled { attempts: 4 }.kind(),
            ErrorKind::Transient
        );
        assert_eq!(InsiderError::Unauthorized.kind(), ErrorKind::Permanent);
        assert!(InsiderError::Unauthorized.is_credential_error());
        assert!(InsiderError::Unauthorized.to_string().starts_with(
            "Partner token authentication failed: check insider.partner and the token secret"
        ));
    }
}

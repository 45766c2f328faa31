//! dynsync's Dataverse + Entra ID client: what the engine and the CLI know of Dynamics 365.
//!
//! Modules: `error` (one [`DynamicsError`], classified transient/permanent where it is born,
//! each message saying what to fix; `error/reply.rs` reads Entra ID and Dataverse refusals
//! into it), `token` (client-credentials and refresh-token grants, a cached access token
//! shared by concurrent callers, rotated refresh tokens written back), `pkce` (PKCE and the
//! authorize URL for `dynsync auth login`), `transport` (timeouts and retries with backoff,
//! jitter and `Retry-After`), `client` (authorised Web API calls, a 401 refreshes once),
//! `parallelism` (the client's adaptive gate on requests in flight: configured
//! concurrency, `x-ms-dop-hint`, halved on a throttle, back up after successes),
//! `discovery` (WhoAmI, entities, attributes, option-set labels, marketing lists), `fetch`
//! (FetchXML queries, through `$batch` when the URL is too long; `fetch/decode.rs` decodes
//! the page and `$batch` replies), `changes` (change tracking: change pages, then the changed
//! ids' records through FetchXML with the record filter) and `source` (the engine's
//! [`dynsync_domain::ports::DataSource`]; `source/paged.rs` checks each page's primary ids
//! and applies the paging-cookie fallback's partition bounds).
//! Must not depend on the AWS SDK or engine internals.

mod changes;
mod client;
mod discovery;
mod error;
mod fetch;
mod parallelism;
mod pkce;
mod source;
mod token;
mod transport;

pub use changes::{ChangeRead, ChangeTable, IDS_PER_QUERY, MAX_CHANGES_PER_PAGE, MAX_LINK};
pub use client::DataverseClient;
pub use discovery::{AttributeInfo, EntityInfo, ListInfo, WhoAmI};
pub use error::DynamicsError;
pub use fetch::{FetchPage, decode_page};
pub use parallelism::{DEFAULT_CONCURRENCY, RECOVERY_RUN};
pub use pkce::{AuthorizeRequest, Pkce, authorize_url, exchange_code, random_state};
pub use source::DataverseSource;
pub use token::{AccessToken, TokenProvider};

//! Everything that can go wrong talking to Entra ID and Dataverse, classified where it is
//! born: transient (timeouts, connection errors, 429, 5xx, a reply cut short) or permanent
//! (credentials, consent, queries). Messages say what to fix and never hold a token or a
//! secret value.

use dynsync_domain::ErrorKind;
use dynsync_domain::ports::SecretError;
use dynsync_fetchxml::FetchXmlError;

mod reply;

pub(crate) use reply::TokenErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum DynamicsError {
    #[error(
        "Entra ID rejected the client secret (AADSTS7000215): put the secret's Value in the secret store, not its Secret ID"
    )]
    InvalidClientSecret,
    #[error(
        "the client secret has expired (AADSTS7000222): create a new one under Certificates & secrets of the app registration and store its Value"
    )]
    ExpiredClientSecret,
    #[error(
        "Entra ID does not know application '{client_id}' in this tenant (AADSTS{code}): check client_id and the tenant in token_url"
    )]
    UnknownApplication { client_id: String, code: u32 },
    #[error(
        "the stored refresh token is no longer valid (AADSTS{code}): run `dynsync auth login FILE` to sign in again"
    )]
    RefreshTokenExpired { code: u32 },
    #[error("no refresh token is stored under '{name}': run `dynsync auth login FILE` first")]
    MissingRefreshToken { name: String },
    #[error(
        "consent has not been granted (AADSTS65001): an administrator must grant the app's Dynamics CRM user_impersonation permission"
    )]
    ConsentRequired,
    #[error(
        "the Dataverse organization in the scope was not found in this tenant (AADSTS500011): check that scopes use your organization URL, e.g. https://contoso.crm4.dynamics.com/.default"
    )]
    WrongResource,
    #[error(
        "the tenant in token_url was not found (AADSTS90002): use your tenant id or domain, e.g. https://login.microsoftonline.com/<tenant-id>/oauth2/v2.0/token"
    )]
    TenantNotFound,
    #[error("Entra ID refused the token request ({error}{}): {summary}", code.map(|c| format!(", AADSTS{c}")).unwrap_or_default())]
    TokenRejected {
        error: String,
        code: Option<u32>,
        summary: String,
    },
    #[error("the definition's Dynamics settings are unusable: {problem}")]
    Config { problem: String },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("Dataverse refused the access token (401): register the app as an application user in the Power Platform admin center (Environments > Settings > Users + permissions > Application users){}", detail_suffix(.detail))]
    Unauthorized { detail: String },
    #[error("Dataverse denied access (403): give the application user a security role with read access to the entity (and to marketing lists){}", detail_suffix(.detail))]
    Forbidden { detail: String },
    #[error(
        "the entity has no attribute '{attribute}' (0x80041103): remove it from source.fields/filter or fix its logical name (`dynsync fields FILE` lists them)"
    )]
    UnknownAttribute { attribute: String },
    #[error("Dataverse rejected the FetchXML query ({code}): {message}")]
    InvalidFetchXml { code: String, message: String },
    #[error("{what} was not found in Dataverse{}: {message}", code_suffix(.code))]
    NotFound {
        what: String,
        code: String,
        message: String,
    },
    #[error("Dataverse rejected the request with {status}{}: {message}", code_suffix(.code))]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{service} is throttling requests (429{}) and still was after {attempts} attempts: lower dynamics.partitions or run later", code_suffix(.code))]
    Throttled {
        service: &'static str,
        code: String,
        attempts: u32,
    },
    #[error("{service} answered {status} after {attempts} attempts: {message}")]
    Server {
        service: &'static str,
        status: u16,
        message: String,
        attempts: u32,
    },
    #[error(
        "{service} did not answer within {timeout_ms} ms ({attempts} attempts): raise dynamics.request_timeout_ms or check the network"
    )]
    Timeout {
        service: &'static str,
        timeout_ms: u64,
        attempts: u32,
    },
    #[error(
        "cannot reach {service} ({attempts} attempts): {detail}; check the URL and the network"
    )]
    Connection {
        service: &'static str,
        detail: String,
        attempts: u32,
    },
    #[error("{service} sent a malformed reply ({detail}) after {attempts} attempts")]
    MalformedReply {
        service: &'static str,
        detail: String,
        attempts: u32,
    },
    #[error(
        "{last}; not retried: the wait of {wait_secs} s before the next attempt would outlive the invocation, so the page is handed back to be retried by a later delivery"
    )]
    WouldOutliveInvocation {
        wait_secs: u64,
        last: Box<DynamicsError>,
    },
    #[error(
        "no marketing list named '{name}': check source.list (`dynsync lists FILE` shows them)"
    )]
    ListNotFound { name: String },
    #[error("{} marketing lists are named '{name}' ({}): put one id in source.list", ids.len(), ids.join(", "))]
    AmbiguousList { name: String, ids: Vec<String> },
    #[error(
        "the marketing list's members are {member_type}, which dynsync cannot read: use a list of accounts, contacts or leads"
    )]
    UnsupportedListMembers { member_type: String },
    #[error(transparent)]
    FetchXml(#[from] FetchXmlError),
    #[error(
        "Dataverse no longer has the changes since the stored change-tracking token (0x80044352: {message}): the organization keeps changes only for its ExpireChangeTrackingInDays; a full read starts tracking again"
    )]
    ChangeTokenExpired { message: String },
    #[error(
        "change tracking is off for table '{entity}' (0x80072491): turn on \"Track changes\" for table {entity} in Power Apps: Tables > {entity} > Properties > Advanced options, then run again"
    )]
    ChangeTrackingOff { entity: String },
    #[error(
        "the change-tracking link points at {got}, not at web_api_url ({expected}): dynsync follows only links of the configured organization; if web_api_url changed, clear the stored token so a full read starts again"
    )]
    UntrustedLink { got: String, expected: String },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" (Dataverse said: {detail})")
    }
}

fn code_suffix(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(", {code}")
    }
}

impl DynamicsError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Throttled { .. }
            | Self::Server { .. }
            | Self::Timeout { .. }
            | Self::Connection { .. }
            | Self::MalformedReply { .. }
            | Self::WouldOutliveInvocation { .. } => ErrorKind::Transient,
            Self::Secret(e) => e.kind(),
            Self::FetchXml(e) => e.kind(),
            _ => ErrorKind::Permanent,
        }
    }
}

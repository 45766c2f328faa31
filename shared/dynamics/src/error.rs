//! Everything that can go wrong talking to Entra ID and Dataverse, classified where it is
//! born: transient (timeouts, connection errors, 429, 5xx, a reply cut short) or permanent
//! (credentials, consent, queries). Messages say what to fix and never hold a token or a
//! secret value.

use dynsync_domain::ErrorKind;
use dynsync_domain::ports::SecretError;
use dynsync_fetchxml::FetchXmlError;

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

    /// Whether this is an organization refusing a range condition (`gt`, `ge`, `lt`, `le`)
    /// on the primary id, the refusal that switches paging to the paging cookie: a 400
    /// (Dataverse's invalid-argument `0x80040203` or another rejection) whose message names
    /// the primary id and says an operator is not valid or supported for it.
    pub fn refuses_primary_id_range(&self, primary_id: &str) -> bool {
        let message = match self {
            Self::InvalidFetchXml { message, .. }
            | Self::Rejected {
                status: 400,
                message,
                ..
            } => message.to_ascii_lowercase(),
            _ => return false,
        };
        let names_id = message.contains(&format!("'{}'", primary_id.to_ascii_lowercase()));
        let operator = [
            "'gt'",
            "'ge'",
            "'lt'",
            "'le'",
            "greaterthan",
            "lessthan",
            "operator",
        ]
        .iter()
        .any(|w| message.contains(w));
        let refused = [
            "not valid",
            "invalid",
            "not supported",
            "unsupported",
            "not allowed",
        ]
        .iter()
        .any(|w| message.contains(w));
        names_id && operator && refused
    }

    /// The error for an Entra ID token endpoint reply that is not a token.
    pub(crate) fn from_token_reply(client_id: &str, body: &TokenErrorBody) -> Self {
        let code = body
            .error_codes
            .first()
            .copied()
            .or_else(|| aadsts_code(&body.error_description));
        match code {
            Some(7_000_215) => Self::InvalidClientSecret,
            Some(7_000_222) => Self::ExpiredClientSecret,
            Some(c @ (700_016 | 700_011)) => Self::UnknownApplication {
                client_id: client_id.to_owned(),
                code: c,
            },
            Some(c @ (70_008 | 700_082 | 70_043)) => Self::RefreshTokenExpired { code: c },
            Some(65_001) => Self::ConsentRequired,
            Some(500_011) => Self::WrongResource,
            Some(90_002) => Self::TenantNotFound,
            _ if body.error == "invalid_grant" && code.is_none() => {
                Self::RefreshTokenExpired { code: 70_008 }
            }
            _ => Self::TokenRejected {
                error: body.error.clone(),
                code,
                summary: first_line(&body.error_description),
            },
        }
    }

    /// The error for a Dataverse reply with a 4xx status other than 429.
    pub(crate) fn from_dataverse_reply(status: u16, code: String, message: String) -> Self {
        let message = first_line(&message);
        match (status, code.to_ascii_lowercase().as_str()) {
            (_, "0x80041103") => Self::UnknownAttribute {
                attribute: quoted_after(&message, "Name = '").unwrap_or(message),
            },
            (401, _) => Self::Unauthorized { detail: message },
            (403, _) => Self::Forbidden { detail: message },
            (_, "0x80040203") => Self::InvalidFetchXml { code, message },
            (_, "0x80044352") => Self::ChangeTokenExpired { message },
            (_, "0x80072491") => Self::ChangeTrackingOff {
                entity: entity_named(&message).unwrap_or_default(),
            },
            (404, _) | (_, "0x80041102") => Self::NotFound {
                what: "the requested resource".to_owned(),
                code,
                message,
            },
            _ => Self::Rejected {
                status,
                code,
                message,
            },
        }
    }
}

/// Entra ID's error reply (`error`, `error_description`, `error_codes`).
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct TokenErrorBody {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_description: String,
    #[serde(default)]
    pub error_codes: Vec<u32>,
}

/// `AADSTS7000215: ...` -> 7000215.
fn aadsts_code(description: &str) -> Option<u32> {
    let rest = &description[description.find("AADSTS")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Entra descriptions carry trace and correlation ids on later lines; keep the first.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
}

/// `Entity contact isn't enabled for change tracking.` -> `contact`.
fn entity_named(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Entity ")?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

fn quoted_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let rest = text.get(start..)?;
    Some(rest[..rest.find('\'')?].to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn token(error: &str, description: &str, codes: &[u32]) -> DynamicsError {
        DynamicsError::from_token_reply(
            "app-id",
            &TokenErrorBody {
                error: error.to_owned(),
                error_description: description.to_owned(),
                error_codes: codes.to_vec(),
            },
        )
    }

    #[test]
    fn entra_codes_become_errors_that_name_the_fix() {
        let cases: [(&[u32], &str); 9] = [
            (&[7_000_215], "not its Secret ID"),
            (&[7_000_222], "has expired"),
            (&[700_016], "check client_id"),
            (&[70_008], "dynsync auth login"),
            (&[700_082], "dynsync auth login"),
            (&[70_043], "dynsync auth login"),
            (&[65_001], "grant"),
            (&[500_011], "organization URL"),
            (&[90_002], "tenant"),
        ];
        for (codes, fix) in cases {
            let error = token("invalid_client", "", codes);
            assert!(error.to_string().contains(fix), "{codes:?}: {error}");
            assert_eq!(error.kind(), ErrorKind::Permanent);
        }
    }

    #[test]
    fn the_code_is_read_from_the_description_when_error_codes_are_missing() {
        let error = token(
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x",
            &[],
        );
        assert!(matches!(error, DynamicsError::InvalidClientSecret));
        let other = token(
            "invalid_scope",
            "AADSTS70011: bad scope.\r\nTrace ID: x",
            &[],
        );
        assert_eq!(
            other.to_string(),
            "Entra ID refused the token request (invalid_scope, AADSTS70011): AADSTS70011: bad scope."
        );
    }

    #[test]
    fn an_unknown_attribute_is_named() {
        let error = DynamicsError::from_dataverse_reply(
            400,
            "0x80041103".to_owned(),
            "'contact' entity doesn't contain attribute with Name = 'emailadress1' and NameMapping = 'Logical'.".to_owned(),
        );
        assert!(error.to_string().contains("no attribute 'emailadress1'"));
    }

    #[test]
    fn a_refused_range_on_the_primary_id_is_recognised_and_nothing_else_is() {
        let refusal = |code: &str, message: &str| {
            DynamicsError::from_dataverse_reply(400, code.to_owned(), message.to_owned())
        };
        let emulator = refusal(
            "0x80040203",
            "The operator 'gt' is not valid for attribute 'contactid' of type 'Uniqueidentifier' of entity 'contact'.",
        );
        assert!(emulator.refuses_primary_id_range("contactid"));
        assert!(!emulator.refuses_primary_id_range("accountid"));
        assert!(
            refusal(
                "0x8004431a",
                "Condition operator GreaterThan is not supported for attribute 'contactid'."
            )
            .refuses_primary_id_range("contactid")
        );
        for other in [
            refusal("0x80040203", "Invalid XML: unexpected end of input."),
            refusal("0x80040203", "The 'count' attribute of <fetch> must be between 1 and 5000, got 0."),
            DynamicsError::from_dataverse_reply(
                400,
                "0x80041103".to_owned(),
                "'contact' entity doesn't contain attribute with Name = 'contactid' and NameMapping = 'Logical'.".to_owned(),
            ),
            DynamicsError::from_dataverse_reply(
                403,
                String::new(),
                "The operator 'gt' is not valid for attribute 'contactid'.".to_owned(),
            ),
        ] {
            assert!(!other.refuses_primary_id_range("contactid"), "{other}");
        }
    }

    #[test]
    fn change_tracking_errors_are_typed_permanent_and_name_the_fix() {
        let expired = DynamicsError::from_dataverse_reply(
            400,
            "0x80044352".to_owned(),
            "Version stamp associated with the client has expired. Please perform a full sync."
                .to_owned(),
        );
        assert!(matches!(expired, DynamicsError::ChangeTokenExpired { .. }));
        assert_eq!(expired.kind(), ErrorKind::Permanent);
        let off = DynamicsError::from_dataverse_reply(
            400,
            "0x80072491".to_owned(),
            "Entity contact isn't enabled for change tracking.".to_owned(),
        );
        assert_eq!(off.kind(), ErrorKind::Permanent);
        assert!(
            off.to_string().contains(
                "turn on \"Track changes\" for table contact in Power Apps: Tables > contact > Properties > Advanced options"
            ),
            "{off}"
        );
    }

    #[test]
    fn dataverse_401_and_403_hint_at_the_application_user_and_its_role() {
        let e401 = DynamicsError::from_dataverse_reply(401, String::new(), String::new());
        assert!(e401.to_string().contains("application user"));
        let e403 = DynamicsError::from_dataverse_reply(403, String::new(), "no".to_owned());
        assert!(e403.to_string().contains("security role"));
    }
}

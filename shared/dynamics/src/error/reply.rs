//! Reading a refusal: Entra ID token replies and Dataverse error replies become the
//! [`DynamicsError`] that names the fix, and the paging-cookie refusal is recognised.

use super::DynamicsError;

impl DynamicsError {
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
    use dynsync_domain::ErrorKind;

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

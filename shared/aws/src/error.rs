//! The crate's one error type. Every SDK failure is classified here, where it is born:
//! throttling, 5xx, timeouts and connection failures are transient; validation errors,
//! missing resources and denied permissions are permanent and say what to fix (for a
//! denied call: the IAM action and the resource it was denied on).

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use dynsync_domain::ErrorKind;
use dynsync_domain::ports::PortError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// IAM refused the call (or the credentials are not valid).
    #[error(
        "AWS denied {action} on {resource}: grant the IAM action {action} on it to the role \
         dynsync runs as ({code}: {message})"
    )]
    AccessDenied {
        action: &'static str,
        resource: String,
        code: String,
        message: String,
    },
    /// The table, queue or secret does not exist.
    #[error(
        "{resource} does not exist ({action} failed with {code}): deploy the stack \
         (template.yaml) or fix the configured name"
    )]
    NotFound {
        action: &'static str,
        resource: String,
        code: String,
    },
    /// The service answered with an error.
    #[error("{action} on {resource} failed: {code}: {message}")]
    Service {
        action: &'static str,
        resource: String,
        code: String,
        message: String,
        kind: ErrorKind,
        #[source]
        source: Option<BoxError>,
    },
    /// No usable answer: timeout, connection failure, unparseable response.
    #[error("{action} on {resource} did not complete: {detail}")]
    Unreachable {
        action: &'static str,
        resource: String,
        detail: String,
        kind: ErrorKind,
        #[source]
        source: Option<BoxError>,
    },
    /// A stored item does not have the shape this crate writes.
    #[error("{resource}: item {key} is unreadable: {detail}")]
    Corrupt {
        resource: String,
        key: String,
        detail: String,
    },
    /// The store's state does not allow the call (a missing execution, a page that was
    /// never registered, an execution id used twice): a bug in the caller, not retryable.
    #[error("{resource}: {detail}")]
    State { resource: String, detail: String },
    /// A value could not be turned into a request (it never left the process).
    #[error("{action} on {resource}: cannot encode the request: {detail}")]
    Encode {
        action: &'static str,
        resource: String,
        detail: String,
    },
    /// Retries of a transient condition (conflicting transactions, unprocessed keys) ran out.
    #[error("{action} on {resource} kept failing: {detail}; try again later")]
    RetriesExhausted {
        action: &'static str,
        resource: String,
        detail: String,
    },
}

impl AwsError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AwsError::AccessDenied { .. }
            | AwsError::NotFound { .. }
            | AwsError::Corrupt { .. }
            | AwsError::State { .. }
            | AwsError::Encode { .. } => ErrorKind::Permanent,
            AwsError::Service { kind, .. } | AwsError::Unreachable { kind, .. } => *kind,
            AwsError::RetriesExhausted { .. } => ErrorKind::Transient,
        }
    }

    /// Classifies an SDK failure of `action` (the IAM action name, `dynamodb:PutItem`) on
    /// `resource` (`table 'dynsync'`).
    pub(crate) fn from_sdk<E>(
        action: &'static str,
        resource: &str,
        error: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let resource = resource.to_owned();
        match &error {
            SdkError::ServiceError(_) => {
                let code = error.code().unwrap_or("Unknown").to_owned();
                let message = error.message().unwrap_or("").to_owned();
                let status = error.raw_response().map(|r| r.status().as_u16());
                classify_service(action, resource, code, message, status, error.into())
            }
            SdkError::ConstructionFailure(_) => AwsError::Unreachable {
                action,
                resource,
                detail: format!("the request could not be built: {error}"),
                kind: ErrorKind::Permanent,
                source: Some(error.into()),
            },
            _ => AwsError::Unreachable {
                action,
                resource,
                detail: sdk_detail(&error),
                kind: ErrorKind::Transient,
                source: Some(error.into()),
            },
        }
    }
}

fn sdk_detail<E, R>(error: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let what = match error {
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(_) => "could not send the request",
        SdkError::ResponseError(_) => "the response could not be read",
        _ => "failed",
    };
    match std::error::Error::source(error) {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_owned(),
    }
}

/// Service error codes (any of the three services) that mean "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottled",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "TooManyRequestsException",
    "TransactionConflictException",
    "InternalServerError",
    "InternalServiceError",
    "InternalServiceErrorException",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "KmsThrottled",
    "KMS.ThrottlingException",
    "ExpiredTokenException",
    "RequestTimeout",
    "RequestTimeoutException",
];

const DENIED_CODES: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "KmsAccessDenied",
    "KMS.AccessDeniedException",
];

const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

fn classify_service(
    action: &'static str,
    resource: String,
    code: String,
    message: String,
    status: Option<u16>,
    source: BoxError,
) -> AwsError {
    let code_is = |list: &[&str]| list.iter().any(|c| *c == code);
    if code_is(DENIED_CODES) {
        return AwsError::AccessDenied {
            action,
            resource,
            code,
            message,
        };
    }
    if code_is(NOT_FOUND_CODES) {
        return AwsError::NotFound {
            action,
            resource,
            code,
        };
    }
    let transient =
        code_is(TRANSIENT_CODES) || status.is_some_and(|s| s == 429 || (500..600).contains(&s));
    AwsError::Service {
        action,
        resource,
        code,
        message,
        kind: if transient {
            ErrorKind::Transient
        } else {
            ErrorKind::Permanent
        },
        source: Some(source),
    }
}

impl From<AwsError> for PortError {
    fn from(error: AwsError) -> Self {
        PortError::from_error(error.kind(), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(code: &str, status: Option<u16>) -> AwsError {
        classify_service(
            "dynamodb:PutItem",
            "table 'dynsync'".to_owned(),
            code.to_owned(),
            "msg".to_owned(),
            status,
            "cause".into(),
        )
    }

    #[test]
    fn throttling_and_server_errors_are_transient() {
        for (code, status) in [
            ("ThrottlingException", Some(400)),
            ("ProvisionedThroughputExceededException", Some(400)),
            ("SomethingNew", Some(503)),
            ("SomethingNew", Some(429)),
        ] {
            assert_eq!(
                classify(code, status).kind(),
                ErrorKind::Transient,
                "{code}"
            );
        }
    }

    #[test]
    fn validation_errors_are_permanent() {
        assert_eq!(
            classify("ValidationException", Some(400)).kind(),
            ErrorKind::Permanent
        );
    }

    #[test]
    fn access_denied_names_the_action_and_the_resource() {
        let error = classify("AccessDeniedException", Some(400));
        assert_eq!(error.kind(), ErrorKind::Permanent);
        let text = error.to_string();
        assert!(text.contains("dynamodb:PutItem"), "{text}");
        assert!(text.contains("table 'dynsync'"), "{text}");
    }

    #[test]
    fn a_missing_table_is_permanent_and_says_to_deploy() {
        let error = classify("ResourceNotFoundException", Some(400));
        assert_eq!(error.kind(), ErrorKind::Permanent);
        assert!(error.to_string().contains("template.yaml"));
    }
}

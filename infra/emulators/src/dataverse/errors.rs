//! Dataverse-shaped Web API errors: `{"error":{"code":"0x8004...","message":"..."}}` with
//! the HTTP status Dataverse uses for each case.

use axum::http::StatusCode;
use serde_json::json;

/// An error reply of the Web API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// Malformed or unsupported FetchXML (`0x80040203`, Invalid Argument).
    pub fn invalid_fetchxml(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "0x80040203", message)
    }

    /// A column the table does not have (`0x80041103`).
    pub fn no_attribute(entity: &str, attribute: &str) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "0x80041103",
            format!(
                "'{entity}' entity doesn't contain attribute with Name = '{attribute}' and NameMapping = 'Logical'."
            ),
        )
    }

    /// A table the organisation does not have (`0x80041102`).
    pub fn no_entity(entity: &str) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "0x80041102",
            format!(
                "The entity with a name = '{entity}' with namemapping = 'Logical' was not found in the MetadataCache."
            ),
        )
    }

    /// An unknown URL segment (`0x8006088a`, 404).
    pub fn not_found_segment(segment: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "0x8006088a",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    /// A malformed OData query option (`0x80060888`).
    pub fn bad_query(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "0x80060888", message)
    }

    /// Missing, unknown or expired bearer token (401).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "0x8005F101", message)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": { "code": self.code, "message": self.message } })
    }
}

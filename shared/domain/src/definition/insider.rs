//! The Insider side of a definition: the identifier, field and event mappings that shape
//! each user, and the `insider` settings (endpoint, partner, token, batch behaviour).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{DEFAULT_INSIDER_API_URL, SecretRef};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifierMapping {
    /// `email`, `phone_number`, `uuid` or `custom`.
    #[serde(rename = "type")]
    pub kind: IdentifierType,
    /// `type: custom` only: the custom identifier's name in Insider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The Dataverse field holding the value.
    pub field: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierType {
    Email,
    PhoneNumber,
    Uuid,
    Custom,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvalidIdentifierStrategy {
    /// Drop the invalid identifier; upsert with the valid ones.
    #[default]
    SkipIdentifier,
    /// Drop the whole record when any identifier is invalid.
    SkipUser,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneSettings {
    /// Strip non-digit characters and add a `+` (E.164).
    #[serde(default)]
    pub international_format: bool,
    /// Dial code (1 to 3 digits, e.g. "90"; a leading `+` is tolerated) prepended when a
    /// number has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

/// A Dataverse field mapped to an Insider attribute or event parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// Insider key: a standard key, or `custom.<key>`.
    pub key: String,
    /// The Dataverse field providing the value.
    pub field: String,
    /// Send the option-set label instead of the numeric code.
    #[serde(default)]
    pub code_to_label: bool,
    /// Per-code label overrides; win over Dataverse's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Flip a boolean (true/false, 1/0, "true"/"false") before sending.
    #[serde(default)]
    pub invert_boolean: bool,
}

/// A constant attribute or event parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixedValue {
    /// Insider key: a standard key, or `custom.<key>`.
    pub key: String,
    /// A string, number or boolean.
    pub value: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventMapping {
    /// A fixed event name, or one read from a field and translated through `mappings`.
    pub name: EventName,
    /// `processing_time` (the execution's start) or `{ field: FIELD }`.
    #[serde(default)]
    pub timestamp: TimestampSource,
    /// Field -> event parameter mappings.
    #[serde(default)]
    pub params: Vec<FieldMapping>,
    /// Constant event parameters.
    #[serde(default)]
    pub fixed_params: Vec<FixedValue>,
}

/// Where an event's name comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum EventName {
    /// `{ fixed: purchase }`: the same event for every record.
    Fixed {
        /// The event name, e.g. `purchase` (`^[a-z0-9][a-zA-Z0-9._-]*$`).
        fixed: String,
    },
    /// `{ field: new_eventtype, mappings: { "100000000": purchase } }`: the field's value,
    /// translated through `mappings`; a value with no row sends no event.
    FromField {
        /// The Dataverse field holding the event type.
        field: String,
        /// Field value -> Insider event name; at least one row.
        #[serde(default)]
        mappings: BTreeMap<String, String>,
    },
}

/// Where an event's timestamp comes from: `processing_time` or `{ field: createdon }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "TimestampRepr", into = "TimestampRepr")]
#[schemars(with = "TimestampRepr")]
pub enum TimestampSource {
    /// The execution's start time.
    #[default]
    ProcessingTime,
    /// A date/time field of the record (for historical imports).
    Field(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
enum TimestampRepr {
    Keyword(TimestampKeyword),
    Field {
        /// A date/time field of the record.
        field: String,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum TimestampKeyword {
    ProcessingTime,
}

impl From<TimestampRepr> for TimestampSource {
    fn from(repr: TimestampRepr) -> Self {
        match repr {
            TimestampRepr::Keyword(TimestampKeyword::ProcessingTime) => Self::ProcessingTime,
            TimestampRepr::Field { field } => Self::Field(field),
        }
    }
}

impl From<TimestampSource> for TimestampRepr {
    fn from(source: TimestampSource) -> Self {
        match source {
            TimestampSource::ProcessingTime => Self::Keyword(TimestampKeyword::ProcessingTime),
            TimestampSource::Field(field) => Self::Field { field },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InsiderSettings {
    /// Insider's upsert endpoint (`https://`; plain `http://` only for a loopback host).
    #[serde(default = "default_insider_api_url")]
    pub api_url: String,
    /// `X-PARTNER-NAME`, lowercase.
    pub partner: String,
    /// `X-REQUEST-TOKEN`, as a secret reference.
    pub token: SecretRef,
    /// Suppress Architect journey triggers for the users synced.
    #[serde(default)]
    pub skip_hook: bool,
    /// Stop at the first failed upsert batch.
    #[serde(default)]
    pub fast_fail: bool,
    /// For `code_to_label` mappings when a code has no label.
    #[serde(default)]
    pub unknown_code: UnknownCodeBehavior,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownCodeBehavior {
    /// Send the numeric code as Dataverse returned it.
    #[default]
    Raw,
    /// Omit the attribute for that record.
    SkipAttribute,
}

fn default_insider_api_url() -> String {
    DEFAULT_INSIDER_API_URL.to_owned()
}

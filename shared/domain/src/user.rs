//! An Insider user as the upsert API takes it (API-FACTS.md 1.2): identifiers, attributes
//! (standard keys at the root, custom ones under `custom`) and events. Mapping produces
//! these; the Insider client serialises them as they are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One user object of the upsert body's `users` array.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InsiderUser {
    pub identifiers: Identifiers,
    /// Standard attribute keys at the root; custom keys inside a `custom` object.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<InsiderEvent>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifiers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// E.164, e.g. `+905321234567`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, String>,
}

impl Identifiers {
    pub fn is_empty(&self) -> bool {
        self.email.is_none()
            && self.phone_number.is_none()
            && self.uuid.is_none()
            && self.custom.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InsiderEvent {
    pub event_name: String,
    /// RFC 3339 UTC ending in `Z`.
    pub timestamp: String,
    /// Standard parameters at the root; custom ones inside a `custom` object.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub event_params: serde_json::Map<String, serde_json::Value>,
}

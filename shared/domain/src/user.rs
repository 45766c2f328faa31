//! An Insider user as the upsert API takes it (API-FACTS.md 1.2): identifiers, attributes
//! (standard keys at the root, custom ones under `custom`) and events. Mapping produces
//! these; the Insider client serialises them as they are.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// One user object of the upsert body's `users` array.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InsiderUser {
    pub identifiers: Identifiers,
    /// Standard attribute keys at the root; custom keys inside a `custom` object.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
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
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub event_params: Attributes,
}

/// An attribute or event parameter name. Shared (`Arc`) between the mapping rule that writes
/// it and every user it is written for, so a page of users holds one copy of each name.
pub type Key = Arc<str>;

/// A user's attributes or an event's parameters as the upsert body has them: standard keys
/// at the root and custom ones inside `custom` (`{"name": "Ada", "custom": {"tier": 2}}`).
///
/// Two short lists rather than a map: setting a key scans the keys set before it, which for
/// the dozens of keys a mapping writes costs less than hashing, and a list needs no index
/// table and no copy of each name (the names are the rules' [`Key`]s). It reads and writes
/// exactly as the JSON object would: each key is held once and setting it again replaces
/// its value in place, the `custom` object sits where its first key was set, setting the
/// root key `custom` replaces the custom keys and a custom key replaces a root `custom`
/// value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes {
    root: Vec<(Key, Value)>,
    custom: Vec<(Key, Value)>,
    /// Where among the root keys the `custom` object is written (while it has keys).
    custom_at: usize,
}

/// The key under which custom attributes and parameters go.
const CUSTOM: &str = "custom";

impl Attributes {
    /// Room for `root` standard and `custom` custom keys.
    pub fn with_capacity(root: usize, custom: usize) -> Self {
        Self {
            root: Vec::with_capacity(root),
            custom: Vec::with_capacity(custom),
            custom_at: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.root.is_empty() && self.custom.is_empty()
    }

    /// Sets a standard (root) key.
    pub fn set(&mut self, key: &Key, value: Value) {
        if &**key == CUSTOM && !self.custom.is_empty() {
            self.custom.clear();
            let at = self.custom_at.min(self.root.len());
            self.root.insert(at, (Arc::clone(key), value));
            self.custom_at = 0;
            return;
        }
        put(&mut self.root, key, value);
    }

    /// Sets a custom key (inside `custom`).
    pub fn set_custom(&mut self, key: &Key, value: Value) {
        if self.custom.is_empty() {
            self.custom_at = match self.root.iter().position(|(k, _)| &**k == CUSTOM) {
                Some(at) => {
                    self.root.remove(at);
                    at
                }
                None => self.root.len(),
            };
        }
        put(&mut self.custom, key, value);
    }

    /// The standard keys and their values, in the order they were first set.
    pub fn standard(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.root.iter().map(|(k, v)| (&**k, v))
    }

    /// The custom keys and their values, in the order they were first set.
    pub fn custom(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.custom.iter().map(|(k, v)| (&**k, v))
    }
}

fn put(entries: &mut Vec<(Key, Value)>, key: &Key, value: Value) {
    match entries.iter_mut().find(|(k, _)| k == key) {
        Some((_, slot)) => *slot = value,
        None => entries.push((Arc::clone(key), value)),
    }
}

/// A list of entries written as a JSON object.
struct Entries<'a>(&'a [(Key, Value)]);

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            map.serialize_entry(&**key, value)?;
        }
        map.end()
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let custom = !self.custom.is_empty();
        let mut map = serializer.serialize_map(Some(self.root.len() + usize::from(custom)))?;
        let (before, after) = match custom {
            true => self.root.split_at(self.custom_at.min(self.root.len())),
            false => (self.root.as_slice(), &[][..]),
        };
        for (key, value) in before {
            map.serialize_entry(&**key, value)?;
        }
        if custom {
            map.serialize_entry(CUSTOM, &Entries(&self.custom))?;
        }
        for (key, value) in after {
            map.serialize_entry(&**key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AttributesVisitor;

        impl<'de> Visitor<'de> for AttributesVisitor {
            type Value = Attributes;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of attributes")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                let mut attributes = Attributes::default();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    match value {
                        Value::Object(custom) if key == CUSTOM => {
                            for (key, value) in custom {
                                attributes.set_custom(&Key::from(key), value);
                            }
                        }
                        value => attributes.set(&Key::from(key), value),
                    }
                }
                Ok(attributes)
            }
        }

        deserializer.deserialize_map(AttributesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        Key::from(name)
    }

    #[test]
    fn attributes_serialise_as_the_upsert_body_object_and_read_back() {
        let mut attributes = Attributes::default();
        attributes.set(&key("name"), Value::from("Ada"));
        attributes.set_custom(&key("tier"), Value::from(2));
        attributes.set(&key("surname"), Value::from("Lovelace"));
        attributes.set(&key("name"), Value::from("Ada B."));
        let json = serde_json::to_string(&attributes).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"name":"Ada B.","custom":{"tier":2},"surname":"Lovelace"}"#
        );
        let back: Attributes = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, attributes);
        assert_eq!(
            back.standard().map(|(k, _)| k).collect::<Vec<_>>(),
            ["name", "surname"]
        );
        assert_eq!(
            back.custom().collect::<Vec<_>>(),
            [("tier", &Value::from(2))]
        );
    }

    #[test]
    fn the_root_key_custom_and_custom_keys_replace_each_other_as_in_the_object() {
        let mut attributes = Attributes::default();
        attributes.set(&key(CUSTOM), Value::from("plain"));
        attributes.set_custom(&key("tier"), Value::from(1));
        assert_eq!(
            serde_json::to_value(&attributes).unwrap_or_default(),
            serde_json::json!({"custom": {"tier": 1}})
        );
        attributes.set(&key("name"), Value::from("Ada"));
        attributes.set(&key(CUSTOM), Value::from("plain"));
        assert_eq!(
            serde_json::to_string(&attributes).unwrap_or_default(),
            r#"{"custom":"plain","name":"Ada"}"#
        );
        attributes.set_custom(&key("tier"), Value::from(3));
        assert_eq!(
            serde_json::to_string(&attributes).unwrap_or_default(),
            r#"{"custom":{"tier":3},"name":"Ada"}"#
        );
        assert!(Attributes::default().is_empty());
        assert!(!attributes.is_empty());
    }
}

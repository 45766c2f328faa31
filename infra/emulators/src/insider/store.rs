//! The emulator's profile store: users merge into profiles by identifier (same email, phone,
//! uuid or custom identifier -> same profile, so idempotent upserts are visible), attributes
//! merge key by key (arrays append unless `not_append`/`append: false`), identifiers are
//! only added, never changed (as with Insider), and events are appended (so duplicates are
//! visible).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// One profile as the emulator holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// The emulator's profile id (`p1`, `p2`, ...), standing in for Insider's `insider_id`.
    pub id: String,
    /// `email`, `phone_number`, `uuid` and `custom` identifiers, as received.
    pub identifiers: Map<String, Value>,
    pub attributes: Map<String, Value>,
    /// How many accepted users merged into this profile.
    pub upserts: u64,
}

impl Profile {
    pub fn email(&self) -> Option<&str> {
        self.identifiers.get("email").and_then(Value::as_str)
    }
}

/// One event as stored, with the profile it was appended to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub profile_id: String,
    pub event_name: String,
    pub timestamp: String,
    pub event_params: Map<String, Value>,
    /// The `skip_hook` of the request that carried it.
    pub skip_hook: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) profiles: Vec<Profile>,
    pub(crate) events: Vec<StoredEvent>,
    next_id: u64,
    /// `(kind, value)` -> index in `profiles`, so that matching a user stays O(1) with
    /// 100k profiles (identifiers are only ever added; [`Store::delete`] re-points the
    /// entries of the profiles after the one it removes).
    by_key: HashMap<(String, String), usize>,
}

/// `(kind, value)` pairs a user can be matched by.
fn keys(identifiers: &Map<String, Value>) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    for (kind, value) in identifiers {
        match (kind.as_str(), value) {
            ("custom", Value::Object(custom)) => {
                for (name, v) in custom {
                    if let Some(v) = v.as_str() {
                        keys.push((format!("custom.{name}"), v.to_owned()));
                    }
                }
            }
            (_, Value::String(v)) => keys.push((kind.clone(), v.clone())),
            _ => {}
        }
    }
    keys
}

impl Store {
    /// Deletes the profile the identifiers resolve to (as an upsert would resolve them)
    /// and its events; `false` when no profile holds any of them.
    pub(crate) fn delete(&mut self, identifiers: &Map<String, Value>) -> bool {
        let Some(index) = keys(identifiers)
            .iter()
            .filter_map(|k| self.by_key.get(k).copied())
            .min()
        else {
            return false;
        };
        if index >= self.profiles.len() {
            return false;
        }
        let removed = self.profiles.remove(index);
        self.events.retain(|e| e.profile_id != removed.id);
        self.by_key.retain(|_, at| *at != index);
        for at in self.by_key.values_mut() {
            if *at > index {
                *at -= 1;
            }
        }
        true
    }

    /// Applies one validated user.
    pub(crate) fn upsert(&mut self, user: &Map<String, Value>, skip_hook: bool) {
        let identifiers = user
            .get("identifiers")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let wanted = keys(&identifiers);
        let insider_id = user.get("insider_id").and_then(Value::as_str);
        let by_id = insider_id.and_then(|id| self.profiles.iter().position(|p| p.id == id));
        let by_key = wanted
            .iter()
            .filter_map(|k| self.by_key.get(k).copied())
            .min();
        let position = match (by_id, by_key) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let index = match position {
            Some(index) => index,
            None => {
                self.next_id += 1;
                self.profiles.push(Profile {
                    id: format!("p{}", self.next_id),
                    identifiers: Map::new(),
                    attributes: Map::new(),
                    upserts: 0,
                });
                self.profiles.len() - 1
            }
        };
        let append = match (user.get("append"), user.get("not_append")) {
            (Some(Value::Bool(append)), _) => *append,
            (_, Some(Value::Bool(not_append))) => !*not_append,
            _ => true,
        };
        let Some(profile) = self.profiles.get_mut(index) else {
            return;
        };
        profile.upserts += 1;
        add_identifiers(&mut profile.identifiers, &identifiers);
        for key in keys(&profile.identifiers) {
            self.by_key.entry(key).or_insert(index);
        }
        if let Some(Value::Object(attributes)) = user.get("attributes") {
            merge(&mut profile.attributes, attributes, append);
        }
        let profile_id = profile.id.clone();
        if let Some(Value::Array(events)) = user.get("events") {
            for event in events {
                self.events.push(StoredEvent {
                    profile_id: profile_id.clone(),
                    event_name: text(event.get("event_name")),
                    timestamp: text(event.get("timestamp")),
                    event_params: event
                        .get("event_params")
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default(),
                    skip_hook,
                });
            }
        }
    }
}

/// Identifiers are only ever added: Upsert cannot change an existing identifier.
fn add_identifiers(existing: &mut Map<String, Value>, incoming: &Map<String, Value>) {
    for (key, value) in incoming {
        match (existing.get_mut(key), value) {
            (Some(Value::Object(have)), Value::Object(new)) => {
                for (name, v) in new {
                    have.entry(name.clone()).or_insert_with(|| v.clone());
                }
            }
            (Some(_), _) => {}
            (None, _) => {
                existing.insert(key.clone(), value.clone());
            }
        }
    }
}

fn merge(existing: &mut Map<String, Value>, incoming: &Map<String, Value>, append: bool) {
    for (key, value) in incoming {
        match (existing.get_mut(key), value) {
            (Some(Value::Object(have)), Value::Object(new)) => merge(have, new, append),
            (Some(Value::Array(have)), Value::Array(new)) if append => {
                for item in new {
                    if !have.contains(item) {
                        have.push(item.clone());
                    }
                }
            }
            _ => {
                existing.insert(key.clone(), value.clone());
            }
        }
    }
}

fn text(value: Option<&Value>) -> String {
    value.and_then(Value::as_str).unwrap_or_default().to_owned()
}

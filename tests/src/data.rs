//! Test data on both sides: contacts seeded into the Dataverse emulator with chosen
//! `createdon`/`modifiedon` (so a test knows exactly which window holds them), and what the
//! Insider emulator holds per user, keyed by email (`c<i>@example.com`).

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{DateTime, Utc};
use dynsync_emulators::dataverse::{DataStore, Record};
use dynsync_emulators::insider::InsiderEmulator;
use uuid::Uuid;

/// The email of contact `i`.
pub fn email(i: usize) -> String {
    format!("c{i}@example.com")
}

/// Inserts contacts `range` (email `c<i>@example.com`, first name `F<i>`, last name `L<i>`,
/// active, city Istanbul for even `i` and London for odd), created and last modified at
/// `stamped`; returns their ids in `range` order.
pub fn add_contacts(
    store: &DataStore,
    range: Range<usize>,
    stamped: DateTime<Utc>,
) -> anyhow::Result<Vec<Uuid>> {
    range
        .map(|i| {
            let record = Record::new()
                .with("firstname", format!("F{i}"))
                .with("lastname", format!("L{i}"))
                .with("emailaddress1", email(i))
                .with(
                    "address1_city",
                    if i % 2 == 0 { "Istanbul" } else { "London" },
                )
                .with("statecode", 0)
                .with("statuscode", 1)
                .with("createdon", stamped)
                .with("modifiedon", stamped);
            Ok(store.insert("contact", record)?)
        })
        .collect()
}

/// How many accepted users merged into each profile, by the profile's email.
pub fn upserts_by_email(insider: &InsiderEmulator) -> BTreeMap<String, u64> {
    insider
        .profiles()
        .into_iter()
        .filter_map(|p| p.email().map(|e| (e.to_owned(), p.upserts)))
        .collect()
}

/// How many events were appended to each profile, by the profile's email (profiles
/// without events are absent).
pub fn events_by_email(insider: &InsiderEmulator) -> BTreeMap<String, usize> {
    let emails: BTreeMap<String, String> = insider
        .profiles()
        .into_iter()
        .filter_map(|p| p.email().map(|e| (p.id.clone(), e.to_owned())))
        .collect();
    let mut counts = BTreeMap::new();
    for event in insider.events() {
        if let Some(email) = emails.get(&event.profile_id) {
            *counts.entry(email.clone()).or_insert(0) += 1;
        }
    }
    counts
}

/// The emails whose upsert count grew between two [`upserts_by_email`] snapshots.
pub fn upserted_between(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> Vec<String> {
    after
        .iter()
        .filter(|(email, n)| before.get(*email).copied().unwrap_or(0) < **n)
        .map(|(email, _)| email.clone())
        .collect()
}

/// A definition body (everything but `id`, `schedule`, `dynamics` and `insider`): contacts
/// read by `new_and_updated`, identified by email, with their first name and one
/// `contact_synced` event each.
pub const CONTACTS_WITH_EVENTS: &str = "method: entity
source:
  entity: contact
  fetch_mode: new_and_updated
  fields: [contactid, emailaddress1, firstname]
identifiers:
  - { type: email, field: emailaddress1 }
attributes:
  - { key: name, field: firstname }
events:
  name: { fixed: contact_synced }
  timestamp: processing_time";

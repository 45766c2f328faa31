//! Upsert batches (API-FACTS.md 1.4): Insider's limits, at most 1,000 users and under
//! 5,000,000 bytes of request body each, measured on the exact body [`upsert_body`] writes
//! (envelope included), and that body's format. A single user too large for any request gets
//! a range of its own, which the client reports as failed; splitting always makes progress.
//! Next to [`InsiderUser`] because three layers need the same limits: mapping (a user too
//! large on its own), the engine (cutting a page into batches) and the Insider client (the
//! body it sends), and the engine must not depend on the client.

use std::io::Write;
use std::ops::Range;

use crate::user::{Attributes, InsiderUser};
use serde::Serialize;

/// Users per upsert request.
pub const MAX_USERS_PER_BATCH: usize = 1_000;
/// Request bodies must stay strictly below this many bytes.
pub const MAX_BODY_BYTES: usize = 5_000_000;

#[derive(Serialize)]
struct UpsertBody<'a> {
    skip_hook: bool,
    users: &'a [InsiderUser],
}

/// The exact request body of one upsert call: `{"skip_hook":..,"users":[..]}`.
pub fn upsert_body(users: &[InsiderUser], skip_hook: bool) -> Vec<u8> {
    // One allocation up front instead of a dozen doublings of a multi-megabyte buffer,
    // sized from the first user's exact size with a quarter of slack. Walking every user for
    // an estimate would read the whole batch from memory once more before serialising it;
    // when users differ a lot the buffer simply grows. Capped at what a sendable body needs.
    let per_user = users.first().map_or(0, user_size).saturating_add(1);
    let capacity = per_user
        .saturating_mul(users.len())
        .saturating_mul(5)
        .saturating_div(4)
        .saturating_add(64)
        .min(MAX_BODY_BYTES);
    let mut body = Vec::with_capacity(capacity);
    // Serialising plain data into a Vec cannot fail; an empty body would be refused by
    // Insider with a clear 400 rather than panic here.
    match serde_json::to_writer(&mut body, &UpsertBody { skip_hook, users }) {
        Ok(()) => body,
        Err(_) => Vec::new(),
    }
}

/// The serialised size of one user inside the `users` array.
pub fn user_size(user: &InsiderUser) -> usize {
    let mut counter = ByteCounter(0);
    match serde_json::to_writer(&mut counter, user) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// Splits `users` into consecutive ranges that each fit one request.
///
/// Sizes start as cheap upper bounds ([`size_bound`]); only a batch that might reach the
/// byte limit is measured exactly, so ordinary batches (1,000 small users) are never
/// serialised twice.
pub fn split(users: &[InsiderUser], skip_hook: bool) -> Vec<Range<usize>> {
    let envelope = upsert_body(&[], skip_hook).len();
    let mut ranges = Vec::new();
    let mut start = 0;
    // The body size so far: exact, or an upper bound while `exact` is false.
    let mut body = envelope;
    let mut exact = true;
    for (index, user) in users.iter().enumerate() {
        let count = index - start;
        let comma = usize::from(count > 0);
        if count < MAX_USERS_PER_BATCH {
            let bound = size_bound(user);
            if body.saturating_add(bound).saturating_add(comma) < MAX_BODY_BYTES {
                body = body.saturating_add(bound).saturating_add(comma);
                exact = false;
                continue;
            }
            if !exact {
                body = exact_body(users.get(start..index).unwrap_or_default(), envelope);
                exact = true;
            }
            let size = user_size(user);
            if count == 0 || body.saturating_add(size).saturating_add(comma) < MAX_BODY_BYTES {
                body = body.saturating_add(size).saturating_add(comma);
                continue;
            }
            ranges.push(start..index);
            start = index;
            body = envelope.saturating_add(size);
            exact = true;
        } else {
            ranges.push(start..index);
            start = index;
            body = envelope.saturating_add(size_bound(user));
            exact = false;
        }
    }
    if start < users.len() {
        ranges.push(start..users.len());
    }
    ranges
}

fn exact_body(users: &[InsiderUser], envelope: usize) -> usize {
    let commas = users.len().saturating_sub(1);
    users
        .iter()
        .map(user_size)
        .fold(envelope.saturating_add(commas), usize::saturating_add)
}

/// An upper bound of [`user_size`] computed without serialising: every string counted as
/// if each byte needed a six-byte escape (`\u0000`), every number at its longest form.
pub fn size_bound(user: &InsiderUser) -> usize {
    // Braces, the fixed keys ("identifiers", "attributes", "events", ...) and separators.
    const USER_OVERHEAD: usize = 128;
    const EVENT_OVERHEAD: usize = 96;
    let ids = &user.identifiers;
    let mut total = USER_OVERHEAD;
    for value in [&ids.email, &ids.phone_number, &ids.uuid]
        .into_iter()
        .flatten()
    {
        total = total.saturating_add(string_bound(value)).saturating_add(24);
    }
    for (name, value) in &ids.custom {
        total = total
            .saturating_add(string_bound(name))
            .saturating_add(string_bound(value))
            .saturating_add(4);
    }
    total = total.saturating_add(attributes_bound(&user.attributes));
    for event in &user.events {
        total = total
            .saturating_add(EVENT_OVERHEAD)
            .saturating_add(string_bound(&event.event_name))
            .saturating_add(string_bound(&event.timestamp))
            .saturating_add(attributes_bound(&event.event_params));
    }
    total
}

fn string_bound(s: &str) -> usize {
    s.len().saturating_mul(6).saturating_add(2)
}

fn attributes_bound(attributes: &Attributes) -> usize {
    let root = entries_bound(attributes.standard());
    let mut custom = attributes.custom().peekable();
    match custom.peek() {
        // `"custom":` and a comma besides the object.
        Some(_) => root
            .saturating_add(12)
            .saturating_add(entries_bound(custom)),
        None => root,
    }
}

fn map_bound(map: &serde_json::Map<String, serde_json::Value>) -> usize {
    entries_bound(map.iter().map(|(key, value)| (key.as_str(), value)))
}

fn entries_bound<'a>(entries: impl Iterator<Item = (&'a str, &'a serde_json::Value)>) -> usize {
    entries.fold(2, |total, (key, value)| {
        total
            .saturating_add(string_bound(key))
            .saturating_add(value_bound(value))
            .saturating_add(2)
    })
}

fn value_bound(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(_) => 5,
        // The longest i64, u64 or f64 (`-1.7976931348623157e308`) is under 25 bytes.
        Value::Number(_) => 25,
        Value::String(s) => string_bound(s),
        Value::Array(items) => items.iter().fold(2, |total, item| {
            total.saturating_add(value_bound(item)).saturating_add(1)
        }),
        Value::Object(map) => map_bound(map),
    }
}

/// Counts bytes written, so sizes are known without allocating the body.
struct ByteCounter(usize);

impl Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::Identifiers;

    fn user(email: &str, padding: usize) -> InsiderUser {
        let mut user = InsiderUser {
            identifiers: Identifiers {
                email: Some(email.to_owned()),
                ..Identifiers::default()
            },
            ..InsiderUser::default()
        };
        user.attributes
            .set(&"name".into(), "x".repeat(padding).into());
        user
    }

    #[test]
    fn body_has_the_envelope_and_the_users() {
        let body = upsert_body(&[user("a@b.co", 1)], true);
        assert_eq!(
            String::from_utf8_lossy(&body),
            r#"{"skip_hook":true,"users":[{"identifiers":{"email":"a@b.co"},"attributes":{"name":"x"}}]}"#
        );
    }

    #[test]
    fn split_caps_users_per_batch_at_one_thousand() {
        let users: Vec<_> = (0..2_500).map(|i| user(&format!("u{i}@x.co"), 1)).collect();
        assert_eq!(split(&users, false), vec![0..1000, 1000..2000, 2000..2500]);
    }

    #[test]
    fn split_keeps_every_body_under_five_million_bytes() {
        let users: Vec<_> = (0..12)
            .map(|i| user(&format!("u{i}@x.co"), 1_300_000))
            .collect();
        let ranges = split(&users, false);
        assert_eq!(ranges.len(), 4);
        for range in &ranges {
            let body = upsert_body(&users[range.clone()], false);
            assert!(
                body.len() < MAX_BODY_BYTES,
                "{range:?} is {} bytes",
                body.len()
            );
        }
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert_eq!(ranges.last().map(|r| r.end), Some(12));
    }

    #[test]
    fn loose_bounds_fall_back_to_exact_sizes_before_cutting_a_batch() {
        // Each user's bound is ~6x its size: bounds alone would cut after ~200 users.
        let users: Vec<_> = (0..1_500)
            .map(|i| user(&format!("u{i}@x.co"), 4_000))
            .collect();
        assert_eq!(split(&users, false), vec![0..1000, 1000..1500]);
        let body = upsert_body(&users[..1000], false);
        assert!(body.len() < MAX_BODY_BYTES);
    }

    #[test]
    fn an_oversized_user_gets_a_range_of_its_own() {
        let users = vec![
            user("a@x.co", 10),
            user("b@x.co", 5_000_000),
            user("c@x.co", 10),
        ];
        assert_eq!(split(&users, false), vec![0..1, 1..2, 2..3]);
        assert!(split(&[], false).is_empty());
    }

    #[test]
    fn size_bounds_never_undercut_the_real_size() {
        let mut odd = user("\u{0}\"\\@x.co", 3);
        odd.attributes.set_custom(&"c\u{1}".into(), "\u{0}".into());
        odd.attributes.set(
            &"n".into(),
            serde_json::json!([-1.7976931348623157e308, i64::MIN, null, {"k": "\u{1}"}]),
        );
        odd.identifiers.custom.insert("c\n".into(), "é".into());
        odd.events.push(crate::user::InsiderEvent {
            event_name: "e".into(),
            timestamp: "t".into(),
            event_params: Attributes::default(),
        });
        for u in [odd, user("a@b.co", 0), InsiderUser::default()] {
            assert!(size_bound(&u) >= user_size(&u), "{u:?}");
        }
    }

    #[test]
    fn measured_sizes_add_up_to_the_body_length() {
        let users: Vec<_> = (0..5).map(|i| user(&format!("u{i}@x.co"), i)).collect();
        let sizes: usize = users.iter().map(user_size).sum();
        let envelope = upsert_body(&[], false).len();
        assert_eq!(upsert_body(&users, false).len(), envelope + sizes + 4);
    }
}

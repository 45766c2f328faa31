//! Upsert batches (API-FACTS.md 1.4): at most 1,000 users and under 5,000,000 bytes of
//! request body each, measured on the exact body [`upsert_body`] writes (envelope included).
//! A single user too large for any request gets a range of its own, which the client reports
//! as failed; splitting always makes progress.

use std::io::Write;
use std::ops::Range;

use dynsync_domain::InsiderUser;
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
    // Serialising plain data into a Vec cannot fail; an empty body would be refused by
    // Insider with a clear 400 rather than panic here.
    serde_json::to_vec(&UpsertBody { skip_hook, users }).unwrap_or_default()
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
pub fn split(users: &[InsiderUser], skip_hook: bool) -> Vec<Range<usize>> {
    let envelope = upsert_body(&[], skip_hook).len();
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut body = envelope;
    for (index, user) in users.iter().enumerate() {
        let size = user_size(user);
        let count = index - start;
        let added = size.saturating_add(usize::from(count > 0));
        let fits = count < MAX_USERS_PER_BATCH && body.saturating_add(added) < MAX_BODY_BYTES;
        if count > 0 && !fits {
            ranges.push(start..index);
            start = index;
            body = envelope.saturating_add(size);
        } else {
            body = body.saturating_add(added);
        }
    }
    if start < users.len() {
        ranges.push(start..users.len());
    }
    ranges
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
    use dynsync_domain::Identifiers;

    fn user(email: &str, padding: usize) -> InsiderUser {
        let mut user = InsiderUser {
            identifiers: Identifiers {
                email: Some(email.to_owned()),
                ..Identifiers::default()
            },
            ..InsiderUser::default()
        };
        user.attributes
            .insert("name".into(), "x".repeat(padding).into());
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
    fn measured_sizes_add_up_to_the_body_length() {
        let users: Vec<_> = (0..5).map(|i| user(&format!("u{i}@x.co"), i)).collect();
        let sizes: usize = users.iter().map(user_size).sum();
        let envelope = upsert_body(&[], false).len();
        assert_eq!(upsert_body(&users, false).len(), envelope + sizes + 4);
    }
}

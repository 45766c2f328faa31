//! Reading Insider's replies (API-FACTS.md 1.5). A 200 reply carries per-batch counts:
//! `{"data":{"successful":{"count":n},"fail":{"count":m,"errors":{"users.<i>.<rule>":[..]}}}}`;
//! failures are attributed to batch indexes from the `users.<i>.` prefix of each key.
//! The counts are reconciled, not trusted: rejections Insider counted (`fail.count`) beyond
//! the users its keys name, and users neither counted successful nor named, are reported as
//! [`UserFailure::unattributed`] (the larger of the two numbers, at most the users not named),
//! with the messages of keys that name no user of the batch; the engine then fails every user
//! without an attributed rejection. Every count is bounded by the batch size.
//! Insider's messages end with the rejected value (`not a valid email address: sample`); that
//! tail is cut so reasons never carry PII.

use std::collections::BTreeMap;

use dynsync_domain::ports::{BatchOutcome, UserFailure};
use serde_json::Value;

/// Turns a 200 reply for a batch of `len` users into an outcome.
pub(crate) fn batch_outcome(body: &[u8], len: usize) -> Result<BatchOutcome, String> {
    let reply: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    let data = reply
        .get("data")
        .ok_or_else(|| "no 'data' object in the reply".to_owned())?;
    let count = |pointer: &str| {
        data.pointer(pointer)
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(len as u64)
    };
    let accepted = count("/successful/count");
    let failed_count = count("/fail/count");
    let mut by_user: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut unattributed = Vec::new();
    if let Some(errors) = data.pointer("/fail/errors").and_then(Value::as_object) {
        for (key, messages) in errors {
            match user_index(key) {
                Some((index, rule)) if index < len => {
                    by_user
                        .entry(index)
                        .or_default()
                        .push(describe(rule, messages));
                }
                _ => unattributed.push(describe(key, messages)),
            }
        }
    }
    let named = by_user.len() as u64;
    let mut failures: Vec<UserFailure> = by_user
        .into_iter()
        .map(|(index, reasons)| UserFailure {
            index,
            reason: format!("Insider rejected the user: {}", reasons.join("; ")),
        })
        .collect();
    let not_named = (len as u64).saturating_sub(named);
    let counted_failed = failed_count.saturating_sub(named);
    let not_accounted = not_named.saturating_sub(accepted);
    let missing = counted_failed.max(not_accounted).min(not_named);
    if missing > 0 {
        let reason = if unattributed.is_empty() {
            format!(
                "no reason given: fail.count {failed_count} and successful.count {accepted} \
                 for {len} users, {named} of them named in fail.errors"
            )
        } else {
            unattributed.join("; ")
        };
        failures.extend((0..missing).map(|_| UserFailure::unattributed(reason.clone())));
    }
    Ok(BatchOutcome { accepted, failures })
}

/// `users.12.identifiers.*.type(string)` -> `(12, "identifiers.*.type(string)")`.
fn user_index(key: &str) -> Option<(usize, &str)> {
    let rest = key.strip_prefix("users.")?;
    let (index, rule) = rest.split_once('.').unwrap_or((rest, ""));
    Some((index.parse().ok()?, rule))
}

/// `rule: message; message`, each message cut before the value Insider echoes.
fn describe(rule: &str, messages: &Value) -> String {
    let texts: Vec<String> = match messages {
        Value::Array(items) => items.iter().map(message_text).collect(),
        other => vec![message_text(other)],
    };
    if rule.is_empty() {
        texts.join("; ")
    } else {
        format!("{rule}: {}", texts.join("; "))
    }
}

fn message_text(message: &Value) -> String {
    let text = match message {
        Value::String(s) => s.as_str(),
        _ => return "unreadable message".to_owned(),
    };
    let cut = text.split_once(": ").map_or(text, |(head, _value)| head);
    cut.chars().take(300).collect()
}

/// The message of an error reply (`{"message": ..}` or `{"error": ..}`), short and safe.
pub(crate) fn error_message(body: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let text = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("error")))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let text: String = text.chars().take(300).collect();
    if text.trim().is_empty() {
        "no message".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_attributed_to_batch_indexes_without_values() {
        let body = br#"{"data":{"successful":{"count":2},"fail":{"count":2,"errors":{
            "users.1.identifiers.*.regexp(^.+@.+\\..+$)":["not a valid email address: sample"],
            "users.3.identifiers.*.type(string)":["uuid must be string: 12345"],
            "users.3.events.0.event_name.regexp(x)":["invalid event name"]}}}}"#;
        let outcome = batch_outcome(body, 4).unwrap_or_default();
        assert_eq!(outcome.accepted, 2);
        let indexes: Vec<usize> = outcome.failures.iter().map(|f| f.index).collect();
        assert_eq!(indexes, vec![1, 3]);
        let reasons: Vec<&str> = outcome.failures.iter().map(|f| f.reason.as_str()).collect();
        assert_eq!(
            reasons[0],
            r"Insider rejected the user: identifiers.*.regexp(^.+@.+\..+$): not a valid email address"
        );
        assert!(
            reasons[1].contains("uuid must be string") && reasons[1].contains("invalid event name")
        );
        assert!(
            !reasons
                .iter()
                .any(|r| r.contains("sample") || r.contains("12345"))
        );
    }

    #[test]
    fn batch_level_failures_when_nothing_was_accepted_are_unattributed_rejections() {
        let body = br#"{"data":{"successful":{},"fail":{"count":2,"errors":{"users":["bad"]}}}}"#;
        let outcome = batch_outcome(body, 2).unwrap_or_default();
        assert_eq!(outcome.accepted, 0);
        assert_eq!(outcome.failures.len(), 2);
        assert!(
            outcome
                .failures
                .iter()
                .all(|f| f.index == UserFailure::UNATTRIBUTED && f.reason == "users: bad")
        );
        assert_eq!(outcome.failed_users(2).len(), 2);
        assert!(batch_outcome(b"<html>", 2).is_err());
    }

    #[test]
    fn rejections_counted_beyond_the_indexed_errors_are_reported_unattributed() {
        // fail.count 2, but only user 1 is named.
        let body = br#"{"data":{"successful":{"count":2},"fail":{"count":2,"errors":{
            "users.1.identifiers.*.regexp(^.+@.+\\..+$)":["not a valid email address: sample"]}}}}"#;
        let outcome = batch_outcome(body, 4).unwrap_or_default();
        let indexes: Vec<usize> = outcome.failures.iter().map(|f| f.index).collect();
        assert_eq!(indexes, vec![1, UserFailure::UNATTRIBUTED]);
        assert!(
            outcome.failures[1]
                .reason
                .contains("no reason given: fail.count 2"),
            "{}",
            outcome.failures[1].reason
        );
        // Users neither counted successful nor named are unattributed rejections too.
        let body = br#"{"data":{"successful":{"count":1},"fail":{"count":1,"errors":{
            "users.0.identifiers.required":["either insider_id or idenifiers must be specified"],
            "users.9.x":["an index outside the batch"]}}}}"#;
        let outcome = batch_outcome(body, 4).unwrap_or_default();
        let unattributed: Vec<&UserFailure> = outcome
            .failures
            .iter()
            .filter(|f| f.index == UserFailure::UNATTRIBUTED)
            .collect();
        assert_eq!(unattributed.len(), 2, "{outcome:?}");
        assert!(
            unattributed[0]
                .reason
                .contains("users.9.x: an index outside the batch")
        );
        // Absurd counts are bounded by the batch.
        let body = br#"{"data":{"successful":{"count":18446744073709551615},"fail":{"count":18446744073709551615}}}"#;
        let outcome = batch_outcome(body, 3).unwrap_or_default();
        assert_eq!(outcome.accepted, 3);
        assert_eq!(outcome.failures.len(), 3);
    }

    #[test]
    fn error_messages_come_from_message_or_error() {
        assert_eq!(
            error_message(br#"{"success":false,"message":"Partner is invalid."}"#),
            "Partner is invalid."
        );
        assert_eq!(
            error_message(br#"{"error":"users must be defined: bad request"}"#),
            "users must be defined: bad request"
        );
        assert_eq!(error_message(b""), "no message");
    }
}

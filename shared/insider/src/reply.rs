//! Reading Insider's replies (API-FACTS.md 1.5). A 200 reply carries per-batch counts:
//! `{"data":{"successful":{"count":n},"fail":{"count":m,"errors":{"users.<i>.<rule>":[..]}}}}`;
//! failures are attributed to batch indexes from the `users.<i>.` prefix of each key.
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
    let accepted = data
        .pointer("/successful/count")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(len as u64);
    let failed_count = data
        .pointer("/fail/count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut by_user: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut unattributed = Vec::new();
    if let Some(errors) = data.pointer("/fail/errors").and_then(Value::as_object) {
        for (key, messages) in errors {
            let reason = describe(key, messages);
            match user_index(key) {
                Some((index, rule)) if index < len => {
                    by_user
                        .entry(index)
                        .or_default()
                        .push(describe(rule, messages));
                }
                _ => unattributed.push(reason),
            }
        }
    }
    let mut failures: Vec<UserFailure> = by_user
        .into_iter()
        .map(|(index, reasons)| UserFailure {
            index,
            reason: format!("Insider rejected the user: {}", reasons.join("; ")),
        })
        .collect();
    // Failures Insider counted but did not attribute: when nothing was accepted, every user
    // not already failed failed for the batch-level reason.
    let accounted = accepted as usize + failures.len();
    if failed_count > failures.len() as u64 && accepted == 0 && accounted < len {
        let reason = if unattributed.is_empty() {
            "Insider rejected the user without saying why".to_owned()
        } else {
            format!("Insider rejected the batch: {}", unattributed.join("; "))
        };
        let already: Vec<usize> = failures.iter().map(|f| f.index).collect();
        failures.extend(
            (0..len)
                .filter(|i| !already.contains(i))
                .map(|index| UserFailure {
                    index,
                    reason: reason.clone(),
                }),
        );
        failures.sort_by_key(|f| f.index);
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
    fn unattributed_failures_fail_the_whole_batch_when_nothing_was_accepted() {
        let body = br#"{"data":{"successful":{},"fail":{"count":2,"errors":{"users":["bad"]}}}}"#;
        let outcome = batch_outcome(body, 2).unwrap_or_default();
        assert_eq!(outcome.accepted, 0);
        assert_eq!(outcome.failures.len(), 2);
        assert!(batch_outcome(b"<html>", 2).is_err());
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

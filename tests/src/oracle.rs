//! The fault matrix's oracle (issue 10): what must hold after a whole `dynsync run` under a
//! fault. On the Insider side, by contact `c<i>@example.com`: every selected record
//! upserted at least once and at most twice, no event sent twice (unless a test says why a
//! resend is unavoidable); on the execution record (whose counters
//! [`RunOutput::execution`] already checks add up): the exit code and status the fault
//! calls for: 0/`succeeded` for a transient fault within the retries, 1/`failed` with an
//! error naming what to fix for a permanent one or retries run out, 3/
//! `completed_with_failures` for users Insider rejects. The helpers panic with the
//! process's stderr, so a failing case shows what the binary said.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::{RunOutput, counter};
use crate::data::{email, events_by_email, upserts_by_email};
use crate::stack::Stack;

/// How often Insider may have received each contact of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Upserts of each contact: at least `min_upserts`...
    pub min_upserts: u64,
    /// ...and at most `max_upserts`.
    pub max_upserts: u64,
    /// Events appended to each contact's profile, at most.
    pub max_events: usize,
}

impl Bounds {
    /// Exactly one upsert and at most one event each.
    pub const ONCE: Bounds = Bounds {
        min_upserts: 1,
        max_upserts: 1,
        max_events: 1,
    };
    /// The matrix's rule: upserted once or twice, no event twice.
    pub const AT_LEAST_ONCE: Bounds = Bounds {
        min_upserts: 1,
        max_upserts: 2,
        max_events: 1,
    };
    /// Never upserted (rejected or never sent), no event.
    pub const NEVER: Bounds = Bounds {
        min_upserts: 0,
        max_upserts: 0,
        max_events: 0,
    };
}

/// Asserts `bounds` for each contact of `range` (by email) in what Insider holds.
#[track_caller]
pub fn assert_contacts(stack: &Stack, range: Range<usize>, bounds: Bounds) {
    let upserts = upserts_by_email(&stack.insider);
    let events = events_by_email(&stack.insider);
    for i in range {
        let email = email(i);
        let times = upserts.get(&email).copied().unwrap_or(0);
        assert!(
            (bounds.min_upserts..=bounds.max_upserts).contains(&times),
            "contact {i} was upserted {times} times; expected {}..={}",
            bounds.min_upserts,
            bounds.max_upserts
        );
        let sent = events.get(&email).copied().unwrap_or(0);
        assert!(
            sent <= bounds.max_events,
            "contact {i} got {sent} events; at most {} expected",
            bounds.max_events
        );
    }
}

/// Every contact of `0..n` upserted exactly once with exactly one event, and Insider holds
/// no other profile.
#[track_caller]
pub fn assert_synced_once_each(stack: &Stack, n: usize) {
    assert_contacts(stack, 0..n, Bounds::ONCE);
    let events = events_by_email(&stack.insider);
    for i in 0..n {
        assert_eq!(
            events.get(&email(i)).copied(),
            Some(1),
            "contact {i}: one event"
        );
    }
    assert_eq!(
        upserts_by_email(&stack.insider).len(),
        n,
        "Insider holds exactly the {n} contacts"
    );
}

/// No profile in Insider got an event twice.
#[track_caller]
pub fn assert_no_event_twice(stack: &Stack) {
    let twice: BTreeMap<String, usize> = events_by_email(&stack.insider)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "events sent more than once: {twice:?}");
}

/// Exit `code` and status `status` (with the output in the messages otherwise); returns
/// the execution record.
#[track_caller]
fn ended(output: &RunOutput, code: i32, status: &str) -> Value {
    assert_eq!(
        output.code,
        Some(code),
        "exit code; stdout:\n{}\nstderr:\n{}",
        output.stdout,
        output.stderr
    );
    let execution = parse(output);
    assert_eq!(
        execution["status"], status,
        "{execution}\n{}",
        output.stderr
    );
    execution
}

/// Exit 0, `succeeded`, no error, `n` records read and upserted, none failed; returns the
/// execution record.
#[track_caller]
pub fn assert_succeeded(output: &RunOutput, n: u64) -> Value {
    let execution = ended(output, 0, "succeeded");
    assert_eq!(execution["error"], Value::Null, "{execution}");
    assert_eq!(count(&execution, "records_read"), n, "{execution}");
    assert_eq!(count(&execution, "upserted"), n, "{execution}");
    assert_eq!(count(&execution, "failed"), 0, "{execution}");
    execution
}

/// Exit 1, `failed`, and an error that contains each of `needles` (case-insensitive);
/// returns the execution record.
#[track_caller]
pub fn assert_failed(output: &RunOutput, needles: &[&str]) -> Value {
    let execution = ended(output, 1, "failed");
    let error = execution["error"].as_str().unwrap_or_default().to_owned();
    eprintln!("the execution failed with: {error}");
    for needle in needles {
        assert!(
            error.to_lowercase().contains(&needle.to_lowercase()),
            "the error should name '{needle}': {error}"
        );
    }
    execution
}

/// Exit 3, `completed_with_failures`, no execution error, and exactly `failed_ids` (record
/// ids, any order) in `failures`, each with a reason containing `reason`; returns the
/// execution record.
#[track_caller]
pub fn assert_completed_with_failures(
    output: &RunOutput,
    failed_ids: &[String],
    reason: &str,
) -> Value {
    let execution = ended(output, 3, "completed_with_failures");
    assert_eq!(execution["error"], Value::Null, "{execution}");
    assert_eq!(
        count(&execution, "failed"),
        failed_ids.len() as u64,
        "{execution}"
    );
    let failures = execution["failures"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut listed: Vec<String> = failures
        .iter()
        .map(|f| f["record_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    listed.sort();
    let mut expected = failed_ids.to_vec();
    expected.sort();
    assert_eq!(listed, expected, "the failed records");
    for failure in &failures {
        let text = failure["reason"].as_str().unwrap_or_default();
        assert!(
            text.to_lowercase().contains(&reason.to_lowercase()),
            "the reason should say '{reason}': {text}"
        );
    }
    execution
}

/// `dynsync run FILE --state DIR --json [extra]` to its end.
pub async fn run(stack: &Stack, binary: &Path, file: &Path, extra: &[&str]) -> RunOutput {
    match stack.run_command(binary, file, extra).output().await {
        Ok(output) => output.into(),
        Err(e) => RunOutput {
            code: Some(-1),
            stdout: String::new(),
            stderr: format!("cannot run {}: {e}", binary.display()),
        },
    }
}

/// Writes [`Stack::definition`] with `dynamics.request_timeout_ms` and `dynamics.retries`
/// set (the stack's defaults are 10,000 ms and 5) to `integration.yaml`.
pub fn write_tuned_definition(
    stack: &Stack,
    page_size: u32,
    body: &str,
    insider_settings: &str,
    request_timeout_ms: u64,
    retries: u32,
) -> anyhow::Result<PathBuf> {
    let text = stack
        .definition(page_size, body, insider_settings)
        .replace(
            "  request_timeout_ms: 10000\n",
            &format!("  request_timeout_ms: {request_timeout_ms}\n"),
        )
        .replace("  retries: 5\n", &format!("  retries: {retries}\n"));
    anyhow::ensure!(
        text.contains(&format!("  retries: {retries}\n"))
            && text.contains(&format!("  request_timeout_ms: {request_timeout_ms}\n")),
        "the stack's definition no longer has the lines this replaces"
    );
    let file = stack.path("integration.yaml");
    std::fs::write(&file, text)?;
    Ok(file)
}

#[track_caller]
fn parse(output: &RunOutput) -> Value {
    match output.execution() {
        Ok(execution) => execution,
        Err(e) => panic!("{e:#}\nstderr:\n{}", output.stderr),
    }
}

#[track_caller]
fn count(execution: &Value, key: &str) -> u64 {
    match counter(execution, key) {
        Ok(n) => n,
        Err(e) => panic!("{e:#}"),
    }
}

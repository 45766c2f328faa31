//! The `dynsync` binary's results as tests read them: exit code, stdout, stderr, the one
//! JSON object `--json` prints, the contract's keys, and the counter invariant
//! (`records_read = upserted + skipped + failed`, ARCHITECTURE.md section 7).

use anyhow::{Context, bail, ensure};
use serde_json::Value;

/// The keys of an execution record in JSON (ARCHITECTURE.md section 4), in order.
pub const EXECUTION_KEYS: [&str; 20] = [
    "id",
    "integration_id",
    "trigger",
    "status",
    "started_at",
    "finished_at",
    "window",
    "records_read",
    "upserted",
    "failed",
    "skipped",
    "events_sent",
    "pages",
    "deleted",
    "joined",
    "left",
    "removals_applied",
    "resynced",
    "failures",
    "error",
];

/// What one `dynsync` process left behind.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for RunOutput {
    fn from(output: std::process::Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl RunOutput {
    /// Stdout parsed as exactly one JSON object holding exactly the contract's keys.
    pub fn execution(&self) -> anyhow::Result<Value> {
        let mut stream = serde_json::Deserializer::from_str(&self.stdout).into_iter::<Value>();
        let first = stream
            .next()
            .context("stdout holds no JSON document")?
            .with_context(|| {
                format!(
                    "stdout is not JSON:\n{}\nstderr:\n{}",
                    self.stdout, self.stderr
                )
            })?;
        ensure!(
            stream.next().is_none(),
            "stdout holds more than one JSON document:\n{}",
            self.stdout
        );
        let Some(object) = first.as_object() else {
            bail!("stdout is JSON but not an object: {first}");
        };
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        let mut expected = EXECUTION_KEYS.to_vec();
        let mut sorted = keys.clone();
        expected.sort_unstable();
        sorted.sort_unstable();
        ensure!(
            sorted == expected,
            "the execution record has keys {keys:?}, the contract says {EXECUTION_KEYS:?}"
        );
        counters_add_up(&first)?;
        Ok(first)
    }
}

/// A counter of an execution record.
pub fn counter(execution: &Value, key: &str) -> anyhow::Result<u64> {
    execution
        .get(key)
        .and_then(Value::as_u64)
        .with_context(|| format!("'{key}' is not a count in {execution}"))
}

/// `records_read = upserted + skipped + failed`, and `failures` holds at most `failed`
/// (and at most 100) entries, each with a record id and a reason.
pub fn counters_add_up(execution: &Value) -> anyhow::Result<()> {
    let read = counter(execution, "records_read")?;
    let upserted = counter(execution, "upserted")?;
    let skipped = counter(execution, "skipped")?;
    let failed = counter(execution, "failed")?;
    ensure!(
        read == upserted + skipped + failed,
        "counters do not add up: read {read} != upserted {upserted} + skipped {skipped} + failed {failed}"
    );
    let failures = execution
        .get("failures")
        .and_then(Value::as_array)
        .context("'failures' is not a list")?;
    ensure!(
        failures.len() as u64 <= failed.min(100),
        "{} failures listed for {failed} failed records",
        failures.len()
    );
    for failure in failures {
        let id = failure.get("record_id").and_then(Value::as_str);
        let reason = failure.get("reason").and_then(Value::as_str);
        ensure!(
            id.is_some_and(|s| !s.is_empty()) && reason.is_some_and(|s| !s.is_empty()),
            "a failure without a record id or reason: {failure}"
        );
    }
    Ok(())
}

/// The execution record of a run that must have succeeded, its counters adding up; panics
/// with the run's output otherwise.
#[track_caller]
pub fn succeeded(output: &RunOutput) -> Value {
    assert_eq!(output.code, Some(0), "{}\n{}", output.stdout, output.stderr);
    let execution = output
        .execution()
        .unwrap_or_else(|e| panic!("{e}\n{}", output.stdout));
    assert_eq!(execution["status"], "succeeded", "{execution}");
    if let Err(e) = counters_add_up(&execution) {
        panic!("{e}: {execution}");
    }
    execution
}

/// A counter of an execution record; panics naming the key when it is missing.
#[track_caller]
pub fn count(execution: &Value, key: &str) -> u64 {
    counter(execution, key).unwrap_or_else(|e| panic!("{e}: {execution}"))
}

//! CloudWatch embedded metric format (EMF): a per-invocation recorder that collects metric
//! values per integration and writes them, when flushed, as one JSON document per line on
//! stdout, where CloudWatch Logs extracts the metrics.
//!
//! Every document declares two dimension sets: `Function` alone, and `Function` with
//! `IntegrationId`. `Function` is the deployed function's name (`AWS_LAMBDA_FUNCTION_NAME`,
//! e.g. `dynsync-WorkerFunction-AbC`, which template.yaml's alarms and dashboard name with
//! `!Ref`; `dispatcher` or `worker` only when that variable is absent). Both stay
//! low-cardinality; execution ids ride along as a property (`ExecutionIds`), searchable in
//! Logs Insights without creating metrics. Each metric holds at most 100 values per
//! document (the EMF limit); more values go into further documents.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::{Mutex, MutexGuard};

use serde_json::{Map, Value, json};

use crate::TelemetryError;

/// The CloudWatch namespace of every dynsync metric.
pub const NAMESPACE: &str = "dynsync";
/// Dimension naming the Lambda function: its deployed name (`AWS_LAMBDA_FUNCTION_NAME`), or
/// `dispatcher`/`worker` when that is absent.
pub const FUNCTION_DIMENSION: &str = "Function";
/// Dimension naming the integration.
pub const INTEGRATION_DIMENSION: &str = "IntegrationId";
/// Property listing the executions a document's values came from.
const EXECUTION_IDS_PROPERTY: &str = "ExecutionIds";
/// EMF allows at most 100 values per metric in one document.
const MAX_VALUES: usize = 100;

/// CloudWatch units used by dynsync's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

#[derive(Debug)]
struct Series {
    unit: Unit,
    values: Vec<f64>,
}

#[derive(Debug, Default)]
struct Group {
    metrics: BTreeMap<&'static str, Series>,
    execution_ids: BTreeSet<String>,
}

/// Collects metric values during one invocation; [`Metrics::flush`] writes and clears them.
/// Shared by reference between concurrent tasks of an invocation.
#[derive(Debug)]
pub struct Metrics {
    function: String,
    enabled: bool,
    groups: Mutex<BTreeMap<String, Group>>,
}

impl Metrics {
    /// A recorder for the function named `function` (the `Function` dimension).
    pub fn new(function: impl Into<String>) -> Self {
        Self {
            function: function.into(),
            enabled: true,
            groups: Mutex::new(BTreeMap::new()),
        }
    }

    /// A recorder that keeps nothing (the CLI: events still log, no metrics are written).
    pub fn disabled() -> Self {
        Self {
            function: String::new(),
            enabled: false,
            groups: Mutex::new(BTreeMap::new()),
        }
    }

    /// Adds values of one integration's metrics, remembering the execution they belong to.
    pub fn record(
        &self,
        integration_id: &str,
        execution_id: &str,
        values: &[(&'static str, Unit, f64)],
    ) {
        if !self.enabled {
            return;
        }
        let mut groups = self.groups();
        let group = groups.entry(integration_id.to_owned()).or_default();
        if !execution_id.is_empty() {
            group.execution_ids.insert(execution_id.to_owned());
        }
        for &(name, unit, value) in values {
            let series = group.metrics.entry(name).or_insert_with(|| Series {
                unit,
                values: Vec::new(),
            });
            series.values.push(value);
        }
    }

    /// Whether nothing waits to be flushed.
    pub fn is_empty(&self) -> bool {
        self.groups().is_empty()
    }

    /// Takes the recorded values as EMF documents stamped `timestamp_ms` (milliseconds since
    /// the Unix epoch), leaving the recorder empty.
    pub fn take_documents(&self, timestamp_ms: i64) -> Vec<Value> {
        let groups = std::mem::take(&mut *self.groups());
        let mut documents = Vec::new();
        for (integration_id, group) in groups {
            let chunks = group
                .metrics
                .values()
                .map(|s| s.values.len().div_ceil(MAX_VALUES))
                .max()
                .unwrap_or(0);
            for chunk in 0..chunks {
                documents.push(self.document(&integration_id, &group, chunk, timestamp_ms));
            }
        }
        documents
    }

    /// Writes the recorded values, one EMF document per line, to `out`; returns how many
    /// documents were written.
    pub fn flush_to(
        &self,
        out: &mut impl Write,
        timestamp_ms: i64,
    ) -> Result<usize, TelemetryError> {
        let documents = self.take_documents(timestamp_ms);
        for document in &documents {
            writeln!(out, "{document}").map_err(TelemetryError::Write)?;
        }
        out.flush().map_err(TelemetryError::Write)?;
        Ok(documents.len())
    }

    /// Writes the recorded values to stdout, stamped now. Call once at the end of every
    /// invocation.
    pub fn flush(&self) -> Result<usize, TelemetryError> {
        let now = chrono::Utc::now().timestamp_millis();
        self.flush_to(&mut std::io::stdout().lock(), now)
    }

    fn document(
        &self,
        integration_id: &str,
        group: &Group,
        chunk: usize,
        timestamp_ms: i64,
    ) -> Value {
        let mut definitions = Vec::new();
        let mut root = Map::new();
        root.insert(
            FUNCTION_DIMENSION.into(),
            Value::from(self.function.as_str()),
        );
        root.insert(INTEGRATION_DIMENSION.into(), Value::from(integration_id));
        for (name, series) in &group.metrics {
            let start = chunk * MAX_VALUES;
            let Some(values) = series
                .values
                .get(start..series.values.len().min(start + MAX_VALUES))
            else {
                continue;
            };
            let value = match values {
                [] => continue,
                [one] => json!(one),
                many => json!(many),
            };
            definitions.push(json!({ "Name": name, "Unit": series.unit.as_str() }));
            root.insert((*name).to_owned(), value);
        }
        root.insert(
            EXECUTION_IDS_PROPERTY.into(),
            Value::from(group.execution_ids.iter().cloned().collect::<Vec<_>>()),
        );
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [
                        [FUNCTION_DIMENSION],
                        [FUNCTION_DIMENSION, INTEGRATION_DIMENSION],
                    ],
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(root)
    }

    fn groups(&self) -> MutexGuard<'_, BTreeMap<String, Group>> {
        // A panic while holding the lock leaves consistent data (pushes only): keep going.
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flushed_document_has_the_exact_emf_shape() {
        let metrics = Metrics::new("worker");
        metrics.record(
            "active-contacts",
            "exec-1",
            &[
                ("RecordsRead", Unit::Count, 500.0),
                ("PageDuration", Unit::Milliseconds, 812.0),
            ],
        );
        let documents = metrics.take_documents(1_790_000_000_000);
        assert_eq!(
            documents,
            vec![json!({
                "_aws": {
                    "Timestamp": 1_790_000_000_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "dynsync",
                        "Dimensions": [["Function"], ["Function", "IntegrationId"]],
                        "Metrics": [
                            { "Name": "PageDuration", "Unit": "Milliseconds" },
                            { "Name": "RecordsRead", "Unit": "Count" },
                        ],
                    }],
                },
                "Function": "worker",
                "IntegrationId": "active-contacts",
                "PageDuration": 812.0,
                "RecordsRead": 500.0,
                "ExecutionIds": ["exec-1"],
            })]
        );
    }

    #[test]
    fn values_of_one_integration_share_a_document_as_an_array() {
        let metrics = Metrics::new("worker");
        metrics.record("a", "e1", &[("RecordsRead", Unit::Count, 10.0)]);
        metrics.record("a", "e2", &[("RecordsRead", Unit::Count, 20.0)]);
        metrics.record("b", "e3", &[("RecordsRead", Unit::Count, 30.0)]);
        let documents = metrics.take_documents(0);
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[0]["IntegrationId"], "a");
        assert_eq!(documents[0]["RecordsRead"], json!([10.0, 20.0]));
        assert_eq!(documents[0]["ExecutionIds"], json!(["e1", "e2"]));
        assert_eq!(documents[1]["IntegrationId"], "b");
        assert_eq!(documents[1]["RecordsRead"], json!(30.0));
    }

    #[test]
    fn more_than_one_hundred_values_split_into_further_documents() {
        let metrics = Metrics::new("worker");
        for i in 0..150 {
            metrics.record("a", "e", &[("PagesProcessed", Unit::Count, f64::from(i))]);
        }
        metrics.record("a", "e", &[("ExecutionsStarted", Unit::Count, 1.0)]);
        let documents = metrics.take_documents(0);
        assert_eq!(documents.len(), 2);
        assert_eq!(
            documents[0]["PagesProcessed"].as_array().map(Vec::len),
            Some(100)
        );
        assert_eq!(
            documents[1]["PagesProcessed"].as_array().map(Vec::len),
            Some(50)
        );
        assert_eq!(documents[0]["ExecutionsStarted"], json!(1.0));
        assert!(documents[1].get("ExecutionsStarted").is_none());
        let second_names: Vec<_> = documents[1]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["Name"].clone())
            .collect();
        assert_eq!(second_names, vec![json!("PagesProcessed")]);
    }

    #[test]
    fn flushing_writes_one_line_per_document_and_empties_the_recorder() {
        let metrics = Metrics::new("dispatcher");
        metrics.record("a", "e1", &[("ExecutionsStarted", Unit::Count, 1.0)]);
        metrics.record("b", "e2", &[("ExecutionsStarted", Unit::Count, 1.0)]);
        let mut out = Vec::new();
        let written = metrics.flush_to(&mut out, 5).ok();
        assert_eq!(written, Some(2));
        let text = String::from_utf8(out).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        for line in lines {
            let parsed: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            assert_eq!(parsed["_aws"]["Timestamp"], 5);
            assert_eq!(parsed["Function"], "dispatcher");
        }
        assert!(metrics.is_empty());
        let mut again = Vec::new();
        assert_eq!(metrics.flush_to(&mut again, 6).ok(), Some(0));
        assert!(again.is_empty());
    }

    #[test]
    fn a_disabled_recorder_keeps_nothing() {
        let metrics = Metrics::disabled();
        metrics.record("a", "e", &[("RecordsRead", Unit::Count, 1.0)]);
        assert!(metrics.is_empty());
        assert!(metrics.take_documents(0).is_empty());
    }
}

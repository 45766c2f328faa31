//! Domain values to DynamoDB attributes and back (the page ledger's batches and fixed ends
//! are in `page_codec.rs`). Counters are numbers (so `ADD` can update them), failures are a
//! list of maps (so `list_append` can extend it), definitions, plans and windows are JSON
//! strings (read and written whole). Reading never panics: an item of
//! the wrong shape is an `AwsError::Corrupt` naming the item.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use dynsync_domain::execution::{
    Counters, Execution, ExecutionStatus, RecordFailure, Trigger, Window,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::schema::*;
use crate::error::AwsError;

/// Reads attributes of one item, naming it in every error.
pub struct Reader<'a> {
    pub(super) item: &'a Item,
    pub(super) resource: &'a str,
}

impl<'a> Reader<'a> {
    pub fn new(item: &'a Item, resource: &'a str) -> Self {
        Self { item, resource }
    }

    pub fn corrupt(&self, detail: impl Into<String>) -> AwsError {
        let part = |name| match self.item.get(name) {
            Some(AttributeValue::S(v)) => v.as_str(),
            _ => "?",
        };
        AwsError::Corrupt {
            resource: self.resource.to_owned(),
            key: format!("{}/{}", part(PK), part(SK)),
            detail: detail.into(),
        }
    }

    pub fn opt_s(&self, name: &str) -> Result<Option<&'a str>, AwsError> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(self.corrupt(format!("'{name}' is not a string"))),
        }
    }

    pub fn s(&self, name: &str) -> Result<&'a str, AwsError> {
        self.opt_s(name)?
            .ok_or_else(|| self.corrupt(format!("'{name}' is missing")))
    }

    pub fn u64(&self, name: &str) -> Result<u64, AwsError> {
        Ok(u64::try_from(self.i64(name)?.max(0)).unwrap_or(0))
    }

    /// A number attribute; absent counts as 0 (counters start absent in older items).
    pub fn i64(&self, name: &str) -> Result<i64, AwsError> {
        match self.item.get(name) {
            None => Ok(0),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map_err(|_| self.corrupt(format!("'{name}' is not an integer"))),
            Some(_) => Err(self.corrupt(format!("'{name}' is not a number"))),
        }
    }

    /// A string set; absent is empty.
    pub fn string_set(&self, name: &str) -> Result<&'a [String], AwsError> {
        match self.item.get(name) {
            None => Ok(&[]),
            Some(AttributeValue::Ss(v)) => Ok(v.as_slice()),
            Some(_) => Err(self.corrupt(format!("'{name}' is not a string set"))),
        }
    }

    pub fn bool(&self, name: &str) -> Result<bool, AwsError> {
        match self.item.get(name) {
            Some(AttributeValue::Bool(v)) => Ok(*v),
            _ => Err(self.corrupt(format!("'{name}' is not a boolean"))),
        }
    }

    pub fn opt_time(&self, name: &str) -> Result<Option<DateTime<Utc>>, AwsError> {
        self.opt_s(name)?
            .map(|text| {
                parse_timestamp(text)
                    .ok_or_else(|| self.corrupt(format!("'{name}' is not an RFC 3339 time")))
            })
            .transpose()
    }

    pub fn time(&self, name: &str) -> Result<DateTime<Utc>, AwsError> {
        self.opt_time(name)?
            .ok_or_else(|| self.corrupt(format!("'{name}' is missing")))
    }

    pub fn json<T: DeserializeOwned>(&self, name: &str) -> Result<T, AwsError> {
        serde_json::from_str(self.s(name)?)
            .map_err(|e| self.corrupt(format!("'{name}' does not hold valid JSON: {e}")))
    }

    pub fn opt_json<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, AwsError> {
        match self.opt_s(name)? {
            None => Ok(None),
            Some(_) => self.json(name).map(Some),
        }
    }

    pub fn list(&self, name: &str) -> Result<&'a [AttributeValue], AwsError> {
        match self.item.get(name) {
            None => Ok(&[]),
            Some(AttributeValue::L(v)) => Ok(v.as_slice()),
            Some(_) => Err(self.corrupt(format!("'{name}' is not a list"))),
        }
    }

    pub fn failures(&self, name: &str) -> Result<Vec<RecordFailure>, AwsError> {
        self.list(name)?
            .iter()
            .map(|value| match value {
                AttributeValue::M(map) => {
                    let entry = Reader::new(map, self.resource);
                    Ok(RecordFailure {
                        record_id: entry.s(RECORD_ID)?.to_owned(),
                        reason: entry.s(REASON)?.to_owned(),
                    })
                }
                _ => Err(self.corrupt(format!("'{name}' holds a non-map entry"))),
            })
            .collect()
    }
}

/// A JSON string attribute.
pub fn json_attr<T: Serialize>(value: &T) -> Result<AttributeValue, serde_json::Error> {
    serde_json::to_string(value).map(s)
}

/// The snake_case name serde gives a unit enum variant (`completed_with_failures`).
pub fn enum_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

fn parse_enum<T: DeserializeOwned>(reader: &Reader<'_>, name: &str) -> Result<T, AwsError> {
    let text = reader.s(name)?;
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| reader.corrupt(format!("'{name}' has the unknown value '{text}'")))
}

pub fn failure_list(failures: &[RecordFailure]) -> AttributeValue {
    AttributeValue::L(
        failures
            .iter()
            .map(|f| {
                AttributeValue::M(Item::from([
                    (RECORD_ID.to_owned(), s(f.record_id.clone())),
                    (REASON.to_owned(), s(f.reason.clone())),
                ]))
            })
            .collect(),
    )
}

/// The counters as `(attribute, value)` pairs, in a fixed order.
pub fn counter_fields(c: &Counters) -> [(&'static str, u64); 11] {
    [
        (RECORDS_READ, c.records_read),
        (UPSERTED, c.upserted),
        (FAILED, c.failed),
        (SKIPPED, c.skipped),
        (EVENTS_SENT, c.events_sent),
        (PAGES, c.pages),
        (DELETED, c.deleted),
        (JOINED, c.joined),
        (LEFT, c.left),
        (REMOVALS_APPLIED, c.removals_applied),
        (RESYNCED, c.resynced),
    ]
}

/// The execution item as first written (GSI keys included; `running_pk` only while running).
pub fn execution_item(
    execution: &Execution,
    open_pages: &[&String],
) -> Result<Item, serde_json::Error> {
    let mut item = key(execution_pk(&execution.id), SK_EXECUTION);
    let mut put = |name: &str, value: AttributeValue| {
        item.insert(name.to_owned(), value);
    };
    put(ID, s(execution.id.clone()));
    put(INTEGRATION_ID, s(execution.integration_id.clone()));
    put(TRIGGER, s(enum_name(&execution.trigger)));
    put(STATUS, s(enum_name(&execution.status)));
    put(STARTED_AT, s(timestamp(execution.started_at)));
    if let Some(finished) = execution.finished_at {
        put(FINISHED_AT, s(timestamp(finished)));
    }
    if let Some(window) = &execution.window {
        put(WINDOW, json_attr(window)?);
    }
    for (name, value) in counter_fields(&execution.counters) {
        put(name, n(value));
    }
    put(FAILURES, failure_list(&execution.failures));
    if let Some(error) = &execution.error {
        put(ERROR, s(error.clone()));
    }
    if !open_pages.is_empty() {
        // A string set cannot be empty: no pages, no attribute.
        put(
            OPEN_PAGES,
            AttributeValue::Ss(open_pages.iter().map(|p| (*p).clone()).collect()),
        );
    }
    put(LAST_PROGRESS, s(timestamp(execution.started_at)));
    put(INTEGRATION_PK, s(execution.integration_id.clone()));
    put(ALL_PK, s(ALL_EXECUTIONS));
    put(
        STARTED_SK,
        s(started_sk(execution.started_at, &execution.id)),
    );
    if execution.status == ExecutionStatus::Running {
        put(RUNNING_PK, s(RUNNING));
    }
    Ok(item)
}

pub fn read_execution(reader: &Reader<'_>) -> Result<Execution, AwsError> {
    Ok(Execution {
        id: reader.s(ID)?.to_owned(),
        integration_id: reader.s(INTEGRATION_ID)?.to_owned(),
        trigger: parse_enum::<Trigger>(reader, TRIGGER)?,
        status: parse_enum::<ExecutionStatus>(reader, STATUS)?,
        started_at: reader.time(STARTED_AT)?,
        finished_at: reader.opt_time(FINISHED_AT)?,
        window: reader.opt_json::<Window>(WINDOW)?,
        counters: Counters {
            records_read: reader.u64(RECORDS_READ)?,
            upserted: reader.u64(UPSERTED)?,
            failed: reader.u64(FAILED)?,
            skipped: reader.u64(SKIPPED)?,
            events_sent: reader.u64(EVENTS_SENT)?,
            pages: reader.u64(PAGES)?,
            deleted: reader.u64(DELETED)?,
            joined: reader.u64(JOINED)?,
            left: reader.u64(LEFT)?,
            removals_applied: reader.u64(REMOVALS_APPLIED)?,
            resynced: reader.u64(RESYNCED)?,
        },
        failures: reader.failures(FAILURES)?,
        error: reader.opt_s(ERROR)?.map(str::to_owned),
    })
}

pub fn reader_map<'a>(reader: &Reader<'a>, name: &str) -> Result<Option<&'a Item>, AwsError> {
    match reader.item.get(name) {
        None => Ok(None),
        Some(AttributeValue::M(map)) => Ok(Some(map)),
        Some(_) => Err(reader.corrupt(format!("'{name}' is not a map"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execution() -> Execution {
        Execution {
            id: "e1".into(),
            integration_id: "contacts".into(),
            trigger: Trigger::Manual,
            status: ExecutionStatus::CompletedWithFailures,
            started_at: Utc::now(),
            finished_at: Some(Utc::now()),
            window: Some(Window {
                from: None,
                to: Some(Utc::now()),
            }),
            counters: Counters {
                records_read: 5,
                upserted: 3,
                failed: 1,
                skipped: 1,
                events_sent: 7,
                pages: 1,
                deleted: 4,
                joined: 3,
                left: 2,
                removals_applied: 5,
                resynced: 1,
            },
            failures: vec![RecordFailure {
                record_id: "r1".into(),
                reason: "bad email".into(),
            }],
            error: None,
        }
    }

    #[test]
    fn an_execution_survives_the_round_trip_through_an_item() {
        let original = execution();
        let item = execution_item(&original, &[]).unwrap_or_default();
        let back = read_execution(&Reader::new(&item, "table 't'"));
        assert_eq!(back.ok(), Some(original));
        assert!(
            !item.contains_key(RUNNING_PK),
            "only running executions are indexed"
        );
    }

    #[test]
    fn a_wrongly_typed_attribute_is_reported_not_panicked_on() {
        let item = Item::from([
            (PK.to_owned(), s("EXECUTION#e1")),
            (SK.to_owned(), s("EXECUTION")),
            (ID.to_owned(), n(3)),
        ]);
        let error = read_execution(&Reader::new(&item, "table 't'")).err();
        assert!(error.is_some_and(|e| e.to_string().contains("EXECUTION#e1/EXECUTION")));
    }
}

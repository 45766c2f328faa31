//! Event mapping (the guide's Step 8): a fixed name or one read from a field and translated
//! through `mappings`, a timestamp from the processing time or a field, parameters mapped
//! like attributes plus fixed ones. An event that cannot be formed (unmapped name, null
//! timestamp) is not sent: it is counted and explained, never an error.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dynsync_domain::definition::{EventMapping, EventName, TimestampSource, UnknownCodeBehavior};
use dynsync_domain::{InsiderEvent, OptionLabels};
use serde_json::Value;

use crate::fields::{ObjectRules, Target};
use crate::lookup::{Fields, Lookup};
use crate::values::{format_utc, normalise_datetime};

#[derive(Debug, Clone)]
enum NameRule {
    Fixed(String),
    FromField {
        field: String,
        index: usize,
        mappings: BTreeMap<String, String>,
    },
}

/// The event mapping, compiled once per execution.
#[derive(Debug, Clone)]
pub(crate) struct EventRule {
    name: NameRule,
    timestamp: TimestampSource,
    /// The timestamp field's index in the mapper's [`Lookup`].
    timestamp_index: Option<usize>,
    params: ObjectRules,
}

impl EventRule {
    pub(crate) fn new(
        mapping: &EventMapping,
        labels: &OptionLabels,
        unknown_code: UnknownCodeBehavior,
        lookup: &mut Lookup,
    ) -> Self {
        let name = match &mapping.name {
            EventName::Fixed { fixed } => NameRule::Fixed(fixed.clone()),
            EventName::FromField { field, mappings } => NameRule::FromField {
                field: field.clone(),
                index: lookup.index(field),
                mappings: mappings
                    .iter()
                    .map(|(raw, name)| (raw.trim().to_owned(), name.clone()))
                    .collect(),
            },
        };
        let timestamp_index = match &mapping.timestamp {
            TimestampSource::Field(field) => Some(lookup.index(field)),
            TimestampSource::ProcessingTime => None,
        };
        Self {
            name,
            timestamp: mapping.timestamp.clone(),
            timestamp_index,
            params: ObjectRules::new(
                &mapping.params,
                &mapping.fixed_params,
                Target::EventParam,
                labels,
                unknown_code,
                lookup,
            ),
        }
    }

    /// The record's event, or the reason it is not sent.
    pub(crate) fn build(
        &self,
        fields: &Fields<'_>,
        processing_time: DateTime<Utc>,
        notes: &mut Vec<String>,
    ) -> Result<InsiderEvent, String> {
        let event_name = match &self.name {
            NameRule::Fixed(name) => name.clone(),
            NameRule::FromField {
                field,
                index,
                mappings,
            } => {
                let raw = match fields.get(*index) {
                    None | Some(Value::Null) => {
                        return Err(format!(
                            "event not sent: event name field '{field}' is empty"
                        ));
                    }
                    Some(Value::String(s)) => s.trim().to_owned(),
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::Bool(b)) => b.to_string(),
                    Some(_) => {
                        return Err(format!(
                            "event not sent: event name field '{field}' is not a string or number"
                        ));
                    }
                };
                match mappings.get(&raw) {
                    Some(name) => name.clone(),
                    None => {
                        return Err(format!(
                            "event not sent: the value of '{field}' has no row in the event name mappings"
                        ));
                    }
                }
            }
        };
        let timestamp = match &self.timestamp {
            TimestampSource::ProcessingTime => format_utc(processing_time),
            TimestampSource::Field(field) => match self.timestamp_index.and_then(|i| fields.get(i))
            {
                None | Some(Value::Null) => {
                    return Err(format!(
                        "event not sent: timestamp field '{field}' is empty"
                    ));
                }
                Some(Value::String(s)) => normalise_datetime(s).ok_or_else(|| {
                    format!("event not sent: timestamp field '{field}' is not a date-time")
                })?,
                Some(_) => {
                    return Err(format!(
                        "event not sent: timestamp field '{field}' is not a date-time"
                    ));
                }
            },
        };
        let event_params = self.params.apply(fields, notes);
        Ok(InsiderEvent {
            event_name,
            timestamp,
            event_params,
        })
    }
}

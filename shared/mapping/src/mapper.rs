//! The [`Mapper`]: an integration's identifier, attribute and event mappings compiled once
//! per execution, applied to each record. Every record ends as a user, skipped with a reason
//! (no valid identifier, or nothing to send) or failed with a reason (too large to send);
//! reasons and notes name fields, never values (PII).

use chrono::{DateTime, Utc};
use dynsync_domain::definition::InvalidIdentifierStrategy;
use dynsync_domain::{Identifiers, InsiderUser, Integration, OptionLabels, Record};
use serde_json::Value;

use crate::batch::{MAX_BODY_BYTES, upsert_body, user_size};
use crate::events::EventRule;
use crate::fields::{ObjectRules, Target};
use crate::identifiers::IdentifierRule;
use crate::lookup::{Fields, Lookup};
use crate::phone::PhoneNormaliser;

/// The `record_id` of a record whose primary id is missing.
pub const UNKNOWN_RECORD_ID: &str = "<unknown>";

/// What became of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedRecord {
    /// The record's primary id value, or [`UNKNOWN_RECORD_ID`].
    pub record_id: String,
    pub outcome: Outcome,
    /// Events not sent for this record (unmapped name, empty timestamp); reasons in `notes`.
    pub events_not_sent: u32,
    /// Dropped identifiers, omitted attributes and unsent events, by field name.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    User(InsiderUser),
    Skipped { reason: String },
    Failed { reason: String },
}

/// An integration's mappings, compiled once per execution.
#[derive(Debug, Clone)]
pub struct Mapper {
    /// The distinct fields the rules read, found in one pass over each record.
    lookup: Lookup,
    /// The primary id field's index in `lookup`.
    primary_id: usize,
    identifiers: Vec<IdentifierRule>,
    invalid_identifier: InvalidIdentifierStrategy,
    phone: PhoneNormaliser,
    attributes: ObjectRules,
    event: Option<EventRule>,
}

impl Mapper {
    /// Compiles `integration`'s mappings with the option-set `labels` fetched for its
    /// `code_to_label` fields; `primary_id` names the field giving each record's id.
    pub fn new(integration: &Integration, labels: &OptionLabels, primary_id: &str) -> Mapper {
        let definition = integration.definition();
        let unknown_code = definition.insider.unknown_code;
        let mut lookup = Lookup::default();
        let primary_id = lookup.index(primary_id);
        Mapper {
            primary_id,
            identifiers: definition
                .identifiers
                .iter()
                .map(|m| IdentifierRule::new(m, &mut lookup))
                .collect(),
            invalid_identifier: definition.invalid_identifier,
            phone: PhoneNormaliser::new(&definition.phone),
            attributes: ObjectRules::new(
                &definition.attributes,
                &definition.fixed_attributes,
                Target::Attribute,
                labels,
                unknown_code,
                &mut lookup,
            ),
            event: definition
                .events
                .as_ref()
                .map(|e| EventRule::new(e, labels, unknown_code, &mut lookup)),
            lookup,
        }
    }

    /// Maps one record; `processing_time` is the execution's start (event timestamps).
    pub fn map(&self, record: &Record, processing_time: DateTime<Utc>) -> MappedRecord {
        self.lookup.with(record, |fields| {
            let mut mapped = MappedRecord {
                record_id: record_id(fields.get(self.primary_id)),
                outcome: Outcome::Skipped {
                    reason: String::new(),
                },
                events_not_sent: 0,
                notes: Vec::new(),
            };
            mapped.outcome = self.outcome(fields, processing_time, &mut mapped);
            mapped
        })
    }

    fn outcome(
        &self,
        fields: &Fields<'_>,
        processing_time: DateTime<Utc>,
        mapped: &mut MappedRecord,
    ) -> Outcome {
        let mut identifiers = Identifiers::default();
        let mut invalid = Vec::new();
        for rule in &self.identifiers {
            if let Err(problem) = rule.apply(fields, &self.phone, &mut identifiers) {
                invalid.push(problem.to_string());
            }
        }
        if !invalid.is_empty() && self.invalid_identifier == InvalidIdentifierStrategy::SkipUser {
            return Outcome::Skipped {
                reason: format!(
                    "invalid identifier (invalid_identifier: skip_user): {}",
                    invalid.join("; ")
                ),
            };
        }
        if identifiers.is_empty() {
            let why = if invalid.is_empty() {
                "no identifier mappings are configured".to_owned()
            } else {
                invalid.join("; ")
            };
            return Outcome::Skipped {
                reason: format!("no valid identifier: {why}"),
            };
        }
        mapped.notes.extend(
            invalid
                .into_iter()
                .map(|problem| format!("identifier dropped: {problem}")),
        );

        let attributes = self.attributes.apply(fields, &mut mapped.notes);
        let mut events = Vec::with_capacity(usize::from(self.event.is_some()));
        if let Some(rule) = &self.event {
            match rule.build(fields, processing_time, &mut mapped.notes) {
                Ok(event) => events.push(event),
                Err(reason) => {
                    mapped.events_not_sent += 1;
                    mapped.notes.push(reason);
                }
            }
        }
        if attributes.is_empty() && events.is_empty() {
            return Outcome::Skipped {
                reason: "nothing to send: Insider needs at least one attribute or event, and \
                         every mapped value of this record is empty"
                    .to_owned(),
            };
        }
        let user = InsiderUser {
            identifiers,
            attributes,
            events,
        };
        if may_exceed_request_limit(fields.record) {
            let size = user_size(&user).saturating_add(upsert_body(&[], true).len());
            if size >= MAX_BODY_BYTES {
                return Outcome::Failed {
                    reason: format!(
                        "user is {size} bytes, over Insider's 5,000,000-byte request limit; \
                         shorten or unmap the largest fields"
                    ),
                };
            }
        }
        Outcome::User(user)
    }
}

fn record_id(primary_id: Option<&Value>) -> String {
    match primary_id {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => UNKNOWN_RECORD_ID.to_owned(),
    }
}

/// A cheap upper bound: JSON escaping at most sextuples a string (`\u0000`), so a record
/// whose text is well below the limit cannot produce a user above it.
fn may_exceed_request_limit(record: &Record) -> bool {
    fn text_len(value: &Value) -> usize {
        match value {
            Value::String(s) => s.len(),
            Value::Array(items) => items.iter().map(text_len).sum(),
            Value::Object(map) => map.iter().map(|(k, v)| k.len() + text_len(v)).sum(),
            _ => 32,
        }
    }
    let text: usize = record
        .iter()
        .map(|(k, v)| {
            // Strings, the usual value, without the recursive call.
            let value = match v {
                Value::String(s) => s.len(),
                _ => text_len(v),
            };
            k.len() + value + 8
        })
        .sum();
    // Each field may appear twice (an attribute and an event parameter).
    text.saturating_mul(12) >= MAX_BODY_BYTES
}

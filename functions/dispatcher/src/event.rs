//! Telling the dispatcher's two events apart: a manual run `{"integration_id": "<id>"}`
//! (a console test event, `dynsync trigger`), or the EventBridge scheduled event of the
//! stack's schedule rule (`source: aws.events`, `detail-type: Scheduled Event`).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::DispatcherError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatcherEvent {
    /// Run the schedule; `scheduled_at` is the rule's time, when the event carries it.
    Tick { scheduled_at: Option<DateTime<Utc>> },
    /// Start one execution of this integration now.
    Manual { integration_id: String },
}

impl DispatcherEvent {
    pub fn parse(event: &Value) -> Result<Self, DispatcherError> {
        if let Some(id) = event.get("integration_id") {
            return match id.as_str().map(str::trim) {
                Some(id) if !id.is_empty() => Ok(DispatcherEvent::Manual {
                    integration_id: id.to_owned(),
                }),
                _ => Err(DispatcherError::UnrecognisedEvent(
                    "integration_id must be a non-empty string".into(),
                )),
            };
        }
        let scheduled: EventBridgeEvent<Value> =
            serde_json::from_value(event.clone()).map_err(|e| {
                DispatcherError::UnrecognisedEvent(format!("not an EventBridge event: {e}"))
            })?;
        if scheduled.source != "aws.events" || scheduled.detail_type != "Scheduled Event" {
            return Err(DispatcherError::UnrecognisedEvent(format!(
                "an EventBridge event from '{}' of type '{}'",
                scheduled.source, scheduled.detail_type
            )));
        }
        Ok(DispatcherEvent::Tick {
            scheduled_at: scheduled.time,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scheduled_event() -> Value {
        json!({
            "version": "0",
            "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-11-27T10:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/dynsync-tick"],
            "detail": {}
        })
    }

    #[test]
    fn a_scheduled_event_is_a_tick_at_its_time() {
        let parsed = DispatcherEvent::parse(&scheduled_event()).ok();
        let expected = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .ok()
            .map(|t| t.with_timezone(&Utc));
        assert_eq!(
            parsed,
            Some(DispatcherEvent::Tick {
                scheduled_at: expected
            })
        );
    }

    #[test]
    fn an_integration_id_is_a_manual_run() {
        let parsed = DispatcherEvent::parse(&json!({"integration_id": " active-contacts "})).ok();
        assert_eq!(
            parsed,
            Some(DispatcherEvent::Manual {
                integration_id: "active-contacts".into()
            })
        );
    }

    #[test]
    fn an_empty_or_non_string_integration_id_is_rejected() {
        for event in [json!({"integration_id": ""}), json!({"integration_id": 7})] {
            let error = DispatcherEvent::parse(&event).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("non-empty string")),
                "{error:?}"
            );
        }
    }

    #[test]
    fn other_events_are_rejected_with_what_the_dispatcher_takes() {
        let mut other = scheduled_event();
        other["source"] = json!("aws.s3");
        other["detail-type"] = json!("Object Created");
        for event in [json!({}), json!("tick"), json!(null), other] {
            let error = DispatcherEvent::parse(&event).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("integration_id")),
                "{error:?}"
            );
        }
    }
}

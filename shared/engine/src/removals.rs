//! Records that left the synced set (deleted in Dynamics under fetch mode `changes`) get
//! the definition's `removals`: `ignore` sends nothing; `delete_profile` deletes each
//! Insider profile; `{attribute, value}` upserts the user with that attribute set. A
//! removed record arrives with only its id, so the user is identified by the definition's
//! removal identifier (`uuid`, or `custom` on the primary id). Each chunk sent is recorded
//! in the page ledger as a removal batch with its record ids, so a redelivery applies every
//! removal at most once.

use std::collections::HashSet;

use dynsync_domain::definition::{IdentifierType, Removals};
use dynsync_domain::execution::{MAX_RECORDED_FAILURES, PageTask, RecordFailure};
use dynsync_domain::ports::{BatchRecord, StateStore, UserSink};
use dynsync_domain::{Definition, InsiderUser};

use crate::EngineError;
use crate::attribute::{attribute, whole_batch_failed};
use crate::batches::BatchTally;
use crate::failpoints::failpoint;

/// Users Insider's delete endpoint is given per call (the sink sends them one by one).
const DELETES_PER_CALL: usize = 1_000;

/// Applies `removals` to the `removed` records no answered batch holds, recording each
/// chunk sent and counting it in `tally`. `Ok(Some(message))` when Insider refused the
/// removals as a whole (the execution stops, like a refused upsert batch).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn send_removals(
    state: &dyn StateStore,
    sink: &dyn UserSink,
    task: &PageTask,
    definition: &Definition,
    removed: &[String],
    answered: &HashSet<String>,
    skip_hook: bool,
    tally: &mut BatchTally,
) -> Result<Option<String>, EngineError> {
    let removals = definition.removals();
    if removals.is_ignore() {
        return Ok(None);
    }
    let ids: Vec<String> = removed
        .iter()
        .filter(|id| !answered.contains(id.as_str()))
        .cloned()
        .collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let Some(users) = removal_users(definition, &ids) else {
        // Validation requires the identifier; a stored definition from before that rule is
        // told what to fix.
        return Ok(Some(
            "removals needs an identifier taken from the primary id (a uuid, or a custom identifier on the primary id field); add one to identifiers".to_owned(),
        ));
    };
    let key = task.page_key();
    let chunks: Vec<std::ops::Range<usize>> = match removals {
        Removals::SetAttribute { .. } => dynsync_domain::batch::split(&users, skip_hook),
        _ => (0..users.len())
            .step_by(DELETES_PER_CALL)
            .map(|start| start..(start + DELETES_PER_CALL).min(users.len()))
            .collect(),
    };
    for range in chunks {
        let index = tally.next_index;
        let batch = users.get(range.clone()).unwrap_or_default();
        let batch_ids = ids.get(range).unwrap_or_default();
        let sent = match removals {
            Removals::SetAttribute { .. } => sink
                .upsert(batch, skip_hook)
                .await
                .map(|outcome| attribute(index, batch, batch_ids, &outcome)),
            _ => sink.delete_users(batch).await.map(|outcome| {
                let failures = outcome
                    .failures
                    .iter()
                    .take(MAX_RECORDED_FAILURES)
                    .map(|f| RecordFailure {
                        record_id: batch_ids.get(f.index).cloned().unwrap_or_default(),
                        reason: format!("profile not deleted: {}", f.reason),
                    })
                    .collect();
                BatchRecord {
                    index,
                    upserted: outcome.deleted.min(batch.len() as u64),
                    failed: outcome.failures.len() as u64,
                    events_sent: 0,
                    failures,
                    record_ids: batch_ids.to_vec(),
                    removal: true,
                    stop: None,
                }
            }),
        };
        let (mut record, refused) = match sent {
            Ok(mut record) => {
                record.removal = true;
                record.events_sent = 0;
                (record, None)
            }
            Err(error) if error.kind().is_transient() => return Err(EngineError::Sink(error)),
            Err(error) => {
                let mut record = whole_batch_failed(index, batch_ids, &error.to_string());
                record.removal = true;
                (
                    record,
                    Some(format!(
                        "Insider refused the removals of page {key}: {error}"
                    )),
                )
            }
        };
        record.stop.clone_from(&refused);
        state
            .record_batch(&task.execution_id, &key, &record)
            .await
            .map_err(EngineError::State)?;
        failpoint!("page.after_batch");
        tally.count(std::slice::from_ref(&record));
        if refused.is_some() {
            return Ok(refused);
        }
    }
    Ok(None)
}

/// The users removals are sent to: each identified only by its record's primary id, with
/// the removal attribute for `{attribute, value}`. `None` without a removal identifier.
fn removal_users(definition: &Definition, ids: &[String]) -> Option<Vec<InsiderUser>> {
    let identifier = definition.removal_identifier()?;
    let attribute = match definition.removals() {
        Removals::SetAttribute { attribute, value } => Some((attribute.as_str(), value)),
        _ => None,
    };
    Some(
        ids.iter()
            .map(|id| {
                let mut user = InsiderUser::default();
                match (identifier.kind, &identifier.name) {
                    (IdentifierType::Custom, Some(name)) => {
                        user.identifiers.custom.insert(name.clone(), id.clone());
                    }
                    _ => user.identifiers.uuid = Some(id.clone()),
                }
                if let Some((key, value)) = attribute {
                    dynsync_mapping::set_attribute(&mut user.attributes, key, value.clone());
                }
                user
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(removals: &str, identifier: &str) -> Definition {
        let yaml = format!(
            r#"id: gone
method: entity
dynamics:
  web_api_url: https://contoso.crm4.dynamics.com/api/data/v9.2
  auth:
    method: client_credentials
    token_url: https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token
    scopes: ["https://contoso.crm4.dynamics.com/.default"]
    client_id: 11111111-2222-3333-4444-555555555555
    client_secret: {{ secret: s }}
source:
  entity: contact
  fetch_mode: changes
  fields: [contactid, emailaddress1]
identifiers:
  - {{ type: email, field: emailaddress1 }}
  - {identifier}
removals: {removals}
insider:
  partner: acme
  token: {{ secret: t }}
"#
        );
        match dynsync_domain::Integration::from_yaml(&yaml) {
            Ok(integration) => integration.definition().clone(),
            Err(problems) => panic!("{:?}", problems.0),
        }
    }

    #[test]
    fn a_removed_record_is_identified_by_its_primary_id_alone() {
        let d = definition("delete_profile", "{ type: uuid, field: contactid }");
        let users = removal_users(&d, &["c1".to_owned()]).unwrap_or_default();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].identifiers.uuid.as_deref(), Some("c1"));
        assert!(users[0].identifiers.email.is_none());
        assert!(users[0].attributes.is_empty());
    }

    #[test]
    fn the_removal_attribute_goes_where_its_key_says() {
        let d = definition(
            "{ attribute: custom.crm_deleted, value: true }",
            "{ type: custom, name: crm_id, field: contactid }",
        );
        let users = removal_users(&d, &["c1".to_owned()]).unwrap_or_default();
        assert_eq!(
            users[0]
                .identifiers
                .custom
                .get("crm_id")
                .map(String::as_str),
            Some("c1")
        );
        assert_eq!(
            users[0].attributes.custom().collect::<Vec<_>>(),
            [("crm_deleted", &serde_json::json!(true))]
        );
    }
}

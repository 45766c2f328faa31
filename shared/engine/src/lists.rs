//! Incremental marketing lists (`source.list_mode: changes`, issue 12). A list page's
//! fixed id range `(cursor, next cursor]` (a partition's last page: up to the partition's
//! end) is what makes joiners and leavers exact: the previous successful run's members in
//! that range (`prev`, from the committed member set) are compared with the page's records
//! (`cur`, already restricted by the record filter in the FetchXML, so a member who no
//! longer matches is absent):
//!
//! - joiners `cur - prev` are upserted and counted `joined`;
//! - members in both whose `modifiedon` lies in the execution's half-open window are
//!   upserted (changed), the rest are skipped as unchanged list members;
//! - leavers `prev - cur` get `removals` (`removals.rs`) and are counted `left`.
//!
//! The page stages `cur` for its range under the execution; the staged set becomes the
//! integration's when the execution does not fail (`finish.rs`), so a failed or killed run
//! leaves the previous set and the next run sees the same joiners and leavers again. With
//! no committed set (the list's first run) the page is a full read that stages everything.
//! Ranges of one execution tile the id space (pages within partitions), so a member moving
//! across a boundary between two runs is compared within whichever range holds it now and
//! in the previous set: never both joiner and leaver, never missed.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use dynsync_domain::definition::{ListMode, Method};
use dynsync_domain::execution::{ExecutionPlan, PageTask, Partition, Window};
use dynsync_domain::ports::{BatchRecord, MemberKey, MemberRange};
use dynsync_domain::{Integration, Record};
use dynsync_mapping::Mapper;

use crate::engine::Prepared;
use crate::fetch::FetchStop;
use crate::{Engine, EngineError};

/// The field whose value tells a changed member from an unchanged one.
const MODIFIED_ON: &str = "modifiedon";

/// The skip reason of a member in both sets whose record did not change in the window.
pub(crate) const UNCHANGED: &str = "unchanged list member";

/// Whether a definition reads its list incrementally.
pub(crate) fn is_list_changes(definition: &dynsync_domain::Definition) -> bool {
    definition.method == Method::MarketingList && definition.source.list_mode() == ListMode::Changes
}

/// What the page fetches of a `list_mode: changes` execution run with: the plan without its
/// window (membership is decided here, not by the query) and `modifiedon` among the fields.
pub(crate) fn list_fetch(plan: &ExecutionPlan) -> Result<Option<Box<Prepared>>, EngineError> {
    if !is_list_changes(&plan.definition) {
        return Ok(None);
    }
    let mut plan = plan.clone();
    plan.window = None;
    if !plan
        .definition
        .source
        .fields
        .iter()
        .any(|f| f == MODIFIED_ON)
    {
        plan.definition.source.fields.push(MODIFIED_ON.to_owned());
    }
    let integration = Integration::new(plan.definition.clone()).map_err(|problems| {
        EngineError::InvalidDefinition {
            id: plan.definition.id.clone(),
            problems: problems.joined("; "),
        }
    })?;
    let mapper = Mapper::new(&integration, &plan.source.labels, &plan.source.primary_id);
    Ok(Some(Box::new(Prepared {
        plan,
        integration,
        mapper,
        lock_expires_at: std::sync::Mutex::new(None),
        list_fetch: None,
        page_bytes: std::sync::atomic::AtomicUsize::new(0),
    })))
}

/// A list page compared with the committed member set.
#[derive(Debug, Default)]
pub(crate) struct ListDelta {
    /// The records to map and upsert: joiners and changed members (every record on a
    /// list's first run).
    pub send: Vec<Record>,
    /// Members in both sets whose record did not change (skipped).
    pub unchanged: Vec<String>,
    pub joined: u64,
    /// Ids of the members who left (or no longer match the filter, or were deleted).
    pub leavers: Vec<String>,
}

/// A GUID as its member key; `None` for anything else.
pub fn member_key(id: &str) -> Option<MemberKey> {
    let uuid = uuid::Uuid::parse_str(id.trim_matches(|c| c == '{' || c == '}')).ok()?;
    Some(dynsync_fetchxml::sql_server_key(&uuid))
}

/// A member key as the lowercase hyphenated GUID Dataverse returns.
pub fn member_id(key: MemberKey) -> String {
    dynsync_fetchxml::uuid_from_key(key)
        .hyphenated()
        .to_string()
}

/// Whether the record's `modifiedon` lies in `[from, to)` (a record without a readable
/// `modifiedon` counts as changed: sending it again is harmless, missing it is not).
fn changed_in(record: &Record, window: Option<&Window>) -> bool {
    let Some(window) = window else {
        return true;
    };
    let Some(at) = record
        .get(MODIFIED_ON)
        .and_then(|v| v.as_str())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
    else {
        return true;
    };
    window.from.is_none_or(|from| at >= from) && window.to.is_none_or(|to| at < to)
}

impl Engine {
    /// `list_mode: changes`: makes the members the execution staged the integration's
    /// set. Called once every page is done, before the execution is finished.
    pub(crate) async fn promote_members(
        &self,
        prepared: &Prepared,
        execution_id: &str,
    ) -> Result<(), EngineError> {
        let definition = &prepared.plan.definition;
        if !is_list_changes(definition) {
            return Ok(());
        }
        self.members
            .promote_members(&definition.id, execution_id)
            .await
            .map_err(EngineError::State)
    }

    /// Forgets what a failed execution staged (best effort: the committed set stays).
    pub(crate) async fn discard_members(&self, prepared: &Prepared, execution_id: &str) {
        let definition = &prepared.plan.definition;
        if !is_list_changes(definition) {
            return;
        }
        if let Err(error) = self
            .members
            .discard_members(&definition.id, execution_id)
            .await
        {
            tracing::warn!(execution_id = %execution_id, error = %error, "could not discard the member set a failed execution staged");
        }
    }

    /// Compares a `list_mode: changes` page with the committed member set and stages the
    /// page's members for its range. `Ok(None)` for any other definition. `answered` are
    /// the page's batches an earlier delivery sent: the members those upserted are staged
    /// too (Insider has them, so a later run must see them leave).
    pub(crate) async fn list_delta(
        &self,
        task: &PageTask,
        prepared: &Prepared,
        partition: &Partition,
        next_cursor: Option<&str>,
        records: Vec<Record>,
        answered: &[BatchRecord],
    ) -> Result<Result<ListDelta, Vec<Record>>, FetchStop> {
        let definition = &prepared.plan.definition;
        if !is_list_changes(definition) {
            return Ok(Err(records));
        }
        let bound = |what: &str, value: Option<&str>| -> Result<Option<MemberKey>, FetchStop> {
            match value {
                None => Ok(None),
                Some(value) => member_key(value).map(Some).ok_or_else(|| {
                    FetchStop::Fail(format!(
                        "list page {}: its {what} '{value}' is not a GUID",
                        task.page_key()
                    ))
                }),
            }
        };
        let range = MemberRange {
            after: bound(
                "start",
                task.cursor.as_deref().or(partition.after.as_deref()),
            )?,
            until: bound("end", next_cursor.or(partition.until.as_deref()))?,
        };
        let primary_id = &prepared.plan.source.primary_id;
        let key_of = |record: &Record| {
            record
                .get(primary_id)
                .and_then(|v| v.as_str())
                .and_then(member_key)
        };
        let state = |e| FetchStop::Error(EngineError::State(e));
        let prev = self
            .members
            .committed_members(&definition.id, range)
            .await
            .map_err(state)?;

        // Stage what the page holds now, and what an earlier delivery upserted in range.
        let mut staged: Vec<MemberKey> = records.iter().filter_map(key_of).collect();
        staged.extend(
            answered
                .iter()
                .filter(|b| !b.removal)
                .flat_map(|b| b.record_ids.iter())
                .filter_map(|id| member_key(id))
                .filter(|k| range.contains(*k)),
        );
        self.members
            .stage_members(&definition.id, &task.execution_id, range, &staged)
            .await
            .map_err(state)?;

        let Some(prev) = prev else {
            // The list's first incremental run reads it in full.
            return Ok(Ok(ListDelta {
                send: records,
                ..ListDelta::default()
            }));
        };
        let prev: HashSet<MemberKey> = prev.into_iter().collect();
        let mut current: HashSet<MemberKey> = HashSet::with_capacity(records.len());
        let mut delta = ListDelta::default();
        let window = prepared.plan.window.as_ref();
        for record in records {
            match key_of(&record) {
                Some(key) if !range.contains(key) => {
                    // Outside the page's range (a source that pages wrongly): another
                    // range's business; sent, never compared.
                    delta.send.push(record);
                }
                Some(key) if prev.contains(&key) => {
                    current.insert(key);
                    if changed_in(&record, window) {
                        delta.send.push(record);
                    } else {
                        delta.unchanged.push(member_id(key));
                    }
                }
                Some(key) => {
                    current.insert(key);
                    delta.joined += 1;
                    delta.send.push(record);
                }
                None => delta.send.push(record),
            }
        }
        let mut leavers: Vec<MemberKey> = prev.difference(&current).copied().collect();
        leavers.sort_unstable();
        delta.leavers = leavers.into_iter().map(member_id).collect();
        Ok(Ok(delta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_keys_follow_sql_server_order_and_round_trip() {
        let a = "00000000-0000-0000-0000-000000000002";
        let b = "01000000-0000-0000-0000-000000000001";
        let (ka, kb) = (member_key(a), member_key(b));
        assert!(ka.is_some() && kb.is_some());
        // The last group weighs most in SQL Server order.
        assert!(ka > kb);
        assert_eq!(ka.map(member_id).as_deref(), Some(a));
        assert_eq!(member_key("not a guid"), None);
        assert_eq!(member_key(&format!("{{{a}}}")), ka);
    }

    #[test]
    fn changed_means_modifiedon_in_the_half_open_window() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .ok()
        };
        let window = Window {
            from: at("2026-11-27T09:00:00Z"),
            to: at("2026-11-27T10:00:00Z"),
        };
        let record = |m: &str| {
            let mut r = Record::new();
            r.insert(MODIFIED_ON.into(), serde_json::Value::from(m));
            r
        };
        assert!(changed_in(&record("2026-11-27T09:00:00Z"), Some(&window)));
        assert!(!changed_in(&record("2026-11-27T10:00:00Z"), Some(&window)));
        assert!(!changed_in(&record("2026-11-27T08:59:59Z"), Some(&window)));
        assert!(changed_in(&Record::new(), Some(&window)));
        assert!(changed_in(&record("2026-11-27T08:00:00Z"), None));
    }
}

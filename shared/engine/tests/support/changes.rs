//! Fixtures of the fetch-mode `changes` tests (`changes.rs`, `changes_removals.rs`): the
//! definition, two runs over 25 contacts with changes and deletes between them, and the
//! deletes' accounting check.

use chrono::Duration;
use dynsync_domain::execution::Execution;

use super::source::{Row, contact, contacts};
use super::{Harness, Spec, assert_counters_add_up, at};

pub const OLD: &str = "2020-01-01T00:00:00Z";

pub fn spec(removals: Option<&'static str>) -> Spec {
    Spec {
        id: "contacts".into(),
        fetch_mode: Some("changes"),
        removals,
        ..Spec::default()
    }
}

/// `deleted = applied + ignored + failed`: with `ignore` every deleted record is ignored;
/// otherwise the ones not applied are failed, each listed with its record id.
pub fn assert_deletes_add_up(execution: &Execution, ignored: bool) {
    let c = execution.counters;
    let failed_deletes = execution
        .failures
        .iter()
        .filter(|f| f.reason.contains("not deleted") || f.reason.contains("removal"))
        .count() as u64;
    if ignored {
        assert_eq!(c.removals_applied, 0, "{c:?}");
    } else {
        assert_eq!(
            c.deleted,
            c.removals_applied + failed_deletes,
            "deleted = applied + failed: {c:?} {:?}",
            execution.failures
        );
    }
    assert_counters_add_up(execution);
}

pub fn edited(row: &Row, name: &str) -> Row {
    let mut row = row.clone();
    row.record.insert("firstname".into(), name.into());
    row
}

/// Run 1 over 25 contacts, then: 2 updated, 1 created, 2 deleted. Returns the rows.
pub async fn two_runs(harness: &Harness, spec: &Spec) -> (Execution, Execution, Vec<Row>) {
    let integration = spec.integration();
    let first = harness.run(&integration).await;
    let rows = contacts(0, 25, at(OLD));
    harness.advance(Duration::hours(1));
    harness.source.put(vec![
        edited(&rows[3], "Updated 3"),
        edited(&rows[17], "Updated 17"),
        contact(100, Some("new100@example.com"), at(OLD), at(OLD)),
    ]);
    harness.source.remove(&rows[5].id);
    harness.source.remove(&rows[20].id);
    let second = harness.run(&integration).await;
    (first, second, rows)
}

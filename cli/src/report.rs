//! How executions are shown to people: a summary of one (after `dynsync run`, in
//! `dynsync executions show`) and a table of many (`dynsync executions`), the guide's
//! Executions tab.

use dynsync_domain::execution::{Execution, ExecutionStatus, Window};

use crate::context::print_table;

/// Failed records listed in a summary; `dynsync executions show ID --json` has all kept.
const FAILURES_SHOWN: usize = 10;

pub fn status_text(status: ExecutionStatus) -> &'static str {
    match status {
        ExecutionStatus::Running => "running",
        ExecutionStatus::Succeeded => "succeeded",
        ExecutionStatus::CompletedWithFailures => "completed with failures",
        ExecutionStatus::Failed => "failed",
    }
}

fn window_text(window: Option<&Window>) -> String {
    let end = |t: Option<chrono::DateTime<chrono::Utc>>, open: &str| {
        t.map_or_else(
            || open.to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
    };
    match window {
        None => "all records".to_owned(),
        Some(w) => format!(
            "modifiedon in [{}, {})",
            end(w.from, "beginning"),
            end(w.to, "now")
        ),
    }
}

fn time_text(time: Option<chrono::DateTime<chrono::Utc>>) -> String {
    time.map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// One execution: its record, then its first failures.
pub fn print_execution(execution: &Execution) {
    let c = &execution.counters;
    let mut rows = vec![
        vec!["Execution".to_owned(), execution.id.clone()],
        vec!["Integration".to_owned(), execution.integration_id.clone()],
        vec![
            "Status".to_owned(),
            status_text(execution.status).to_owned(),
        ],
        vec!["Started".to_owned(), time_text(Some(execution.started_at))],
        vec!["Finished".to_owned(), time_text(execution.finished_at)],
        vec!["Window".to_owned(), window_text(execution.window.as_ref())],
        vec!["Records read".to_owned(), c.records_read.to_string()],
        vec!["Users upserted".to_owned(), c.upserted.to_string()],
        vec![
            "Skipped (no valid identifier)".to_owned(),
            c.skipped.to_string(),
        ],
        vec!["Failed".to_owned(), c.failed.to_string()],
        vec!["Events sent".to_owned(), c.events_sent.to_string()],
        vec!["Pages".to_owned(), c.pages.to_string()],
    ];
    // Only where records can leave the synced set (fetch mode changes, list_mode changes).
    if c.deleted + c.joined + c.left + c.removals_applied > 0 {
        rows.push(vec![
            "Deleted in Dynamics".to_owned(),
            c.deleted.to_string(),
        ]);
        rows.push(vec!["Joined the list".to_owned(), c.joined.to_string()]);
        rows.push(vec!["Left the list".to_owned(), c.left.to_string()]);
        rows.push(vec![
            "Removals applied".to_owned(),
            c.removals_applied.to_string(),
        ]);
    }
    if c.resynced > 0 {
        rows.push(vec![
            "Resynced".to_owned(),
            "the change-tracking token had expired: every record was read again; records deleted since the last successful run could not be seen".to_owned(),
        ]);
    }
    if let Some(error) = &execution.error {
        rows.push(vec!["Error".to_owned(), error.clone()]);
    }
    print_table(&["", ""], rows);
    if !execution.failures.is_empty() {
        let shown: Vec<Vec<String>> = execution
            .failures
            .iter()
            .take(FAILURES_SHOWN)
            .map(|f| vec![f.record_id.clone(), f.reason.clone()])
            .collect();
        println!("Failed records:");
        print_table(&["record", "reason"], shown);
        let more = c.failed.saturating_sub(FAILURES_SHOWN as u64);
        if more > 0 {
            println!(
                "… and {more} more (`dynsync executions show {} --json` lists the first {})",
                execution.id,
                dynsync_domain::execution::MAX_RECORDED_FAILURES
            );
        }
    }
}

/// Many executions, newest first.
pub fn print_executions(executions: &[Execution]) {
    let rows = executions
        .iter()
        .map(|e| {
            vec![
                e.id.clone(),
                e.integration_id.clone(),
                time_text(Some(e.started_at)),
                status_text(e.status).to_owned(),
                e.counters.records_read.to_string(),
                e.counters.upserted.to_string(),
                e.counters.skipped.to_string(),
                e.counters.failed.to_string(),
                e.counters.events_sent.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "execution",
            "integration",
            "started",
            "status",
            "read",
            "upserted",
            "skipped",
            "failed",
            "events",
        ],
        rows,
    );
}

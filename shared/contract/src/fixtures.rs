//! Values the checks store: unique ids (so that runs against a shared server never meet),
//! a valid definition, executions, plans and page tasks.

use chrono::{DateTime, Duration, TimeZone, Utc};
use dynsync_domain::Definition;
use dynsync_domain::execution::{
    Counters, Execution, ExecutionPlan, ExecutionStatus, PageTask, Partition, RecordFailure,
    SourcePlan, Trigger, Window,
};

/// `prefix-<32 hex digits>`: lowercase, so it is also a valid integration id.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A fixed instant plus `minutes`, for slots, windows and start times.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0)
        .single()
        .unwrap_or_default()
        + Duration::minutes(minutes)
}

/// A valid entity definition with the given id.
pub fn definition(id: &str) -> Definition {
    let json = serde_json::json!({
        "id": id,
        "name": "Contract check",
        "method": "entity",
        "schedule": "0 * * * *",
        "dynamics": {
            "web_api_url": "https://contoso.crm4.dynamics.com/api/data/v9.2",
            "auth": {
                "method": "client_credentials",
                "token_url": "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/oauth2/v2.0/token",
                "scopes": ["https://contoso.crm4.dynamics.com/.default"],
                "client_id": "11111111-2222-3333-4444-555555555555",
                "client_secret": { "secret": "dynsync/contract/dynamics" }
            }
        },
        "source": {
            "entity": "contact",
            "fetch_mode": "new_and_updated",
            "fields": ["contactid", "emailaddress1"]
        },
        "identifiers": [{ "type": "email", "field": "emailaddress1" }],
        "insider": { "partner": "acme", "token": { "secret": "dynsync/insider" } }
    });
    serde_json::from_value(json).expect("the contract's sample definition is valid")
}

/// A `running` execution of `integration_id` that started at `started_at`.
pub fn running_execution(integration_id: &str, started_at: DateTime<Utc>) -> Execution {
    Execution {
        id: unique("exec"),
        integration_id: integration_id.to_owned(),
        trigger: Trigger::Manual,
        status: ExecutionStatus::Running,
        started_at,
        finished_at: None,
        window: Some(Window {
            from: Some(started_at - Duration::hours(1)),
            to: Some(started_at - Duration::minutes(5)),
        }),
        counters: Counters::default(),
        failures: Vec::new(),
        error: None,
    }
}

/// The plan of `execution`, with `partitions` partitions.
pub fn plan(execution: &Execution, partitions: u32) -> ExecutionPlan {
    ExecutionPlan {
        definition: definition(&execution.integration_id),
        source: SourcePlan {
            entity: "contact".to_owned(),
            entity_set: "contacts".to_owned(),
            primary_id: "contactid".to_owned(),
            labels: [(
                "gendercode".to_owned(),
                [(1, "male".to_owned()), (2, "female".to_owned())].into(),
            )]
            .into(),
            list: None,
        },
        window: execution.window,
        partitions: (0..partitions)
            .map(|index| Partition {
                index,
                after: None,
                until: None,
            })
            .collect(),
        processing_time: execution.started_at,
    }
}

/// The first page key of each of `partitions` partitions.
pub fn first_pages(partitions: u32) -> Vec<String> {
    (0..partitions)
        .map(|partition| first_task("x", "y", partition).page_key())
        .collect()
}

pub fn first_task(execution_id: &str, integration_id: &str, partition: u32) -> PageTask {
    PageTask {
        execution_id: execution_id.to_owned(),
        integration_id: integration_id.to_owned(),
        partition,
        cursor: None,
    }
}

/// Page tasks of one execution with distinct cursors.
pub fn tasks(count: usize) -> Vec<PageTask> {
    let execution_id = unique("exec");
    (0..count)
        .map(|n| PageTask {
            execution_id: execution_id.clone(),
            integration_id: "contract".to_owned(),
            partition: 0,
            cursor: Some(format!("00000000-0000-0000-0000-{n:012}")),
        })
        .collect()
}

pub fn failures(page: &str, count: usize) -> Vec<RecordFailure> {
    (0..count)
        .map(|n| RecordFailure {
            record_id: format!("{page}-{n}"),
            reason: "invalid email".to_owned(),
        })
        .collect()
}

pub fn counters(records: u64, failed: u64) -> Counters {
    Counters {
        records_read: records,
        upserted: records - failed,
        failed,
        skipped: 0,
        events_sent: records,
        pages: 1,
        deleted: failed,
        removals_applied: failed / 2,
        ..Counters::default()
    }
}

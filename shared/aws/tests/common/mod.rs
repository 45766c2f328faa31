//! Shared set-up of the moto-backed tests: the SDK configuration from the environment
//! (`AWS_ENDPOINT_URL` points at moto), uniquely named tables and queues, fixtures and a
//! clock the tests move by hand. Without `AWS_ENDPOINT_URL` the tests skip loudly, except
//! in CI (`CI` set), where they fail.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use chrono::{DateTime, TimeZone, Utc};
use dynsync_aws::{AwsRequestCounter, DynamoDbStateStore, SqsPageQueue, infra};
use dynsync_domain::Definition;
use dynsync_domain::execution::{
    Counters, Execution, ExecutionPlan, ExecutionStatus, Partition, RecordFailure, SourcePlan,
    Trigger,
};
use dynsync_domain::ports::{Clock, Executions};

/// The SDK configuration for moto, or `None` (after saying so) when the tests must skip.
pub use dynsync_aws::infra::moto_sdk_config as aws;

/// `let config = aws_or_skip!();` — returns from the test when it must skip.
#[macro_export]
macro_rules! aws_or_skip {
    () => {
        match common::aws().await {
            Some(config) => config,
            None => return,
        }
    };
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A store on a fresh table, counting into `counter`.
pub async fn state_store(config: &SdkConfig, counter: &AwsRequestCounter) -> DynamoDbStateStore {
    let table = unique("dynsync-test");
    let store = DynamoDbStateStore::from_client(counter.dynamodb_client(config, &[]), &table);
    infra::create_table(store.client(), &table).await.unwrap();
    store
}

/// A queue adapter on a fresh queue with the given visibility timeout.
pub async fn page_queue(
    config: &SdkConfig,
    visibility: Duration,
    counter: &AwsRequestCounter,
) -> SqsPageQueue {
    let client = aws_sdk_sqs::Client::new(config);
    let url = infra::create_queue(&client, &unique("dynsync-test"), visibility)
        .await
        .unwrap();
    SqsPageQueue::from_client(counter.sqs_client(config, &[]), url)
}

/// A clock the test sets.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn at(at: DateTime<Utc>) -> Arc<Self> {
        Arc::new(Self(Mutex::new(at)))
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, hour, minute, 0)
        .single()
        .unwrap()
}

pub fn definition(id: &str) -> Definition {
    serde_json::from_value(serde_json::json!({
        "id": id,
        "method": "entity",
        "dynamics": {
            "web_api_url": "https://contoso.crm4.dynamics.com/api/data/v9.2",
            "auth": {
                "method": "client_credentials",
                "token_url": "https://login.microsoftonline.com/t/oauth2/v2.0/token",
                "scopes": ["https://contoso.crm4.dynamics.com/.default"],
                "client_id": "c",
                "client_secret": { "secret": "dynsync/x/dynamics" }
            }
        },
        "source": { "entity": "contact", "fields": ["contactid", "emailaddress1"] },
        "identifiers": [{ "type": "email", "field": "emailaddress1" }],
        "insider": { "partner": "acme", "token": { "secret": "dynsync/x/insider" } }
    }))
    .unwrap()
}

pub fn execution(
    id: &str,
    integration_id: &str,
    started_at: DateTime<Utc>,
    status: ExecutionStatus,
) -> Execution {
    Execution {
        id: id.to_owned(),
        integration_id: integration_id.to_owned(),
        trigger: Trigger::Schedule,
        status,
        started_at,
        finished_at: None,
        window: None,
        counters: Counters::default(),
        failures: Vec::new(),
        error: if status == ExecutionStatus::Failed {
            Some("bad credentials".into())
        } else {
            None
        },
    }
}

pub fn plan(integration_id: &str, partitions: u32) -> ExecutionPlan {
    ExecutionPlan {
        definition: definition(integration_id),
        source: SourcePlan {
            entity: "contact".into(),
            entity_set: "contacts".into(),
            primary_id: "contactid".into(),
            labels: [(
                "gendercode".to_owned(),
                [(1, "Male".to_owned()), (2, "Female".to_owned())].into(),
            )]
            .into(),
            list: None,
        },
        window: None,
        partitions: (0..partitions)
            .map(|index| Partition {
                index,
                after: None,
                until: None,
            })
            .collect(),
        processing_time: at(10, 0),
    }
}

pub fn failures(page: &str, count: usize) -> Vec<RecordFailure> {
    (0..count)
        .map(|i| RecordFailure {
            record_id: format!("{page}-{i}"),
            reason: "invalid email".into(),
        })
        .collect()
}

/// A running execution with its plan and `pages` first pages registered.
pub async fn running(store: &DynamoDbStateStore, id: &str, integration: &str, pages: &[&str]) {
    let keys: Vec<String> = pages.iter().map(|p| (*p).to_owned()).collect();
    store
        .create_execution(
            &execution(id, integration, at(10, 0), ExecutionStatus::Running),
            Some(&plan(integration, 1)),
            &keys,
        )
        .await
        .unwrap();
}

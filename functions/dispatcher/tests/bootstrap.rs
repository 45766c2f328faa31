//! The dispatcher Lambda as deployed: the real `dispatcher` binary run as a process against
//! the Lambda Runtime API emulator, configured from the environment template.yaml gives it,
//! over DynamoDB, SQS and Secrets Manager on moto and the Dataverse and Insider emulators.
//! A scheduled event starts the due integration (its execution in DynamoDB, its first page
//! task on SQS) and a manual event in the same warm process names it; a deployment missing
//! its table name reports that to `/runtime/init/error` and exits non-zero without a panic
//! (issue 10's fault matrix, last item). The moto cases skip without `AWS_ENDPOINT_URL`
//! (fail in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../worker/tests/support/aws_definition.rs"]
mod definition;
#[path = "../../worker/tests/support/aws_fixtures.rs"]
mod fixtures;
#[path = "../../worker/tests/support/bootstrap.rs"]
mod process;

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use chrono::{DurationRound, Utc};
use definition::Endpoints;
use dynsync_aws::{DynamoDbStateStore, infra};
use dynsync_domain::execution::{ExecutionStatus, PageTask, Trigger};
use dynsync_domain::ports::{Definitions, Executions};
use dynsync_emulators::dataverse::{CLIENT_SECRET, DataverseEmulator, Seed};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, TOKEN};
use dynsync_emulators::lambda_runtime::{InvocationResult, LambdaRuntimeEmulator};
use fixtures::{Spec, aws, ids, scheduled_event};
use process::{Bootstrap, template_environment};
use serde_json::json;

const FUNCTION: &str = "dynsync-DispatcherFunction-test";

/// A table, a queue and secrets on moto, the emulators, and one stored definition.
struct Deployment {
    sdk: SdkConfig,
    table: String,
    queue_url: String,
    state: DynamoDbStateStore,
    dataverse: DataverseEmulator,
    insider: InsiderEmulator,
    suffix: String,
}

impl Deployment {
    async fn new(sdk: &SdkConfig) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let table = format!("dynsync-boot-{suffix}");
        infra::create_table(&aws_sdk_dynamodb::Client::new(sdk), &table)
            .await
            .unwrap();
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let queue_url = infra::create_queue(&sqs, &table, Duration::from_secs(60))
            .await
            .unwrap();
        Self {
            sdk: sdk.clone(),
            state: DynamoDbStateStore::new(sdk, table.clone()),
            table,
            queue_url,
            dataverse: DataverseEmulator::start(Seed::contacts(25, 7))
                .await
                .unwrap(),
            insider: InsiderEmulator::start(InsiderConfig::default())
                .await
                .unwrap(),
            suffix,
        }
    }

    /// Stores the definition of `spec` and its secrets; its integration id.
    async fn define(&self, spec: &Spec) -> String {
        let id = format!("{}-{}", spec.name, self.suffix);
        definition::put_secrets(&self.sdk, &id).await;
        let at = Endpoints::of(&self.dataverse, &self.insider);
        definition::store(&self.state, &definition::spec_yaml(&id, spec, &at)).await;
        id
    }

    async fn dispatcher(&self) -> Bootstrap {
        let variables = template_environment("DispatcherFunction", &self.table, &self.queue_url);
        Bootstrap::spawn(env!("CARGO_BIN_EXE_dispatcher"), FUNCTION, &variables).await
    }

    /// The page tasks SQS delivers within `wait` seconds.
    async fn page_tasks(&self, wait: i32) -> Vec<PageTask> {
        aws_sdk_sqs::Client::new(&self.sdk)
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default()
            .iter()
            .map(|m| serde_json::from_str(m.body.as_deref().unwrap()).unwrap())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_event_starts_the_due_integration_in_dynamodb_with_its_first_page_on_sqs() {
    let Some(sdk) = aws().await else { return };
    let deployment = Deployment::new(&sdk).await;
    let id = deployment
        .define(&Spec::default().schedule("* * * * *"))
        .await;
    // A slot fired five minutes ago, so the one of this minute is due (without it the
    // first tick only records its slot).
    let minute = Utc::now()
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap();
    let earlier = minute - chrono::Duration::minutes(5);
    assert!(
        deployment
            .state
            .claim_slot(&id, None, earlier)
            .await
            .unwrap()
    );
    let mut dispatcher = deployment.dispatcher().await;

    let answer = dispatcher.respond(scheduled_event(Utc::now())).await;

    let started = ids(&answer, "started");
    assert_eq!(started.len(), 1, "{answer}\n{}", dispatcher.output());
    assert!(ids(&answer, "errors").is_empty(), "{answer}");
    let execution = deployment
        .state
        .get_execution(&started[0])
        .await
        .unwrap()
        .expect("the execution is recorded in DynamoDB");
    assert_eq!(execution.integration_id, id);
    assert_eq!(
        (execution.trigger, execution.status),
        (Trigger::Schedule, ExecutionStatus::Running)
    );
    let slot = deployment.state.last_slot(&id).await.unwrap();
    assert!(slot.is_some_and(|slot| slot > earlier), "{slot:?}");
    let tasks = deployment.page_tasks(2).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(
        (
            tasks[0].execution_id.as_str(),
            tasks[0].partition,
            tasks[0].cursor.as_deref()
        ),
        (execution.id.as_str(), 0, None)
    );

    // The same warm process takes a manual event: the running execution is named, none
    // starts.
    let manual = dispatcher.respond(json!({ "integration_id": id })).await;
    assert_eq!(
        manual,
        json!({ "integration_id": id, "execution_id": execution.id, "status": "running",
                "started": false, "error": null })
    );
    let unknown = dispatcher
        .invoke(
            json!({ "integration_id": "no-such-integration" }),
            SystemTime::now() + Duration::from_secs(300),
        )
        .await;
    let message = unknown.error().map(|e| e["errorMessage"].to_string());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("no-such-integration")),
        "{unknown:?}"
    );
    let output = dispatcher.output();
    assert!(output.contains("\"ExecutionsStarted\""), "{output}");
    assert!(!output.contains(CLIENT_SECRET) && !output.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_name_is_reported_to_init_error_naming_it_and_the_process_exits_non_zero() {
    let mut variables = template_environment(
        "DispatcherFunction",
        "dynsync-StateTable",
        "http://127.0.0.1:9/queue/dynsync-PageQueue",
    );
    assert!(variables.remove("DYNSYNC_TABLE").is_some());
    let runtime = LambdaRuntimeEmulator::start().await.unwrap();
    // An invocation waiting for the cold start, as when Lambda starts a container for it.
    let tick = runtime.invoke(
        scheduled_event(Utc::now()),
        SystemTime::now() + Duration::from_secs(300),
    );
    let mut dispatcher = Bootstrap::spawn_on(
        runtime,
        env!("CARGO_BIN_EXE_dispatcher"),
        FUNCTION,
        &variables,
    );

    let status = dispatcher.exited().await;
    let output = dispatcher.output();
    assert_eq!(
        status.code(),
        Some(1),
        "an error exit, not a panic (101):\n{output}"
    );
    assert!(!output.contains("panicked"), "{output}");
    let reported = dispatcher
        .runtime
        .init_error()
        .unwrap_or_else(|| panic!("nothing was posted to /runtime/init/error:\n{output}"));
    let message = reported["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("DYNSYNC_TABLE is not set"), "{reported}");
    assert!(!message.contains("DYNSYNC_QUEUE_URL"), "{reported}");
    assert!(
        message.contains("template.yaml"),
        "it says where to fix it: {reported}"
    );
    // The invoker sees the same error.
    match tokio::time::timeout(Duration::from_secs(5), tick.result()).await {
        Ok(Some(InvocationResult::Error(error))) => assert_eq!(error, reported),
        other => panic!("the waiting invocation did not end with the init error: {other:?}"),
    }
}

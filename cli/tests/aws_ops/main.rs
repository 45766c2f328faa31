//! `dynsync push|trigger|pause|resume|executions --aws` driven as a person would, through
//! the real binary, against moto (DynamoDB, SQS, Secrets Manager reached through
//! `AWS_ENDPOINT_URL`) and, for `trigger`, the Dataverse and Insider emulators. Each test
//! creates its own table, queue, secrets and integration id, then reads what the binary
//! wrote with the same adapters the Lambdas use. Without `AWS_ENDPOINT_URL` the tests skip
//! loudly (run `infra/scripts/test.sh`, which starts moto), except in CI, where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod deployed;

use deployed::{Deployed, Endpoints, dynsync_command, path};
use dynsync_domain::execution::PageTask;
use dynsync_domain::ports::Definitions;
use dynsync_emulators::dataverse::{CLIENT_SECRET, DataverseEmulator, Seed};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, TOKEN};
use dynsync_tests::cli::RunOutput;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_stores_the_validated_definition_and_says_when_it_runs_next() {
    let stack = Deployed::create(aws_or_skip!()).await;
    let file = stack.write("integration.yaml", &Endpoints::placeholder(), "");

    let out = stack.dynsync(&["push", path(&file), "--aws"]).await;

    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains(&format!("stored '{}'", stack.id)),
        "{out:?}"
    );
    assert!(out.stdout.contains(&stack.table), "{out:?}");
    assert!(
        out.stdout.contains("schedule '0 * * * *' (UTC): next run ")
            && out.stdout.contains(":00 UTC"),
        "{out:?}"
    );
    let stored = stack.store().get_definition(&stack.id).await.unwrap();
    let stored = stored.expect("the definition is in the table");
    assert_eq!(stored.name.as_deref(), Some("CLI on AWS"));
    assert!(stored.enabled);

    let again = stack.dynsync(&["push", path(&file), "--aws"]).await;
    assert_eq!(again.code, Some(0), "{again:?}");
    assert!(
        again.stdout.contains(&format!("replaced '{}'", stack.id)),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_definition_exits_2_with_validate_s_lines_and_stores_nothing() {
    let stack = Deployed::create(aws_or_skip!()).await;
    let file = stack.write("invalid.yaml", &Endpoints::placeholder(), "");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text
        .replace(&format!("id: {}", stack.id), "id: Not An Id")
        .replace("schedule: \"0 * * * *\"", "schedule: \"0 * *\"");
    std::fs::write(&file, text).unwrap();

    let out = stack.dynsync(&["push", path(&file), "--aws"]).await;
    let validate = dynsync_command(&["validate", path(&file)])
        .output()
        .await
        .unwrap();
    let validate = RunOutput::from(validate);

    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(validate.code, Some(2), "{validate:?}");
    let problems: Vec<&str> = validate.stdout.lines().collect();
    assert!(
        problems.len() >= 2,
        "both problems are reported: {validate:?}"
    );
    for line in problems {
        assert!(
            out.stderr.contains(line),
            "push lacks '{line}':\n{}",
            out.stderr
        );
    }
    assert!(out.stderr.contains("nothing was stored"), "{out:?}");
    assert!(stack.store().list_definitions().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_turn_the_stored_definition_off_and_on() {
    let stack = Deployed::create(aws_or_skip!()).await;
    let file = stack.write("integration.yaml", &Endpoints::placeholder(), "");
    assert_eq!(
        stack.dynsync(&["push", path(&file), "--aws"]).await.code,
        Some(0)
    );
    let store = stack.store();

    let paused = stack.dynsync(&["pause", &stack.id, "--aws"]).await;
    assert_eq!(paused.code, Some(0), "{paused:?}");
    assert!(
        paused.stdout.contains("the schedule skips it"),
        "{paused:?}"
    );
    let stored = store.get_definition(&stack.id).await.unwrap().unwrap();
    assert!(!stored.enabled);

    let resumed = stack.dynsync(&["resume", &stack.id, "--aws"]).await;
    assert_eq!(resumed.code, Some(0), "{resumed:?}");
    assert!(resumed.stdout.contains("next run "), "{resumed:?}");
    let stored = store.get_definition(&stack.id).await.unwrap().unwrap();
    assert!(stored.enabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_or_triggering_an_unknown_integration_exits_2() {
    let stack = Deployed::create(aws_or_skip!()).await;

    for command in ["pause", "resume", "trigger"] {
        let out = stack
            .dynsync(&[command, "no-such-integration", "--aws"])
            .await;
        assert_eq!(out.code, Some(2), "{command}: {out:?}");
        assert!(
            out.stderr.contains("no integration 'no-such-integration'")
                && out.stderr.contains("dynsync push FILE --aws"),
            "{command}: {out:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_starts_an_execution_whose_first_page_task_is_in_the_queue() {
    let stack = Deployed::create(aws_or_skip!()).await;
    let dataverse = DataverseEmulator::start(Seed::contacts(25, 7))
        .await
        .unwrap();
    let insider = InsiderEmulator::start(InsiderConfig::default())
        .await
        .unwrap();
    let secrets = aws_sdk_secretsmanager::Client::new(&stack.sdk);
    for (name, value) in [("dynamics", CLIENT_SECRET), ("insider", TOKEN)] {
        secrets
            .create_secret()
            .name(format!("dynsync/{}/{name}", stack.id))
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    let file = stack.write("integration.yaml", &Endpoints::of(&dataverse, &insider), "");
    assert_eq!(
        stack.dynsync(&["push", path(&file), "--aws"]).await.code,
        Some(0)
    );

    let out = stack
        .dynsync(&["trigger", &stack.id, "--aws", "--json"])
        .await;

    assert_eq!(out.code, Some(0), "{out:?}");
    let execution = out.execution().unwrap();
    assert_eq!(execution["status"], "running");
    assert_eq!(execution["trigger"], "manual");
    assert_eq!(execution["integration_id"], stack.id.as_str());
    let execution_id = execution["id"].as_str().unwrap().to_owned();

    let received = aws_sdk_sqs::Client::new(&stack.sdk)
        .receive_message()
        .queue_url(&stack.queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let tasks: Vec<PageTask> = received
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(tasks.len(), 1, "one partition, one first page: {tasks:?}");
    assert_eq!(tasks[0].execution_id, execution_id);
    assert_eq!(tasks[0].cursor, None);
    assert_eq!(insider.requests(), 0, "the workers upsert, not the CLI");

    let again = stack.dynsync(&["trigger", &stack.id, "--aws"]).await;
    assert_eq!(again.code, Some(1), "{again:?}");
    assert!(
        again.stderr.contains(&format!(
            "execution {execution_id} of '{}' is running",
            stack.id
        )),
        "{again:?}"
    );

    let listed = stack
        .dynsync(&["executions", "--aws", "--integration", &stack.id, "--json"])
        .await;
    assert_eq!(listed.code, Some(0), "{listed:?}");
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [execution_id.as_str()]);

    let shown = stack
        .dynsync(&["executions", "show", &execution_id, "--aws"])
        .await;
    assert_eq!(shown.code, Some(0), "{shown:?}");
    assert!(shown.stdout.contains(&execution_id), "{shown:?}");
    assert!(shown.stdout.contains("running"), "{shown:?}");
    let missing = stack
        .dynsync(&["executions", "show", "no-such-execution", "--aws"])
        .await;
    assert_eq!(missing.code, Some(2), "{missing:?}");
    assert!(missing.stderr.contains(&stack.table), "{missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_s_outputs_name_the_table_and_the_queue() {
    let stack = Deployed::create(aws_or_skip!()).await;
    let name = format!("dynsync-{}", stack.id);
    let template = serde_json::json!({
        "Resources": { "Placeholder": { "Type": "AWS::SQS::Queue" } },
        "Outputs": {
            "StateTableName": { "Value": stack.table },
            "PageQueueUrl": { "Value": stack.queue_url },
        },
    });
    aws_sdk_cloudformation::Client::new(&stack.sdk)
        .create_stack()
        .stack_name(&name)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let file = stack.write("integration.yaml", &Endpoints::placeholder(), "");

    let pushed: RunOutput = dynsync_command(&["push", path(&file), "--aws", "--stack", &name])
        .output()
        .await
        .unwrap()
        .into();
    let listed: RunOutput = dynsync_command(&["executions", "--aws"])
        .env("DYNSYNC_STACK", &name)
        .output()
        .await
        .unwrap()
        .into();
    let unknown: RunOutput =
        dynsync_command(&["pause", &stack.id, "--aws", "--stack", "no-such-stack"])
            .output()
            .await
            .unwrap()
            .into();

    assert_eq!(pushed.code, Some(0), "{pushed:?}");
    assert!(pushed.stdout.contains(&stack.table), "{pushed:?}");
    assert!(
        stack
            .store()
            .get_definition(&stack.id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(listed.code, Some(0), "{listed:?}");
    assert!(
        listed
            .stdout
            .contains(&format!("no executions in the state table {}", stack.table)),
        "{listed:?}"
    );
    assert_eq!(unknown.code, Some(2), "{unknown:?}");
    assert!(unknown.stderr.contains("no-such-stack"), "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_stack_settings_are_reported_together_with_what_to_pass() {
    let out: RunOutput = dynsync_command(&["trigger", "x", "--aws"])
        .output()
        .await
        .unwrap()
        .into();

    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains("--table NAME (or DYNSYNC_TABLE, or --stack NAME)"),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("--queue-url URL (or DYNSYNC_QUEUE_URL, or --stack NAME)"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("aws cloudformation describe-stacks"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_without_aws_says_it_acts_on_a_deployed_stack() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("integration.yaml");
    std::fs::write(&file, "id: x\n").unwrap();

    let out: RunOutput = dynsync_command(&["push", path(&file)])
        .output()
        .await
        .unwrap()
        .into();

    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("pass --aws"), "{out:?}");
}

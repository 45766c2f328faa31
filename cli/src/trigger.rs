//! `dynsync trigger ID --aws`: a manual run of a stored integration on a deployed stack.
//!
//! It runs the very `Engine::start_execution` the dispatcher runs for the manual event
//! `{"integration_id": "ID"}`, but from this machine with these credentials: it takes the
//! run lock, fixes the window, plans (reading the integration's secrets from Secrets
//! Manager and asking Dataverse for labels or the marketing list), records the execution
//! and sends the first page tasks to the stack's queue. The deployed workers then process
//! the pages; this command does not wait for them. Exit 0 when the execution is running,
//! 1 when it failed to plan (its error says what to fix) or another execution holds the
//! run lock, 2 for an unknown id or missing settings.

use std::process::ExitCode;

use dynsync_domain::Integration;
use dynsync_domain::execution::{ExecutionStatus, Trigger};
use dynsync_engine::StartOutcome;

use crate::aws::{AwsArgs, AwsStack, QueueArgs};
use crate::context::{self, Failure};

/// On a deployed stack (--aws): start an execution of a stored integration now; the
/// deployed workers process its pages.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Start an execution of a stored integration now (a manual run), on a deployed stack.\n\nThis runs the same start the dispatcher runs for the test event {\"integration_id\": \"ID\"}, from this machine with your AWS credentials: it takes the run lock, plans (reading the integration's secrets from Secrets Manager and querying Dataverse), records the execution and queues its first page tasks. The deployed workers process the pages; follow them with `dynsync executions show EXECUTION_ID --aws`. Your credentials need the state table, the page queue (sqs:SendMessage), the secrets (GetSecretValue, and PutSecretValue for authorization-code refresh tokens) and, with --stack, cloudformation:DescribeStacks; this machine must reach Dataverse.\n\nPrints the execution id (with --json, the execution record). Exit status: 0 running, 1 failed to start (or another execution is running; it is named), 2 unknown integration or missing settings."
)]
pub struct TriggerArgs {
    /// The integration's id (the definition's `id`).
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Print the execution record as JSON on stdout instead of its id.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &TriggerArgs) -> ExitCode {
    context::finish(context::block_on(trigger(args)))
}

async fn trigger(args: &TriggerArgs) -> Result<(), Failure> {
    let stack = AwsStack::connect("trigger", &args.aws, Some(&args.queue)).await?;
    let id = args.id.as_str();
    let definition = stack
        .state()
        .get_definition(id)
        .await
        .map_err(|e| stack.failed(&format!("read '{id}'"), e))?
        .ok_or_else(|| {
            Failure::Input(format!(
                "no integration '{id}' in {} (`dynsync push FILE --aws` stores one)",
                stack.table()
            ))
        })?;
    let integration = Integration::new(definition).map_err(|problems| {
        Failure::Input(format!(
            "the stored definition of '{id}' is invalid (push a corrected file):\n{}",
            problems.joined("\n")
        ))
    })?;
    let ports = stack.ports()?;
    let owner = format!("cli:{}", dynsync_local::local_owner_tag());
    let started = ports
        .engine
        .start_execution(&integration, Trigger::Manual, &owner)
        .await;
    // Entra may have rotated an authorization-code refresh token while planning.
    if let Err(error) = ports.secrets.flush().await {
        eprintln!(
            "warning: a rotated refresh token could not be saved (the previous one still works): {error}"
        );
    }
    let started = started.map_err(|e| Failure::Remote(format!("cannot start '{id}': {e}")))?;
    let execution = match started {
        StartOutcome::Started(execution) => execution,
        StartOutcome::AlreadyRunning { execution_id } => {
            return Err(Failure::Remote(format!(
                "execution {execution_id} of '{id}' is running; wait for it to finish (`dynsync executions show {execution_id} --aws`)"
            )));
        }
    };
    if args.json {
        context::print_json(&execution)?;
    } else if execution.status == ExecutionStatus::Running {
        println!("{}", execution.id);
    }
    if execution.status == ExecutionStatus::Running {
        eprintln!(
            "started execution {} of '{id}': its first page tasks (one per partition) are queued and the deployed workers process them; follow it with `dynsync executions show {} --aws`",
            execution.id, execution.id
        );
        return Ok(());
    }
    Err(Failure::Remote(format!(
        "execution {} of '{id}' failed to start: {}",
        execution.id,
        execution.error.as_deref().unwrap_or("no error recorded")
    )))
}

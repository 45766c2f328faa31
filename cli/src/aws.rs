//! `--aws`: the commands that act on a deployed stack (`push`, `trigger`, `pause`, `resume`,
//! `executions --aws`) find its resources here. The state table and the page queue come
//! from flags or the environment (`DYNSYNC_TABLE`, `DYNSYNC_QUEUE_URL`, the names the
//! functions themselves read), or from the CloudFormation stack's outputs (`--stack NAME`:
//! `StateTableName`, `PageQueueUrl`; a flag wins over an output); region, credentials and
//! endpoint come from the standard AWS
//! environment through `aws_config::defaults` (so `AWS_PROFILE`, `AWS_REGION` and
//! `AWS_ENDPOINT_URL` work as for the AWS CLI). Every missing setting is reported at once
//! with what to pass. The ports are built once per command: the DynamoDB state store, and
//! for `trigger` the engine the Lambdas run, built by the same `dynsync_wiring::AwsPorts`.

use std::sync::Arc;

use aws_config::SdkConfig;
use dynsync_aws::DynamoDbStateStore;
use dynsync_domain::ports::{StateStore, SystemClock};
use dynsync_wiring::{AwsConfig, AwsPorts};

use crate::context::Failure;

/// Where the stack's outputs are read when the flags are not at hand.
const OUTPUTS_HINT: &str = "the stack's outputs: `sam list stack-outputs --stack-name STACK` or `aws cloudformation describe-stacks --stack-name STACK --query 'Stacks[0].Outputs'`";

/// The flags that choose a deployed stack's state table.
#[derive(Debug, Clone, clap::Args)]
pub struct AwsArgs {
    /// Act on a deployed stack (its DynamoDB state table) instead of the local state
    /// folder. Region and credentials come from the standard AWS environment (AWS_PROFILE,
    /// AWS_REGION, AWS_ACCESS_KEY_ID...).
    #[arg(long)]
    pub aws: bool,
    /// The stack's state table: its `StateTableName` output.
    #[arg(long, value_name = "NAME", env = "DYNSYNC_TABLE")]
    pub table: Option<String>,
    /// The deployed CloudFormation stack (e.g. `dynsync`): the table and the queue are read
    /// from its outputs when not given.
    #[arg(long, value_name = "NAME", env = "DYNSYNC_STACK")]
    pub stack: Option<String>,
}

/// The queue flag, for the one command that sends page tasks.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// The stack's page queue: its `PageQueueUrl` output.
    #[arg(long, value_name = "URL", env = "DYNSYNC_QUEUE_URL")]
    pub queue_url: Option<String>,
}

/// A deployed stack's resources, resolved and connected.
pub struct AwsStack {
    sdk: SdkConfig,
    table: String,
    queue_url: Option<String>,
    state: Arc<DynamoDbStateStore>,
}

impl AwsStack {
    /// Resolves the settings `command` needs (the queue too when `queue` is given) and
    /// builds the state store. Every missing setting is one line of the same error.
    pub async fn connect(
        command: &str,
        args: &AwsArgs,
        queue: Option<&QueueArgs>,
    ) -> Result<Self, Failure> {
        require(command, args)?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let mut missing = Vec::new();
        let mut table = present(args.table.as_deref());
        let mut queue_url = queue.and_then(|q| present(q.queue_url.as_deref()));
        let wanted = table.is_none() || (queue.is_some() && queue_url.is_none());
        if let Some(stack) = present(args.stack.as_deref())
            && wanted
            && sdk.region().is_some()
        {
            let outputs = stack_outputs(&sdk, &stack).await?;
            table = table.or_else(|| outputs.table.clone());
            if queue.is_some() {
                queue_url = queue_url.or(outputs.queue_url);
            }
            if table.is_none() {
                missing.push("the stack has no StateTableName output: pass --table NAME");
            }
        }
        if table.is_none() && missing.is_empty() {
            missing.push(
                "--table NAME (or DYNSYNC_TABLE, or --stack NAME): the stack's StateTableName output",
            );
        }
        if queue.is_some() && queue_url.is_none() {
            missing.push("--queue-url URL (or DYNSYNC_QUEUE_URL, or --stack NAME): the stack's PageQueueUrl output");
        }
        if sdk.region().is_none() {
            missing.push(
                "an AWS region: set AWS_REGION (or AWS_PROFILE naming a profile with a region)",
            );
        }
        let Some(table) = table else {
            return Err(missing_settings(command, &missing));
        };
        if !missing.is_empty() {
            return Err(missing_settings(command, &missing));
        }
        let state = Arc::new(DynamoDbStateStore::new(&sdk, table.clone()));
        Ok(Self {
            sdk,
            table,
            queue_url,
            state,
        })
    }

    /// The state table's name, for messages.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The state store on the stack's table.
    pub fn state(&self) -> Arc<dyn StateStore> {
        self.state.clone()
    }

    /// The engine the dispatcher runs, over this stack's table and queue, reading
    /// integration secrets from Secrets Manager under their own names, with its queue and
    /// that secret store, which the caller flushes before exiting (rotated refresh tokens).
    pub fn ports(&self) -> Result<AwsPorts, Failure> {
        let queue_url = self.queue_url.clone().ok_or_else(|| {
            Failure::Input(format!(
                "no page queue: pass --queue-url URL (or set DYNSYNC_QUEUE_URL); it is {OUTPUTS_HINT}"
            ))
        })?;
        let config = AwsConfig::new(self.table.clone(), queue_url, "dynsync");
        Ok(AwsPorts::on(&self.sdk, &config, Arc::new(SystemClock)))
    }

    /// A failed state-store call as the exit-1 failure, naming what was being done.
    pub fn failed(&self, doing: &str, error: impl std::fmt::Display) -> Failure {
        Failure::Remote(format!(
            "cannot {doing} in the state table {}: {error}",
            self.table
        ))
    }
}

/// What a stack's outputs say.
struct StackOutputs {
    table: Option<String>,
    queue_url: Option<String>,
}

/// Reads `StateTableName` and `PageQueueUrl` from the stack's outputs. An unknown stack is
/// input (exit 2); an unreachable CloudFormation is exit 1.
async fn stack_outputs(sdk: &SdkConfig, stack: &str) -> Result<StackOutputs, Failure> {
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let answer = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            let e = e.into_service_error();
            let text = e.meta().message().unwrap_or("no message").to_owned();
            if e.meta().code() == Some("ValidationError") {
                Failure::Input(format!(
                    "stack '{stack}': {text} (is the region right? `aws cloudformation list-stacks` lists them)"
                ))
            } else {
                Failure::Remote(format!(
                    "cannot read the outputs of stack '{stack}': {}: {text}",
                    e.meta().code().unwrap_or("error")
                ))
            }
        })?;
    let output = |key: &str| {
        answer
            .stacks()
            .iter()
            .flat_map(|s| s.outputs())
            .find(|o| o.output_key() == Some(key))
            .and_then(|o| present(o.output_value()))
    };
    Ok(StackOutputs {
        table: output("StateTableName"),
        queue_url: output("PageQueueUrl"),
    })
}

/// The commands that only act on a deployed stack refuse to run without `--aws`.
pub fn require(command: &str, args: &AwsArgs) -> Result<(), Failure> {
    if args.aws {
        return Ok(());
    }
    Err(Failure::Input(format!(
        "`dynsync {command}` acts on a deployed stack: pass --aws with --stack NAME, or --table NAME (or set DYNSYNC_TABLE); the names are {OUTPUTS_HINT}"
    )))
}

fn present(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn missing_settings(command: &str, missing: &[&str]) -> Failure {
    Failure::Input(format!(
        "`dynsync {command} --aws` needs {}:\n  {}\nThe names are {OUTPUTS_HINT}",
        if missing.len() == 1 {
            "one more setting"
        } else {
            "more settings"
        },
        missing.join("\n  ")
    ))
}

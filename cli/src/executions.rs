//! `dynsync executions [--integration ID]` and `dynsync executions show ID`: the guide's
//! Executions tab — start time, status, records read, users upserted, failures with details.
//! They come from the local state folder, or with `--aws` from a deployed stack's table.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use dynsync_domain::ports::StateStore;

use crate::aws::{AwsArgs, AwsStack};
use crate::context::{self, Failure};
use crate::report;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ExecutionsArgs {
    #[command(subcommand)]
    pub show: Option<ShowCommand>,
    /// Only this integration's executions.
    #[arg(long, value_name = "ID")]
    pub integration: Option<String>,
    /// How many to list, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum ShowCommand {
    /// One execution in full, with its failed records.
    Show {
        /// The execution id.
        id: String,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Local state folder.
    #[arg(long, value_name = "DIR", default_value = ".dynsync")]
    pub state: PathBuf,
    /// Print JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

pub fn run(args: &ExecutionsArgs) -> ExitCode {
    context::finish(context::block_on(async {
        match &args.show {
            Some(ShowCommand::Show { id, output }) => show(id, output).await,
            None => list(args).await,
        }
    }))
}

async fn list(args: &ExecutionsArgs) -> Result<(), Failure> {
    let (state, place) = open(&args.output).await?;
    let executions = state
        .list_executions(args.integration.as_deref(), args.limit)
        .await
        .map_err(|e| Failure::Remote(format!("cannot read executions: {e}")))?;
    if args.output.json {
        return context::print_json(&executions);
    }
    if executions.is_empty() {
        let starts = if args.output.aws.aws {
            "`dynsync trigger ID --aws` starts one"
        } else {
            "`dynsync run FILE` starts one"
        };
        println!("no executions in {place} yet ({starts})");
        return Ok(());
    }
    report::print_executions(&executions);
    Ok(())
}

async fn show(id: &str, output: &OutputArgs) -> Result<(), Failure> {
    let (state, place) = open(output).await?;
    let execution = state
        .get_execution(id)
        .await
        .map_err(|e| Failure::Remote(format!("cannot read execution {id}: {e}")))?
        .ok_or_else(|| {
            Failure::Input(format!(
                "no execution {id} in {place} (`dynsync executions` lists them)"
            ))
        })?;
    if output.json {
        return context::print_json(&execution);
    }
    report::print_execution(&execution);
    Ok(())
}

/// The store to read (the local folder, or the stack's table with `--aws`) and its name.
async fn open(output: &OutputArgs) -> Result<(Arc<dyn StateStore>, String), Failure> {
    if output.aws.aws {
        let stack = AwsStack::connect("executions", &output.aws, None).await?;
        let place = format!("the state table {}", stack.table());
        return Ok((stack.state(), place));
    }
    if !output.state.join(dynsync_local::STATE_FILE).exists() {
        return Err(Failure::Input(format!(
            "{} holds no dynsync state (pass --state DIR, or run `dynsync run FILE` first)",
            output.state.display()
        )));
    }
    let local = crate::local::open(&output.state)?;
    Ok((local.state, output.state.display().to_string()))
}

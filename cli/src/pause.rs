//! `dynsync pause ID --aws` and `dynsync resume ID --aws`: turn a stored integration's
//! schedule off and on (`set_enabled` on the state table). Pausing stops scheduled starts
//! only: a running execution finishes, and a manual run (`dynsync trigger`, the console's
//! test event) still starts one. An unknown id exits 2.

use std::process::ExitCode;

use chrono::Utc;

use crate::aws::{AwsArgs, AwsStack};
use crate::context::{self, Failure};
use crate::push::next_run;

#[derive(Debug, clap::Args)]
pub struct PauseArgs {
    /// The integration's id (the definition's `id`).
    #[arg(value_name = "ID")]
    pub id: String,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// `pause` (enabled = false) or `resume` (enabled = true).
pub fn run(args: &PauseArgs, enabled: bool) -> ExitCode {
    context::finish(context::block_on(set(args, enabled)))
}

async fn set(args: &PauseArgs, enabled: bool) -> Result<(), Failure> {
    let command = if enabled { "resume" } else { "pause" };
    let stack = AwsStack::connect(command, &args.aws, None).await?;
    let state = stack.state();
    let id = args.id.as_str();
    let found = state
        .set_enabled(id, enabled)
        .await
        .map_err(|e| stack.failed(&format!("{command} '{id}'"), e))?;
    if !found {
        return Err(Failure::Input(format!(
            "no integration '{id}' in {} (`dynsync push FILE --aws` stores one)",
            stack.table()
        )));
    }
    if !enabled {
        println!(
            "paused '{id}': the schedule skips it; a running execution finishes, and `dynsync trigger {id} --aws` still runs it by hand"
        );
        return Ok(());
    }
    let definition = state
        .get_definition(id)
        .await
        .map_err(|e| stack.failed(&format!("read '{id}'"), e))?
        .ok_or_else(|| {
            Failure::Remote(format!(
                "'{id}' disappeared from {} while resuming it",
                stack.table()
            ))
        })?;
    let last_slot = state
        .last_slot(id)
        .await
        .map_err(|e| stack.failed(&format!("read the last schedule slot of '{id}'"), e))?;
    println!(
        "resumed '{id}': schedule '{}' (UTC), {}",
        definition.schedule,
        next_run(&definition, last_slot, Utc::now())
    );
    Ok(())
}

//! `dynsync`: the one tool a person uses. Local mode runs the same engine as the Lambdas
//! with embedded state; `--aws` commands (`push`, `trigger`, `pause`, `resume`,
//! `executions --aws`) act on a deployed stack. Each command lives in its own module and
//! returns an exit code (0 succeeded, 3 completed with record failures, 1 failed, 2 invalid
//! input or usage). What commands share: `context` (common flags, a definition loaded with
//! its secrets, failures as exit codes), `aws` (a deployed stack's table and queue; its
//! engine from `dynsync_wiring`), `local` (the state folder through `dynsync_wiring`),
//! `report` (executions shown to people), `dry_run` (upserts written to a file).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod auth;
mod aws;
mod connect;
mod context;
mod demo;
mod discover;
mod dry_run;
mod executions;
mod local;
mod pause;
mod preview;
mod push;
mod report;
mod run;
mod schema;
mod trigger;
mod validate;

#[derive(Debug, Parser)]
#[command(name = "dynsync", version, about = "Keep Dynamics 365 (Dataverse) data flowing into Insider One.", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start both emulators, run a sample integration twice (full, then incremental) and
    /// show what happened: the quickest way to see dynsync work.
    Demo(demo::DemoArgs),
    /// Run one execution of an integration to the end on this machine (embedded state).
    Run(run::RunArgs),
    /// List executions (newest first), or show one with its failed records.
    Executions(executions::ExecutionsArgs),
    Validate(validate::ValidateArgs),
    Schema(schema::SchemaArgs),
    /// Check a definition's Dataverse and Insider credentials and access, saying what is wrong.
    Connect(connect::ConnectArgs),
    /// Show the Insider users the first records would become (sends nothing).
    Preview(preview::PreviewArgs),
    /// List the organization's entities.
    Entities(discover::EntitiesArgs),
    /// List an entity's fields with types and option-set labels.
    Fields(discover::FieldsArgs),
    /// List the organization's marketing lists.
    Lists(discover::ListsArgs),
    /// Sign in for authorization-code definitions.
    #[command(subcommand)]
    Auth(auth::AuthCommand),
    Push(push::PushArgs),
    Trigger(trigger::TriggerArgs),
    /// On a deployed stack (--aws): stop scheduled runs of an integration (manual runs
    /// still start).
    Pause(pause::PauseArgs),
    /// On a deployed stack (--aws): run an integration on its schedule again.
    Resume(pause::PauseArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Warnings and errors (retries, throttling) on stderr; RUST_LOG=info or debug for more.
    // Logs never carry record contents or secrets, so any level is safe to share.
    if let Err(error) = dynsync_telemetry::init_cli("warn") {
        eprintln!("warning: logging is off: {error}");
    }
    // Test builds only: the engine's failpoints named in FAILPOINTS (kill tests).
    let _failpoints = dynsync_engine::setup_failpoints_from_env();
    match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Executions(args) => executions::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Schema(args) => schema::run(&args),
        Command::Connect(args) => connect::run(&args),
        Command::Preview(args) => preview::run(&args),
        Command::Entities(args) => discover::entities(&args),
        Command::Fields(args) => discover::fields(&args),
        Command::Lists(args) => discover::lists(&args),
        Command::Auth(command) => auth::run(&command),
        Command::Push(args) => push::run(&args),
        Command::Trigger(args) => trigger::run(&args),
        Command::Pause(args) => pause::run(&args, false),
        Command::Resume(args) => pause::run(&args, true),
    }
}

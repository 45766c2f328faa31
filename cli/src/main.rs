//! `dynsync`: the one tool a person uses. Local mode runs the same engine as the Lambdas
//! with embedded state; each command lives in its own module and returns an exit code
//! (0 succeeded, 3 completed with record failures, 1 failed, 2 invalid input or usage).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod schema;
mod validate;

#[derive(Debug, Parser)]
#[command(name = "dynsync", version, about = "Keep Dynamics 365 (Dataverse) data flowing into Insider One.", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Validate(validate::ValidateArgs),
    Schema(schema::SchemaArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Schema(args) => schema::run(&args),
    }
}

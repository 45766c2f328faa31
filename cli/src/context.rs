//! What the discovery, check and login commands share: the common flags, loading a
//! definition file into a Dataverse client with the local secret store, a runtime to block
//! on, and how failures become exit codes (ARCHITECTURE.md section 8 "Discovery and
//! checks": 1 for a remote call or credentials, 2 for invalid input).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use dynsync_domain::Integration;
use dynsync_domain::validate::Problems;
use dynsync_dynamics::{DataverseClient, DynamicsError};
use dynsync_local::LocalSecretStore;

/// Flags every command that reads a definition takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// The integration definition (YAML): endpoints and credential references.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Local state folder; secrets come from DYNSYNC_SECRET_* variables or its secrets.json.
    #[arg(long, value_name = "DIR", default_value = ".dynsync")]
    pub state: PathBuf,
    /// Print one JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Why a command stopped, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad input or usage: exit 2.
    Input(String),
    /// A remote call or the credentials failed: exit 1.
    Remote(String),
}

impl Failure {
    /// A client error, with `FILE` in its hints replaced by the definition's path.
    pub fn remote(error: &DynamicsError, file: &Path) -> Self {
        let message = error
            .to_string()
            .replace("FILE", &file.display().to_string());
        match error {
            DynamicsError::Config { .. } => Failure::Input(message),
            _ => Failure::Remote(message),
        }
    }

    /// Prints the message on stderr and returns the exit code.
    pub fn report(self) -> ExitCode {
        match self {
            Failure::Input(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
            Failure::Remote(message) => {
                eprintln!("error: {message}");
                ExitCode::from(1)
            }
        }
    }
}

/// A loaded definition and a client for its Dataverse organization.
pub struct Context {
    pub file: PathBuf,
    pub integration: Integration,
    pub secrets: Arc<LocalSecretStore>,
    pub client: DataverseClient,
}

/// `validate`'s lines for a definition's problems: `FILE: path: message`, with
/// `(document)` for a problem of the whole document.
pub fn problem_lines(shown: &impl std::fmt::Display, problems: &Problems) -> Vec<String> {
    problems
        .0
        .iter()
        .map(|p| {
            let path = if p.path.is_empty() {
                "(document)"
            } else {
                p.path.as_str()
            };
            format!("{shown}: {path}: {}", p.message)
        })
        .collect()
}

impl Context {
    /// Reads and validates the definition and builds the client; every problem is input.
    pub fn load(args: &CommonArgs) -> Result<Self, Failure> {
        let shown = args.file.display();
        let text = std::fs::read_to_string(&args.file)
            .map_err(|e| Failure::Input(format!("cannot read {shown}: {e}")))?;
        let integration = Integration::from_yaml(&text).map_err(|problems| {
            Failure::Input(format!(
                "the definition is invalid (`dynsync validate {shown}` shows the same):\n{}",
                problem_lines(&shown, &problems).join("\n")
            ))
        })?;
        let secrets = Arc::new(LocalSecretStore::new(&args.state));
        let client = DataverseClient::new(&integration.definition().dynamics, secrets.clone())
            .map_err(|e| Failure::remote(&e, &args.file))?;
        Ok(Self {
            file: args.file.clone(),
            integration,
            secrets,
            client,
        })
    }

    /// Maps a client error for this definition.
    pub fn fail(&self, error: &DynamicsError) -> Failure {
        Failure::remote(error, &self.file)
    }
}

/// Runs a future to completion on a runtime made for this command.
pub fn block_on<T>(future: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    // One thread runs every task: each thread that allocates gets its own glibc malloc
    // arena, which keeps its freed page memory, so pages mapped on two runtime threads
    // held about twice the heap of one (issue 13, README benchmarks). The CPU work per
    // page is small next to the waits on Dataverse and Insider. One blocking thread
    // (SQLite, DNS) instead of one per concurrent call, for the same reason.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Failure::Remote(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(future)
}

/// Prints one JSON document on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Remote(format!("cannot encode the JSON output: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A table for people: a header and rows, sized to the terminal.
pub fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut table = comfy_table::Table::new();
    table
        .load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    println!("{table}");
}

/// Turns a command's result into its exit code.
pub fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

//! `dynsync validate FILE...`: checks integration definitions and prints every problem
//! as `FILE: PATH: MESSAGE` (`FILE: ok` for a valid file). Exit 0 when all are valid,
//! 2 when any is invalid or unreadable.

use std::path::PathBuf;
use std::process::ExitCode;

use dynsync_domain::Integration;

/// Check integration definition files without contacting anything.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Check integration definition files (YAML) without contacting Dynamics or Insider.\n\nEvery problem is reported at once, one per line, as `FILE: PATH: MESSAGE` (PATH is `(document)` for the file as a whole); a valid file prints `FILE: ok`.\nExit status: 0 when every file is valid, 2 when any file is invalid or cannot be read."
)]
pub struct ValidateArgs {
    /// Definition files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Validates each file and prints the report on stdout.
pub fn run(args: &ValidateArgs) -> ExitCode {
    let mut all_valid = true;
    for file in &args.files {
        let shown = file.display();
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                println!("{shown}: (file): cannot read the file: {e}");
                all_valid = false;
                continue;
            }
        };
        match Integration::from_yaml(&text) {
            Ok(_) => println!("{shown}: ok"),
            Err(problems) => {
                all_valid = false;
                for line in crate::context::problem_lines(&shown, &problems) {
                    println!("{line}");
                }
            }
        }
    }
    if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

//! The local stack behind `dynsync run` and `dynsync executions`: the state folder opened
//! through `dynsync_wiring::local` (SQLite state, page queues, member sets, the engine over
//! them), its errors as the CLI's failures, and the exit code of an execution.

use std::path::Path;

use dynsync_domain::execution::{Execution, ExecutionStatus};
pub use dynsync_wiring::local::VISIBILITY_TIMEOUT;
use dynsync_wiring::{LocalState, LocalStateError};

use crate::context::Failure;

/// Opens (creating when needed) the state folder `dir`.
pub fn open(dir: &Path) -> Result<LocalState, Failure> {
    LocalState::open(dir).map_err(failure)
}

/// A state folder that cannot be used: a folder that cannot be created is the user's input
/// (exit 2), a database that cannot be opened is exit 1.
pub fn failure(error: LocalStateError) -> Failure {
    match error {
        LocalStateError::Folder { .. } => Failure::Input(error.to_string()),
        LocalStateError::Open { .. } => Failure::Remote(error.to_string()),
    }
}

/// The contract's exit code for an execution as it ended.
pub fn exit_code_of(execution: &Execution) -> u8 {
    match execution.status {
        ExecutionStatus::Succeeded => 0,
        ExecutionStatus::CompletedWithFailures => 3,
        ExecutionStatus::Failed | ExecutionStatus::Running => 1,
    }
}

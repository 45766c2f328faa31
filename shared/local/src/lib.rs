//! dynsync's local adapters, the embedded defaults of `dynsync run`: a SQLite state store
//! (`state`), a SQLite-backed page queue with SQS semantics (`queue`) and the member sets of
//! `list_mode: changes` lists (`members`), all in `<state dir>/state.db` (`db`: opening,
//! migrations), the env/file secret store (`secrets`), owner tags for resuming after a
//! crash (`owner`), and the adapters' one error type (`error`).
//! Must not depend on the AWS SDK.

mod db;
pub mod error;
pub mod members;
pub mod owner;
pub mod queue;
pub mod secrets;
pub mod state;

pub use db::STATE_FILE;
pub use error::LocalError;
pub use members::SqliteMemberSets;
pub use owner::{local_owner_tag, owner_is_gone};
pub use queue::SqliteQueue;
pub use secrets::LocalSecretStore;
pub use state::SqliteStateStore;

//! The ports: the narrow traits the engine runs on. Each has an in-memory, a local and an
//! AWS implementation, and one contract test suite proves they behave the same.

pub mod clock;
pub mod error;
pub mod ledger;
pub mod members;
pub mod queue;
pub mod secrets;
pub mod source;
pub mod state;

pub use clock::{Clock, SystemClock};
pub use error::PortError;
pub use ledger::{BatchRecord, ClaimOutcome, FixedPage, PageClaim, PageLedger, PageRecord};
pub use members::{MemberKey, MemberRange, MemberSets};
pub use queue::{Delivery, PageQueue};
pub use secrets::{Secret, SecretError, SecretStore};
pub use source::{
    BatchOutcome, ChangesPage, ChangesReply, ChangesRequest, Connectors, DataSource, DeleteOutcome,
    PageRequest, SourcePage, UserFailure, UserSink,
};
pub use state::{
    Definitions, Executions, Finish, LockOutcome, LockRequest, RunLocks, StateStore, SyncState,
};

//! In-memory implementations of the ports: a state store, an SQS-like page queue, a secret
//! store and a settable clock. They hold the same guarantees as the SQLite and AWS adapters
//! (the contract suite runs against all of them), live only as long as the process, and
//! serve the engine's tests and anyone who needs the engine without storage.

mod clock;
mod members;
mod queue;
mod secrets;
mod state;

pub use clock::ManualClock;
pub use members::MemoryMemberSets;
pub use queue::MemoryQueue;
pub use secrets::MemorySecretStore;
pub use state::MemoryStateStore;

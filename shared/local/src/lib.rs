//! dynsync's local adapters, the embedded defaults of `dynsync run`: a SQLite state store,
//! a SQLite-backed page queue with SQS semantics, and the env/file secret store.
//! Must not depend on the AWS SDK.

pub mod secrets;

pub use secrets::LocalSecretStore;

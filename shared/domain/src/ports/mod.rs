//! The ports: the narrow traits the engine runs on. Each has an in-memory, a local and an
//! AWS implementation, and one contract test suite proves they behave the same.

pub mod secrets;

pub use secrets::{Secret, SecretError, SecretStore};

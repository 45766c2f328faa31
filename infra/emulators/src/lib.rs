//! Emulators that let every test and the demo run on one machine over loopback:
//! `dataverse` (Dataverse Web API + Entra ID token/authorize endpoints) and `insider`
//! (Insider's upsert API with inspection endpoints). Both are faithful to
//! `shared/design/API-FACTS.md`, take seeded synthetic data and have fault knobs.
//! `lambda_runtime`: the Lambda Runtime API a function's `bootstrap` polls, so tests run
//! the real Lambda binaries as processes.

pub mod dataverse;
pub mod insider;
pub mod lambda_runtime;

//! A [`Stack`]: both emulators started in-process on `127.0.0.1:0`, a temp folder for the
//! state and the definition files, and the header of a definition (endpoints, credential
//! references, Insider settings) pointing at them, so each test writes only its source,
//! mapping and the settings it exercises.

use std::path::{Path, PathBuf};

use dynsync_emulators::dataverse::{DataverseEmulator, Seed};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator};

use crate::definition::Endpoints;

/// The secret name the definitions use for the Dataverse client secret.
pub const DYNAMICS_SECRET: &str = "e2e/dynamics";
/// Its environment variable for `dynsync` (`DYNSYNC_SECRET_<NAME>`).
pub const DYNAMICS_SECRET_VAR: &str = "DYNSYNC_SECRET_E2E_DYNAMICS";
/// The secret name the definitions use for the Insider token.
pub const INSIDER_SECRET: &str = "e2e/insider";
/// Its environment variable for `dynsync`.
pub const INSIDER_SECRET_VAR: &str = "DYNSYNC_SECRET_E2E_INSIDER";

/// The emulators and a temp folder for one test.
pub struct Stack {
    pub dataverse: DataverseEmulator,
    pub insider: InsiderEmulator,
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// Starts both emulators (Dataverse with `seed`, Insider with its default credentials).
    pub async fn start(seed: Seed) -> anyhow::Result<Self> {
        let dataverse = DataverseEmulator::start(seed).await?;
        let insider = InsiderEmulator::start(InsiderConfig::default()).await?;
        Ok(Self {
            dataverse,
            insider,
            dir: tempfile::tempdir()?,
        })
    }

    /// The local state folder (`--state`).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A path in the temp folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A whole definition: the id `e2e`, `page_size`, `body` (method, source, identifiers,
    /// attributes, events: top-level YAML) and `insider_settings` (extra lines under
    /// `insider:`, each indented two spaces, e.g. `"  skip_hook: true\n"`).
    pub fn definition(&self, page_size: u32, body: &str, insider_settings: &str) -> String {
        let at = Endpoints::of(&self.dataverse, &self.insider);
        format!(
            "id: e2e
name: End-to-end test
{dynamics}  page_size: {page_size}
  request_timeout_ms: 10000
  retries: 5
{body}
{insider}{insider_settings}",
            dynamics = at.dynamics(DYNAMICS_SECRET),
            insider = at.insider(INSIDER_SECRET),
        )
    }

    /// Writes [`Stack::definition`] to `integration.yaml` in the temp folder.
    pub fn write_definition(
        &self,
        page_size: u32,
        body: &str,
        insider_settings: &str,
    ) -> anyhow::Result<PathBuf> {
        let file = self.path("integration.yaml");
        std::fs::write(&file, self.definition(page_size, body, insider_settings))?;
        Ok(file)
    }

    /// The environment `dynsync` needs for the two secrets.
    pub fn secret_env(&self) -> Vec<(String, String)> {
        vec![
            (
                DYNAMICS_SECRET_VAR.to_owned(),
                dynsync_emulators::dataverse::CLIENT_SECRET.to_owned(),
            ),
            (
                INSIDER_SECRET_VAR.to_owned(),
                dynsync_emulators::insider::TOKEN.to_owned(),
            ),
        ]
    }

    /// `dynsync run FILE --state DIR --json [extra]` with the secrets set; `binary` is
    /// `env!("CARGO_BIN_EXE_dynsync")` of the calling test.
    pub fn run_command(
        &self,
        binary: &Path,
        file: &Path,
        extra: &[&str],
    ) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(binary);
        command
            .arg("run")
            .arg(file)
            .arg("--state")
            .arg(self.state_dir())
            .arg("--json")
            .args(extra)
            .envs(self.secret_env())
            .env("NO_COLOR", "1")
            .kill_on_drop(true);
        command
    }
}

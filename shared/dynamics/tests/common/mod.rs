//! Helpers shared by the client tests: an in-memory secret store that records writes,
//! `dynamics` settings and whole integrations pointing at a running emulator (their
//! `dynamics:` block from `tests/src/definition.rs`), and `deadline` (from `tests/src`):
//! a call run with the process deadline 30 s ahead.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

/// A call run with the process deadline near, shared with the Insider client's tests.
#[path = "../../../../tests/src/deadline.rs"]
pub mod deadline;
/// The `dynamics:` block every definition over the emulator repeats.
#[path = "../../../../tests/src/definition.rs"]
mod definition;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dynsync_domain::Integration;
use dynsync_domain::definition::{AuthMethod, DynamicsAuth, DynamicsSettings, SecretRef};
use dynsync_domain::ports::{Secret, SecretError, SecretStore};
use dynsync_dynamics::DataverseClient;
use dynsync_emulators::dataverse::{CLIENT_ID, CLIENT_SECRET, DataverseEmulator};

use definition::dynamics_block;

pub const SECRET_NAME: &str = "dynsync/test/dynamics";
pub const REFRESH_NAME: &str = "dynsync/test/refresh";

/// Secrets in memory; `writes` counts `put` calls per name.
#[derive(Debug, Default)]
pub struct MemorySecrets {
    values: Mutex<HashMap<String, String>>,
    pub writes: Mutex<HashMap<String, u32>>,
}

impl MemorySecrets {
    pub fn with(pairs: &[(&str, &str)]) -> Arc<Self> {
        let store = Self::default();
        for (k, v) in pairs {
            store
                .values
                .lock()
                .unwrap()
                .insert((*k).to_owned(), (*v).to_owned());
        }
        Arc::new(store)
    }

    pub fn value(&self, name: &str) -> Option<String> {
        self.values.lock().unwrap().get(name).cloned()
    }

    pub fn writes_of(&self, name: &str) -> u32 {
        self.writes.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

#[async_trait::async_trait]
impl SecretStore for MemorySecrets {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        self.value(name)
            .map(Secret::new)
            .ok_or_else(|| SecretError::NotFound {
                name: name.to_owned(),
                hint: "not in the test store".to_owned(),
            })
    }

    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        self.values
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.expose().to_owned());
        *self
            .writes
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default() += 1;
        Ok(())
    }
}

pub fn client_credentials(emu: &DataverseEmulator) -> DynamicsSettings {
    DynamicsSettings {
        web_api_url: emu.web_api_url(),
        auth: DynamicsAuth {
            method: AuthMethod::ClientCredentials,
            token_url: emu.token_url(),
            authorize_url: None,
            scopes: vec![emu.scope()],
            client_id: CLIENT_ID.to_owned(),
            client_secret: SecretRef {
                secret: SECRET_NAME.to_owned(),
            },
            refresh_token: None,
        },
        page_size: 500,
        request_timeout_ms: 5_000,
        retries: 3,
        partitions: 1,
    }
}

pub fn authorization_code(emu: &DataverseEmulator) -> DynamicsSettings {
    let mut settings = client_credentials(emu);
    settings.auth.method = AuthMethod::AuthorizationCode;
    settings.auth.scopes = vec![
        format!("{}/user_impersonation", emu.base_url()),
        "offline_access".to_owned(),
    ];
    settings.auth.refresh_token = Some(SecretRef {
        secret: REFRESH_NAME.to_owned(),
    });
    settings
}

pub fn secrets() -> Arc<MemorySecrets> {
    MemorySecrets::with(&[(SECRET_NAME, CLIENT_SECRET)])
}

pub fn client(settings: &DynamicsSettings, secrets: Arc<MemorySecrets>) -> DataverseClient {
    DataverseClient::new(settings, secrets).unwrap()
}

/// A validated client-credentials integration; `source` is the YAML of the `source` block
/// (indented by two spaces) and `page_size` the page size.
pub fn integration(
    emu: &DataverseEmulator,
    method: &str,
    source: &str,
    page_size: u32,
) -> Integration {
    let dynamics = dynamics_block(
        &emu.web_api_url(),
        &emu.token_url(),
        &emu.scope(),
        SECRET_NAME,
    );
    let yaml = format!(
        "id: test
method: {method}
{dynamics}  page_size: {page_size}
  request_timeout_ms: 5000
  retries: 2
source:
{source}
identifiers:
  - {{ type: uuid, field: contactid }}
insider:
  partner: acme
  token: {{ secret: dynsync/insider }}
"
    );
    match Integration::from_yaml(&yaml) {
        Ok(i) => i,
        Err(problems) => panic!("{problems:?}\n{yaml}"),
    }
}

//! `dynsync run --dry-run FILE`: the real Dataverse source, but every upsert batch is
//! written to FILE (one request body per line, exactly what would be sent to Insider)
//! instead of being sent. Every user counts as accepted.
//!
//! With `fetch_mode: changes` the dry run reads from the change-tracking token the state
//! folder's last successful run left (the state itself is not touched), so it shows what the
//! next run would do with deleted records: `removals: delete_profile` writes the body of each
//! Delete User Profile request (`{"identifiers":{"uuid":"<id>"}}`, one line per user), an
//! `{attribute, value}` removal an upsert body of users carrying that attribute, `ignore`
//! nothing.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use dynsync_domain::ErrorKind;
use dynsync_domain::Integration;
use dynsync_domain::ports::{
    BatchOutcome, Connectors, DataSource, DeleteOutcome, PortError, SecretStore, UserSink,
};
use dynsync_domain::user::InsiderUser;
use dynsync_wiring::LiveConnectors;

/// Live sources, payload-file sinks.
pub struct DryRunConnectors {
    live: LiveConnectors,
    sink: Arc<PayloadFile>,
}

impl DryRunConnectors {
    pub fn create(secrets: Arc<dyn SecretStore>, path: &Path) -> Result<Self, String> {
        let file = File::create(path)
            .map_err(|e| format!("cannot create the dry-run file {}: {e}", path.display()))?;
        Ok(Self {
            live: LiveConnectors::new(secrets),
            sink: Arc::new(PayloadFile {
                out: Mutex::new(BufWriter::new(file)),
            }),
        })
    }
}

#[async_trait::async_trait]
impl Connectors for DryRunConnectors {
    async fn source(&self, integration: &Integration) -> Result<Arc<dyn DataSource>, PortError> {
        self.live.source(integration).await
    }

    async fn sink(&self, _integration: &Integration) -> Result<Arc<dyn UserSink>, PortError> {
        let sink: Arc<dyn UserSink> = self.sink.clone();
        Ok(sink)
    }
}

/// Starts a dry run's in-memory state from the change-tracking token of the state folder's
/// last successful run, so a `changes` dry run reads what the next run would.
pub async fn seed_sync_token(
    state: &dynsync_engine::memory::MemoryStateStore,
    integration: &Integration,
    state_dir: &Path,
) -> Result<(), crate::context::Failure> {
    if integration.definition().source.fetch_mode()
        != dynsync_domain::definition::FetchMode::Changes
    {
        return Ok(());
    }
    if let Some(token) = crate::preview::stored_token(state_dir, integration.id()).await? {
        state.set_sync_token(integration.id(), &token);
    }
    Ok(())
}

/// Writes each batch's request body as one line.
struct PayloadFile {
    out: Mutex<BufWriter<File>>,
}

impl PayloadFile {
    fn write_line(&self, body: &[u8]) -> Result<(), PortError> {
        let mut out = self
            .out
            .lock()
            .map_err(|_| PortError::permanent("the dry-run file writer failed earlier"))?;
        out.write_all(body)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush())
            .map_err(|e| PortError::from_error(ErrorKind::Permanent, e))
    }
}

#[async_trait::async_trait]
impl UserSink for PayloadFile {
    async fn upsert(
        &self,
        users: &[InsiderUser],
        skip_hook: bool,
    ) -> Result<BatchOutcome, PortError> {
        let body = dynsync_domain::batch::upsert_body(users, skip_hook);
        self.write_line(&body)?;
        Ok(BatchOutcome {
            accepted: users.len() as u64,
            failures: Vec::new(),
        })
    }

    /// One Delete User Profile request body per user, as Insider would get them.
    async fn delete_users(&self, users: &[InsiderUser]) -> Result<DeleteOutcome, PortError> {
        for user in users {
            let body = serde_json::to_vec(&serde_json::json!({ "identifiers": user.identifiers }))
                .map_err(|e| PortError::from_error(ErrorKind::Permanent, e))?;
            self.write_line(&body)?;
        }
        Ok(DeleteOutcome {
            deleted: users.len() as u64,
            failures: Vec::new(),
        })
    }
}

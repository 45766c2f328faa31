//! `dynsync run --dry-run FILE`: the real Dataverse source, but every upsert batch is
//! written to FILE (one request body per line, exactly what would be sent to Insider)
//! instead of being sent. Every user counts as accepted.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use dynsync_connectors::LiveConnectors;
use dynsync_domain::ErrorKind;
use dynsync_domain::Integration;
use dynsync_domain::ports::{
    BatchOutcome, Connectors, DataSource, PortError, SecretStore, UserSink,
};
use dynsync_domain::user::InsiderUser;

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

/// Writes each batch's request body as one line.
struct PayloadFile {
    out: Mutex<BufWriter<File>>,
}

#[async_trait::async_trait]
impl UserSink for PayloadFile {
    async fn upsert(
        &self,
        users: &[InsiderUser],
        skip_hook: bool,
    ) -> Result<BatchOutcome, PortError> {
        let body = dynsync_mapping::batch::upsert_body(users, skip_hook);
        let mut out = self
            .out
            .lock()
            .map_err(|_| PortError::permanent("the dry-run file writer failed earlier"))?;
        out.write_all(&body)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush())
            .map_err(|e| PortError::from_error(ErrorKind::Permanent, e))?;
        Ok(BatchOutcome {
            accepted: users.len() as u64,
            failures: Vec::new(),
        })
    }
}

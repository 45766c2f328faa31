//! The live [`Connectors`]: an integration's Dataverse source ([`DataverseSource`]) and
//! Insider sink ([`InsiderClient`]), built from its definition and the secret store. The CLI
//! and both Lambdas use it; the engine only sees the ports.
//!
//! Built connectors are cached per definition (keyed by the definition's full content, so an
//! edited definition gets new clients), which keeps the Dataverse access token and the
//! Insider token across pages of a run and across invocations of a warm Lambda container.
//! A rotated Insider token is still picked up: after a 401 the Insider client re-reads its
//! secret once through the secret store and retries with the new value.

use std::collections::HashMap;
use std::sync::Arc;

use dynsync_domain::Integration;
use dynsync_domain::ports::{Connectors, DataSource, PortError, SecretStore, UserSink};
use dynsync_dynamics::{DataverseClient, DataverseSource};
use dynsync_insider::InsiderClient;
use tokio::sync::Mutex;

/// Builds and caches the real Dataverse and Insider clients of each integration.
pub struct LiveConnectors {
    secrets: Arc<dyn SecretStore>,
    /// The run's page workers: where each Dataverse client's parallelism gate starts
    /// (`None`: the client's default).
    concurrency: Option<usize>,
    sources: Mutex<HashMap<String, Arc<DataverseSource>>>,
    sinks: Mutex<HashMap<String, Arc<InsiderClient>>>,
}

impl LiveConnectors {
    pub fn new(secrets: Arc<dyn SecretStore>) -> Self {
        Self {
            secrets,
            concurrency: None,
            sources: Mutex::new(HashMap::new()),
            sinks: Mutex::new(HashMap::new()),
        }
    }

    /// For a run of `concurrency` page workers: the Dataverse clients cap their requests
    /// in flight from there (then follow `x-ms-dop-hint` and step down on 429).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = Some(concurrency);
        self
    }

    /// The Dataverse source of an integration, built on first use.
    pub async fn dataverse(
        &self,
        integration: &Integration,
    ) -> Result<Arc<DataverseSource>, PortError> {
        let key = cache_key(integration);
        let mut sources = self.sources.lock().await;
        if let Some(source) = sources.get(&key) {
            return Ok(Arc::clone(source));
        }
        let settings = &integration.definition().dynamics;
        let client = match self.concurrency {
            Some(n) => DataverseClient::with_concurrency(settings, self.secrets.clone(), n),
            None => DataverseClient::new(settings, self.secrets.clone()),
        }
        .map_err(|e| {
            let kind = e.kind();
            PortError::from_error(kind, e)
        })?;
        let source = Arc::new(DataverseSource::new(client));
        sources.insert(key, Arc::clone(&source));
        Ok(source)
    }

    /// The Insider client of an integration, built on first use (reads its token secret).
    pub async fn insider(
        &self,
        integration: &Integration,
    ) -> Result<Arc<InsiderClient>, PortError> {
        let key = cache_key(integration);
        let mut sinks = self.sinks.lock().await;
        if let Some(sink) = sinks.get(&key) {
            return Ok(Arc::clone(sink));
        }
        let name = &integration.definition().insider.token.secret;
        let token = self.secrets.get(name).await.map_err(|e| {
            let kind = e.kind();
            PortError {
                kind,
                message: format!("insider.token: {e}"),
                source: Some(Box::new(e)),
            }
        })?;
        let client = InsiderClient::for_integration(integration, &token)
            .map_err(|e| {
                let kind = e.kind();
                PortError::from_error(kind, e)
            })?
            .with_token_store(self.secrets.clone());
        let sink = Arc::new(client);
        sinks.insert(key, Arc::clone(&sink));
        Ok(sink)
    }
}

/// The cache key: the integration id and its whole definition, so edits take effect.
fn cache_key(integration: &Integration) -> String {
    let definition = integration.definition();
    let body = serde_json::to_string(definition).unwrap_or_default();
    format!("{}\n{body}", definition.id)
}

#[async_trait::async_trait]
impl Connectors for LiveConnectors {
    async fn source(&self, integration: &Integration) -> Result<Arc<dyn DataSource>, PortError> {
        let source: Arc<dyn DataSource> = self.dataverse(integration).await?;
        Ok(source)
    }

    async fn sink(&self, integration: &Integration) -> Result<Arc<dyn UserSink>, PortError> {
        let sink: Arc<dyn UserSink> = self.insider(integration).await?;
        Ok(sink)
    }
}

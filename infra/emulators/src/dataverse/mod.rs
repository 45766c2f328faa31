//! Dataverse Web API + Entra ID emulator, faithful to `shared/design/API-FACTS.md`
//! sections 2 and 3: token endpoint (three grants), WhoAmI, metadata and option sets,
//! FetchXML evaluated for real (with paging cookies), OData paging and change tracking,
//! `$batch`, marketing lists, and fault knobs for throttling, failures and expiry.
//!
//! Files: `server` (routes, fault gate, accept loop), `entra` + `token` + `authorize`
//! (Entra ID), `web_api` (dispatch), `metadata`, `fetchxml/` (parse, plan, evaluate, page),
//! `odata` + `skiptoken` + `changes` (OData queries, paging, change tracking), `batch`,
//! `render` (JSON shapes), `schema` + `entities` (tables), `values`, `store` + `lists`
//! (rows, marketing lists), `seed` (+ `seed/demo`), `faults`, `protection` (service
//! protection limits per user, `x-ms-dop-hint`, peak concurrency), `guid_order`, `errors`.

mod authorize;
mod batch;
mod changes;
mod entities;
mod entra;
pub mod errors;
pub mod faults;
pub mod fetchxml;
pub mod guid_order;
mod lists;
mod metadata;
mod odata;
pub mod protection;
mod render;
pub mod schema;
pub mod seed;
mod server;
mod skiptoken;
pub mod store;
mod token;
pub mod values;
mod web_api;

pub use faults::Faults;
pub use guid_order::{SqlGuid, sql_guid_cmp};
pub use protection::{ServiceProtection, Throttled};
pub use seed::Seed;
pub use store::{DataStore, StoreError};
pub use values::{FieldValue, Record};
pub use web_api::{BUSINESS_UNIT_ID, ORGANIZATION_ID, USER_ID};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The emulated tenant (directory) id.
pub const TENANT: &str = "00000000-0000-0000-0000-0000000000aa";
/// The only registered application (client) id.
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
/// The only client secret that works.
pub const CLIENT_SECRET: &str = "emulator-client-secret";
/// Longest GET URL the Web API accepts; longer FetchXML queries go through `$batch`.
pub const MAX_GET_URL: usize = server::MAX_URL;

/// A running emulator on loopback.
pub struct DataverseEmulator {
    running: server::Running,
    shared: Arc<server::Shared>,
}

impl DataverseEmulator {
    /// Starts on `127.0.0.1` with a free port.
    pub async fn start(seed: Seed) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), seed).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr, seed: Seed) -> anyhow::Result<Self> {
        let mut state = store::State::new(schema::Schema::standard());
        seed.load(&mut state)?;
        let store = DataStore::new(state);
        let (running, shared) = server::serve(addr, |base_url| {
            Arc::new(server::Shared {
                store,
                faults: Faults::default(),
                auth: std::sync::Mutex::new(entra::AuthState::default()),
                base_url,
                requests: Default::default(),
                pages: Default::default(),
            })
        })
        .await?;
        tracing::info!(addr = %running.addr, "dataverse emulator listening");
        Ok(DataverseEmulator { running, shared })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `{base}/api/data/v9.2`.
    pub fn web_api_url(&self) -> String {
        self.shared.web_api_url()
    }

    /// `{base}/{TENANT}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!("{}/{TENANT}/oauth2/v2.0/token", self.shared.base_url)
    }

    /// `{base}/{TENANT}/oauth2/v2.0/authorize`.
    pub fn authorize_url(&self) -> String {
        format!("{}/{TENANT}/oauth2/v2.0/authorize", self.shared.base_url)
    }

    /// `{base}/.default`, the client-credentials scope.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.shared.base_url)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// Fault knobs (cheap clone; setters take effect at once).
    pub fn faults(&self) -> Faults {
        self.shared.faults.clone()
    }

    /// The rows (cheap clone; changes are visible to the next request).
    pub fn store(&self) -> DataStore {
        self.shared.store.clone()
    }

    /// Web API requests received so far (token calls not counted).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Stops accepting and closes open connections.
    pub async fn shutdown(self) {
        let _ = self.running.shutdown.send(true);
        let _ = self.running.task.await;
    }
}

//! An emulator of Insider's Upsert User Data API (API-FACTS.md section 1) for tests and the
//! demo: header auth with the 400/401 shapes, the 5,000,000-byte and 1,000-user limits, the
//! documented validation rules with per-user failures in Insider's reply shape, a profile
//! store that merges by identifier, appended events, `skip_hook` recorded, inspection
//! endpoints (`GET /_emulator/profiles`, `/_emulator/events`, `/_emulator/requests`,
//! `POST /_emulator/reset`, `POST /_emulator/faults`) and fault knobs (429 with
//! Retry-After, 5xx, latency; in code also storms of 5xx, 413 over a size, users rejected
//! with or without their index, replies that are not JSON and a token rotated mid-run). The Delete User Profile API (`POST /api/user/v1/delete`,
//! one user per request, 10,000 a minute) is served too (`delete`), with its own knobs
//! ([`DeleteFaults`]); the profile store forgets a deleted user.

mod delete;
mod faults;
mod server;
mod store;
mod validate;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

pub use delete::{DELETES_PER_MINUTE, DeleteFaults};
pub use faults::InsiderFaults;
pub use server::{MAX_BODY_BYTES, MAX_USERS};
pub use store::{Profile, StoredEvent};

/// The partner name the emulator accepts by default.
pub const PARTNER: &str = "acme";
/// The token the emulator accepts by default.
pub const TOKEN: &str = "emulator-insider-token";

/// Which credentials the emulator accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsiderConfig {
    pub partner: String,
    pub token: String,
}

impl Default for InsiderConfig {
    fn default() -> Self {
        Self {
            partner: PARTNER.to_owned(),
            token: TOKEN.to_owned(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    store: store::Store,
    /// The `skip_hook` of every request that reached validation, in order.
    skip_hooks: Vec<bool>,
}

#[derive(Debug)]
struct Shared {
    config: InsiderConfig,
    state: Mutex<State>,
    requests: AtomicU64,
    faults: InsiderFaults,
    deletes: delete::Deletes,
}

impl Shared {
    fn reset(&self) {
        if let Ok(mut state) = self.state.lock() {
            *state = State::default();
        }
        self.requests.store(0, Ordering::SeqCst);
        self.faults.clear();
        self.deletes.reset();
    }
}

/// A running emulator; it stops when dropped.
#[derive(Debug)]
pub struct InsiderEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _shutdown: oneshot::Sender<()>,
}

impl InsiderEmulator {
    /// Starts on `127.0.0.1` at a free port.
    pub async fn start(config: InsiderConfig) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts on a given address (the binary uses a fixed port).
    pub async fn start_on(addr: SocketAddr, config: InsiderConfig) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(State::default()),
            requests: AtomicU64::new(0),
            faults: InsiderFaults::default(),
            deletes: delete::Deletes::default(),
        });
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = server::router(Arc::clone(&shared)).merge(delete::router(Arc::clone(&shared)));
        tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                tracing::error!(error = %error, "insider emulator stopped");
            }
        });
        Ok(Self {
            addr,
            shared,
            _shutdown: shutdown,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `{base}/api/user/v1/upsert`: what `insider.api_url` should be.
    pub fn upsert_url(&self) -> String {
        format!("{}/api/user/v1/upsert", self.base_url())
    }

    /// `{base}/api/user/v1/delete`: the Delete User Profile endpoint.
    pub fn delete_url(&self) -> String {
        format!("{}/api/user/v1/delete", self.base_url())
    }

    /// The delete endpoint's knobs (429 + Retry-After, the per-minute limit).
    pub fn delete_faults(&self) -> DeleteFaults {
        self.shared.deletes.faults.clone()
    }

    /// Delete requests received (throttled and refused ones included).
    pub fn delete_requests(&self) -> u64 {
        self.shared.deletes.requests.load(Ordering::SeqCst)
    }

    /// The fault knobs (shared with the running server).
    pub fn faults(&self) -> InsiderFaults {
        self.shared.faults.clone()
    }

    pub fn profiles(&self) -> Vec<Profile> {
        self.with_state(|s| s.store.profiles.clone())
    }

    pub fn profile_by_email(&self, email: &str) -> Option<Profile> {
        self.profile_by_identifier("email", email)
    }

    /// The profile holding an identifier (`email`, `phone_number`, `uuid`, or
    /// `custom.<name>`) with that value.
    pub fn profile_by_identifier(&self, kind: &str, value: &str) -> Option<Profile> {
        self.profiles().into_iter().find(|p| {
            let found = match kind.strip_prefix("custom.") {
                Some(name) => p.identifiers.get("custom").and_then(|c| c.get(name)),
                None => p.identifiers.get(kind),
            };
            found.and_then(|v| v.as_str()) == Some(value)
        })
    }

    pub fn events(&self) -> Vec<StoredEvent> {
        self.with_state(|s| s.store.events.clone())
    }

    /// The `skip_hook` flag of every request that passed auth and parsing, in order.
    pub fn skip_hooks(&self) -> Vec<bool> {
        self.with_state(|s| s.skip_hooks.clone())
    }

    /// Upsert requests received (faulted ones included).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Forgets profiles, events, counters and faults.
    pub fn reset(&self) {
        self.shared.reset();
    }

    fn with_state<T: Default>(&self, read: impl FnOnce(&State) -> T) -> T {
        self.shared
            .state
            .lock()
            .map(|s| read(&s))
            .unwrap_or_default()
    }
}

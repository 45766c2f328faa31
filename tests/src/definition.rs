//! The YAML that every definition over the emulators repeats: the `dynamics:` block (the
//! Web API, client-credentials auth against the Entra emulator, the client id the emulator
//! accepts) and the `insider:` block (the upsert URL and the emulator's partner), with the
//! secret names each test chooses. It depends on the emulators alone, so the test crates
//! that do not depend on `dynsync-tests` (the Lambdas', the Dataverse client's) include this
//! file by `#[path]`.
#![allow(dead_code)]

use dynsync_emulators::dataverse::{CLIENT_ID, DataverseEmulator};
use dynsync_emulators::insider::{InsiderEmulator, PARTNER};

/// Where a definition points: the Dataverse Web API, its token endpoint and scope, and
/// Insider's upsert URL.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub web: String,
    pub token: String,
    pub scope: String,
    pub upsert: String,
}

impl Endpoints {
    /// The endpoints of running emulators.
    pub fn of(dataverse: &DataverseEmulator, insider: &InsiderEmulator) -> Self {
        Self {
            web: dataverse.web_api_url(),
            token: dataverse.token_url(),
            scope: dataverse.scope(),
            upsert: insider.upsert_url(),
        }
    }

    /// Real-looking endpoints that nothing here answers on, for definitions that are only
    /// validated or stored.
    pub fn placeholder() -> Self {
        Self {
            web: "https://contoso.crm4.dynamics.com/api/data/v9.2".into(),
            token: "https://login.microsoftonline.com/t/oauth2/v2.0/token".into(),
            scope: "https://contoso.crm4.dynamics.com/.default".into(),
            upsert: "https://unification.useinsider.com/api/user/v1/upsert".into(),
        }
    }

    /// The `dynamics:` block up to its client secret, named `client_secret`; the settings
    /// of the block (`  page_size: 10`...) follow it.
    pub fn dynamics(&self, client_secret: &str) -> String {
        dynamics_block(&self.web, &self.token, &self.scope, client_secret)
    }

    /// The `insider:` block: the upsert URL, the emulator's partner and the token named
    /// `token_secret`; its further settings (`  skip_hook: true`...) follow it.
    pub fn insider(&self, token_secret: &str) -> String {
        format!(
            "insider:\n  api_url: {upsert}\n  partner: {PARTNER}\n  token: {{ secret: {token_secret} }}\n",
            upsert = self.upsert,
        )
    }

    /// A whole definition of integration `id` as the AWS tests store it, its two secrets
    /// named as `put_secrets` writes them (`dynsync/<id>/dynamics`, `dynsync/<id>/insider`):
    /// `head` is the top-level lines between `id:` and `dynamics:` (method, schedule...),
    /// `settings` the lines under `dynamics:` after its auth (`  page_size: 10`...), and
    /// `body` the top-level lines before `insider:` (source, identifiers, attributes...).
    /// Each part ends in a newline.
    pub fn aws_definition(&self, id: &str, head: &str, settings: &str, body: &str) -> String {
        format!(
            "id: {id}\n{head}{dynamics}{settings}{body}{insider}",
            dynamics = self.dynamics(&format!("dynsync/{id}/dynamics")),
            insider = self.insider(&format!("dynsync/{id}/insider")),
        )
    }
}

/// The `dynamics:` block of `web` with client-credentials auth at `token` for `scope`, the
/// emulator's client id and the client secret named `client_secret`; its settings follow.
pub fn dynamics_block(web: &str, token: &str, scope: &str, client_secret: &str) -> String {
    format!(
        "dynamics:
  web_api_url: {web}
  auth:
    method: client_credentials
    token_url: {token}
    scopes: [\"{scope}\"]
    client_id: {CLIENT_ID}
    client_secret: {{ secret: {client_secret} }}
"
    )
}

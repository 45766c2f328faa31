//! A warm Lambda keeps its Insider client (cached per definition, the token in it): when the
//! token is rotated in the secret store, the next batch gets one 401, the client re-reads the
//! secret through the port and sends the batch again with the new token. An unchanged secret
//! fails as before, with the message that says what to fix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dynsync_domain::ports::{Connectors, Secret, SecretError, SecretStore};
use dynsync_domain::{ErrorKind, Identifiers, InsiderUser, Integration};
use dynsync_emulators::insider::{InsiderConfig, InsiderEmulator, PARTNER};
use dynsync_wiring::LiveConnectors;

const TOKEN_SECRET: &str = "dynsync/insider";

#[derive(Default)]
struct Secrets {
    values: Mutex<HashMap<String, String>>,
    reads: Mutex<u32>,
}

impl Secrets {
    fn set(&self, name: &str, value: &str) {
        self.values
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    fn reads(&self) -> u32 {
        *self.reads.lock().unwrap()
    }
}

#[async_trait::async_trait]
impl SecretStore for Secrets {
    async fn get(&self, name: &str) -> Result<Secret, SecretError> {
        *self.reads.lock().unwrap() += 1;
        self.values
            .lock()
            .unwrap()
            .get(name)
            .map(Secret::new)
            .ok_or_else(|| SecretError::NotFound {
                name: name.to_owned(),
                hint: "not in the test store".to_owned(),
            })
    }

    async fn put(&self, name: &str, value: &Secret) -> Result<(), SecretError> {
        self.set(name, value.expose());
        Ok(())
    }
}

fn integration(insider_url: &str) -> Integration {
    let yaml = format!(
        "id: rotation
method: entity
dynamics:
  web_api_url: http://127.0.0.1:9/api/data/v9.2
  auth:
    method: client_credentials
    token_url: http://127.0.0.1:9/token
    scopes: [\"http://127.0.0.1:9/.default\"]
    client_id: app
    client_secret: {{ secret: dynsync/dynamics }}
source:
  entity: contact
  fields: [contactid, emailaddress1]
identifiers:
  - {{ type: email, field: emailaddress1 }}
insider:
  api_url: {insider_url}
  partner: {PARTNER}
  token: {{ secret: {TOKEN_SECRET} }}
"
    );
    match Integration::from_yaml(&yaml) {
        Ok(integration) => integration,
        Err(problems) => panic!("{problems:?}"),
    }
}

fn users(tag: &str) -> Vec<InsiderUser> {
    (0..2)
        .map(|i| {
            let mut user = InsiderUser {
                identifiers: Identifiers {
                    email: Some(format!("{tag}{i}@example.com")),
                    ..Identifiers::default()
                },
                ..InsiderUser::default()
            };
            user.attributes
                .set(&"name".into(), serde_json::json!("Someone"));
            user
        })
        .collect()
}

async fn emulator(token: &str, addr: SocketAddr) -> InsiderEmulator {
    let config = InsiderConfig {
        partner: PARTNER.to_owned(),
        token: token.to_owned(),
    };
    // The port of an emulator just dropped may take a moment to be free again.
    for _ in 0..100 {
        if let Ok(emu) = InsiderEmulator::start_on(addr, config.clone()).await {
            return emu;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot start the Insider emulator on {addr}");
}

#[tokio::test]
async fn a_token_rotated_between_two_batches_is_re_read_after_one_401() {
    let first = InsiderEmulator::start(InsiderConfig {
        partner: PARTNER.to_owned(),
        token: "token-before".to_owned(),
    })
    .await
    .unwrap();
    let addr = first.addr();
    let integration = integration(&first.upsert_url());
    let secrets = Arc::new(Secrets::default());
    secrets.set(TOKEN_SECRET, "token-before");
    let connectors = LiveConnectors::new(secrets.clone());

    let sink = connectors.sink(&integration).await.unwrap();
    let outcome = sink.upsert(&users("a"), false).await.unwrap();
    assert_eq!(outcome.accepted, 2);

    // Rotation: Insider now accepts only the new key, and the secret holds it.
    drop(first);
    let second = emulator("token-after", addr).await;
    secrets.set(TOKEN_SECRET, "token-after");

    let sink = connectors.sink(&integration).await.unwrap();
    let outcome = sink.upsert(&users("b"), false).await.unwrap();
    assert_eq!(outcome.accepted, 2);
    assert!(outcome.failures.is_empty());
    assert_eq!(
        second.requests(),
        2,
        "one 401, then the batch with the new token"
    );
    assert_eq!(second.profiles().len(), 2);
    assert_eq!(
        secrets.reads(),
        2,
        "read when built, re-read once after the 401"
    );

    // Later batches use the new token at once.
    let outcome = sink.upsert(&users("c"), false).await.unwrap();
    assert_eq!(outcome.accepted, 2);
    assert_eq!(second.requests(), 3);
}

#[tokio::test]
async fn an_unchanged_token_after_a_401_fails_with_the_message_that_says_what_to_fix() {
    let emu = InsiderEmulator::start(InsiderConfig {
        partner: PARTNER.to_owned(),
        token: "the-right-token".to_owned(),
    })
    .await
    .unwrap();
    let integration = integration(&emu.upsert_url());
    let secrets = Arc::new(Secrets::default());
    secrets.set(TOKEN_SECRET, "a-wrong-token");
    let connectors = LiveConnectors::new(secrets.clone());
    let sink = connectors.sink(&integration).await.unwrap();
    let error = sink.upsert(&users("a"), false).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Permanent);
    assert!(
        error.message.contains(
            "Partner token authentication failed: check insider.partner and the token secret"
        ),
        "{}",
        error.message
    );
    assert!(!error.message.contains("a-wrong-token"));
    assert_eq!(emu.requests(), 1, "the same token is not sent twice");
    assert_eq!(secrets.reads(), 2, "re-read once after the 401");
}

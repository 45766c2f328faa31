//! What the Insider client's tests share: clients of an Insider (the emulator or a canned
//! server) with quick retries, users known by email, and a tiny HTTP server for replies the
//! emulator cannot give (an absurd `Retry-After`, counts that do not add up): it answers
//! requests in order with canned replies (the last one repeats), one request per
//! connection, and counts the requests. `deadline` (from `tests/src`) runs a call with the
//! process deadline 30 s ahead.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

/// A call run with the process deadline near, shared with the Dataverse client's tests.
#[path = "../../../../tests/src/deadline.rs"]
pub mod deadline;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dynsync_domain::definition::InsiderSettings;
use dynsync_domain::ports::Secret;
use dynsync_domain::retry::RetryPolicy;
use dynsync_domain::{Identifiers, InsiderUser};
use dynsync_emulators::insider::PARTNER;
use dynsync_insider::InsiderClient;
use serde_json::json;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Settings of the Insider at `api_url` for `partner`, its token named `dynsync/insider`.
pub fn settings(api_url: &str, partner: &str) -> InsiderSettings {
    serde_json::from_value(json!({
        "api_url": api_url,
        "partner": partner,
        "token": {"secret": "dynsync/insider"},
    }))
    .unwrap()
}

/// `retries` retries waiting 10 ms to 50 ms.
pub fn fast_retries(retries: u32) -> RetryPolicy {
    RetryPolicy {
        retries,
        base: Duration::from_millis(10),
        max: Duration::from_millis(50),
    }
}

/// A client of the Insider at `api_url` for `partner` with `token`: 10 s requests and
/// three quick retries.
pub fn client_with(api_url: &str, partner: &str, token: &str) -> InsiderClient {
    InsiderClient::new(
        &settings(api_url, partner),
        &Secret::new(token),
        Duration::from_secs(10),
        3,
    )
    .unwrap()
    .with_retry_policy(fast_retries(3))
}

/// [`client_with`] the emulator's partner.
pub fn client_for(api_url: &str, token: &str) -> InsiderClient {
    client_with(api_url, PARTNER, token)
}

/// A user known by `email`, named "Someone".
pub fn user(email: &str) -> InsiderUser {
    let mut user = InsiderUser {
        identifiers: Identifiers {
            email: Some(email.to_owned()),
            ..Identifiers::default()
        },
        ..InsiderUser::default()
    };
    user.attributes.set(&"name".into(), json!("Someone"));
    user
}

/// `user0@example.com`, `user1@example.com`... `n` users.
pub fn users(n: usize) -> Vec<InsiderUser> {
    (0..n)
        .map(|i| user(&format!("user{i}@example.com")))
        .collect()
}

#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Canned {
    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }
}

pub struct CannedServer {
    pub url: String,
    requests: Arc<AtomicUsize>,
}

impl CannedServer {
    pub async fn start(replies: Vec<Canned>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/api/user/v1/upsert",
            listener.local_addr().unwrap()
        );
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let reply = replies.get(n).or_else(|| replies.last()).cloned().unwrap();
                tokio::spawn(async move {
                    read_request(&mut socket).await;
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    for (name, value) in &reply.headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str("\r\n");
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(reply.body.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { url, requests }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads the request head and a `content-length` body.
async fn read_request(socket: &mut tokio::net::TcpStream) {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let Ok(n) = socket.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return;
            }
        }
    }
}

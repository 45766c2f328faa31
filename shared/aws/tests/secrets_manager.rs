//! The Secrets Manager store against moto: reads cached per TTL, rotated values written
//! only when changed and at most once per interval, deferred values served from memory
//! and written later (on the next use after the interval, or by `flush`), and a missing
//! secret reported with the command that creates it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use aws_config::SdkConfig;
use chrono::Duration;
use dynsync_aws::{AwsRequestCounter, AwsService, SecretsManagerSecretStore};
use dynsync_domain::ErrorKind;
use dynsync_domain::ports::{Secret, SecretError, SecretStore};

use common::{ManualClock, at, unique};

struct Fixture {
    store: SecretsManagerSecretStore,
    clock: Arc<ManualClock>,
    counter: AwsRequestCounter,
    raw: aws_sdk_secretsmanager::Client,
    prefix: String,
}

impl Fixture {
    fn new(config: &SdkConfig) -> Self {
        let clock = ManualClock::at(at(10, 0));
        let counter = AwsRequestCounter::new();
        let prefix = format!("{}/", unique("dynsync"));
        let store = SecretsManagerSecretStore::from_client(
            counter.secrets_client(config, &[]),
            Some(prefix.clone()),
        )
        .with_clock(clock.clone());
        Self {
            store,
            clock,
            counter,
            raw: aws_sdk_secretsmanager::Client::new(config),
            prefix,
        }
    }

    async fn create(&self, name: &str, value: &str) {
        self.raw
            .create_secret()
            .name(format!("{}{name}", self.prefix))
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }

    async fn stored(&self, name: &str) -> String {
        let out = self
            .raw
            .get_secret_value()
            .secret_id(format!("{}{name}", self.prefix))
            .send()
            .await
            .unwrap();
        out.secret_string.unwrap()
    }

    fn requests(&self) -> u64 {
        self.counter.get(AwsService::SecretsManager)
    }
}

#[tokio::test]
async fn a_secret_is_read_from_secrets_manager_once_per_cache_ttl() {
    let config = aws_or_skip!();
    let f = Fixture::new(&config);
    f.create("insider", "token-1").await;
    assert_eq!(f.store.get("insider").await.unwrap().expose(), "token-1");
    assert_eq!(f.store.get("insider").await.unwrap().expose(), "token-1");
    assert_eq!(f.requests(), 1, "the second read came from the cache");

    f.raw
        .put_secret_value()
        .secret_id(format!("{}insider", f.prefix))
        .secret_string("token-2")
        .send()
        .await
        .unwrap();
    f.clock.advance(Duration::minutes(4));
    assert_eq!(
        f.store.get("insider").await.unwrap().expose(),
        "token-1",
        "still cached"
    );
    f.clock.advance(Duration::minutes(2));
    assert_eq!(
        f.store.get("insider").await.unwrap().expose(),
        "token-2",
        "re-read after the TTL"
    );
    assert_eq!(f.requests(), 2);
}

#[tokio::test]
async fn a_fresh_read_after_a_refused_token_sees_a_rotation_the_cache_would_hide() {
    let config = aws_or_skip!();
    let f = Fixture::new(&config);
    f.create("insider", "token-1").await;
    assert_eq!(f.store.get("insider").await.unwrap().expose(), "token-1");
    f.raw
        .put_secret_value()
        .secret_id(format!("{}insider", f.prefix))
        .secret_string("token-2")
        .send()
        .await
        .unwrap();
    assert_eq!(f.store.get("insider").await.unwrap().expose(), "token-1");
    assert_eq!(
        f.store.get_fresh("insider").await.unwrap().expose(),
        "token-2",
        "read past the cache"
    );
    assert_eq!(
        f.store.get("insider").await.unwrap().expose(),
        "token-2",
        "and cached"
    );
    assert_eq!(f.requests(), 2);

    // A rotated value of ours not yet written stays: it is newer than the stored one.
    f.store
        .put("insider", &Secret::new("token-3"))
        .await
        .unwrap();
    f.store
        .put("insider", &Secret::new("token-4"))
        .await
        .unwrap();
    assert_eq!(
        f.store.get_fresh("insider").await.unwrap().expose(),
        "token-4"
    );
}

#[tokio::test]
async fn rotated_tokens_are_written_at_most_once_per_interval_and_the_newest_is_never_lost() {
    let config = aws_or_skip!();
    let f = Fixture::new(&config);
    f.create("refresh", "rt-0").await;
    f.store.get("refresh").await.unwrap();

    f.store.put("refresh", &Secret::new("rt-1")).await.unwrap();
    assert_eq!(
        f.stored("refresh").await,
        "rt-1",
        "the first rotation is written at once"
    );
    let after_first_write = f.requests();

    f.clock.advance(Duration::minutes(3));
    f.store.put("refresh", &Secret::new("rt-2")).await.unwrap();
    f.clock.advance(Duration::minutes(3));
    f.store.put("refresh", &Secret::new("rt-3")).await.unwrap();
    f.store.put("refresh", &Secret::new("rt-3")).await.unwrap();
    assert_eq!(
        f.requests(),
        after_first_write,
        "rotations within the interval are deferred"
    );
    assert_eq!(f.stored("refresh").await, "rt-1");
    assert_eq!(
        f.store.get("refresh").await.unwrap().expose(),
        "rt-3",
        "the newest value is served"
    );
    f.clock.advance(Duration::minutes(2));
    f.store.flush_due().await.unwrap();
    assert_eq!(
        f.requests(),
        after_first_write,
        "not due before ten minutes"
    );

    f.clock.advance(Duration::minutes(3));
    assert_eq!(f.store.get("refresh").await.unwrap().expose(), "rt-3");
    assert_eq!(
        f.stored("refresh").await,
        "rt-3",
        "written at the first use after the interval"
    );
    assert_eq!(
        f.requests(),
        after_first_write + 1,
        "one write for two rotations"
    );
}

#[tokio::test]
async fn an_unchanged_value_is_not_written_again() {
    let config = aws_or_skip!();
    let f = Fixture::new(&config);
    f.create("client", "secret-1").await;
    f.store.get("client").await.unwrap();
    f.store
        .put("client", &Secret::new("secret-1"))
        .await
        .unwrap();
    assert_eq!(f.requests(), 1, "only the read");
}

#[tokio::test]
async fn flush_writes_every_deferred_value_before_the_process_ends() {
    let config = aws_or_skip!();
    let f = Fixture::new(&config);
    f.store.put("a", &Secret::new("a-1")).await.unwrap();
    assert_eq!(
        f.stored("a").await,
        "a-1",
        "a put of a new secret creates it"
    );
    f.store.put("a", &Secret::new("a-2")).await.unwrap();
    assert_eq!(f.stored("a").await, "a-1");
    f.store.flush().await.unwrap();
    assert_eq!(f.stored("a").await, "a-2");
    f.store.flush().await.unwrap();
    assert_eq!(f.stored("a").await, "a-2");
}

#[tokio::test]
async fn a_missing_secret_is_not_found_with_the_command_that_creates_it() {
    let config = aws_or_skip!();
    let f = Fixture::new(&config);
    let error = f.store.get("absent").await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Permanent);
    let SecretError::NotFound { name, hint } = &error else {
        panic!("{error}")
    };
    assert_eq!(name, "absent");
    let full = format!("{}absent", f.prefix);
    assert!(
        hint.contains(&format!(
            "aws secretsmanager create-secret --name {full} --secret-string"
        )),
        "{hint}"
    );
}

#[tokio::test]
async fn values_never_appear_in_errors_or_debug_output() {
    let config = aws_or_skip!();
    let f = Fixture::new(&config);
    f.store
        .put("hidden", &Secret::new("hunter2"))
        .await
        .unwrap();
    let secret = f.store.get("hidden").await.unwrap();
    assert!(!format!("{secret:?} {secret}").contains("hunter2"));
    let missing = f.store.get("hidden-not-there").await.unwrap_err();
    assert!(!format!("{missing:?} {missing}").contains("hunter2"));
}

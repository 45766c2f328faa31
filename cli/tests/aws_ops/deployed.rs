//! The fixture of the `--aws` CLI tests: the SDK configuration for moto (or a loud skip),
//! a fresh table, queue and integration id per test ([`Deployed`]), definitions pointing at
//! the emulators or at placeholder endpoints, and the `dynsync` binary with moto's test
//! credentials.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::SdkConfig;
use dynsync_aws::{DynamoDbStateStore, infra};
use dynsync_tests::cli::RunOutput;
/// Where a definition points (the emulators, or placeholders nothing answers on).
pub use dynsync_tests::definition::Endpoints;

pub const BIN: &str = env!("CARGO_BIN_EXE_dynsync");

/// The SDK configuration for moto, or `None` (after saying so) when the test must skip.
pub use dynsync_aws::infra::moto_sdk_config as aws;

/// `let config = aws_or_skip!();` returns from the test when it must skip.
macro_rules! aws_or_skip {
    () => {
        match deployed::aws().await {
            Some(config) => config,
            None => return,
        }
    };
}

/// A fresh table and queue on moto, a temp folder, and a unique integration id.
pub struct Deployed {
    pub sdk: SdkConfig,
    pub table: String,
    pub queue_url: String,
    pub id: String,
    pub dir: tempfile::TempDir,
}

impl Deployed {
    pub async fn create(sdk: SdkConfig) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let table = format!("dynsync-cli-{suffix}");
        infra::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table)
            .await
            .unwrap();
        let queue_url = infra::create_queue(
            &aws_sdk_sqs::Client::new(&sdk),
            &format!("dynsync-cli-{suffix}"),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        Self {
            sdk,
            table,
            queue_url,
            id: format!("cli-{}", &suffix[..12]),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn store(&self) -> DynamoDbStateStore {
        DynamoDbStateStore::new(&self.sdk, self.table.clone())
    }

    /// A definition of this stack's integration against the emulators (placeholder URLs
    /// when none run), written to `name` in the temp folder.
    pub fn write(&self, name: &str, endpoints: &Endpoints, extra: &str) -> PathBuf {
        let head = "name: CLI on AWS\nschedule: \"0 * * * *\"\nmethod: entity\n";
        let settings = "  page_size: 10\n  request_timeout_ms: 5000\n  retries: 1\n";
        let body = "source:
  entity: contact
  fields: [contactid, firstname]
identifiers:
  - { type: uuid, field: contactid }
attributes:
  - { key: name, field: firstname }
";
        let yaml = endpoints.aws_definition(&self.id, head, settings, body) + extra;
        let file = self.dir.path().join(name);
        std::fs::write(&file, yaml).unwrap();
        file
    }

    /// `dynsync ARGS` with the AWS environment of the test, and `--table`/`--queue-url`
    /// passed through the environment the way the functions read them.
    pub async fn dynsync(&self, args: &[&str]) -> RunOutput {
        let mut command = dynsync_command(args);
        command
            .env("DYNSYNC_TABLE", &self.table)
            .env("DYNSYNC_QUEUE_URL", &self.queue_url);
        command.output().await.unwrap().into()
    }
}

/// The binary with moto's test credentials and region when the environment has none.
pub fn dynsync_command(args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env_remove("DYNSYNC_TABLE")
        .env_remove("DYNSYNC_QUEUE_URL")
        .env_remove("DYNSYNC_STACK")
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        command
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
    }
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        command.env("AWS_REGION", "us-east-1");
    }
    command
}

pub fn path(file: &Path) -> &str {
    file.to_str().unwrap()
}

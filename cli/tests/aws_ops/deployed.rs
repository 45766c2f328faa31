//! The fixture of the `--aws` CLI tests: the SDK configuration for moto (or a loud skip),
//! a fresh table, queue and integration id per test ([`Deployed`]), definitions pointing at
//! the emulators or at placeholder endpoints, and the `dynsync` binary with moto's test
//! credentials.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::SdkConfig;
use dynsync_aws::{DynamoDbStateStore, infra};
use dynsync_emulators::dataverse::{CLIENT_ID, DataverseEmulator};
use dynsync_emulators::insider::{InsiderEmulator, PARTNER};
use dynsync_tests::cli::RunOutput;

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
        let yaml = format!(
            "id: {id}
name: CLI on AWS
schedule: \"0 * * * *\"
method: entity
dynamics:
  web_api_url: {web}
  auth:
    method: client_credentials
    token_url: {token}
    scopes: [\"{scope}\"]
    client_id: {CLIENT_ID}
    client_secret: {{ secret: dynsync/{id}/dynamics }}
  page_size: 10
  request_timeout_ms: 5000
  retries: 1
source:
  entity: contact
  fields: [contactid, firstname]
identifiers:
  - {{ type: uuid, field: contactid }}
attributes:
  - {{ key: name, field: firstname }}
insider:
  api_url: {upsert}
  partner: {PARTNER}
  token: {{ secret: dynsync/{id}/insider }}
{extra}",
            id = self.id,
            web = endpoints.web,
            token = endpoints.token,
            scope = endpoints.scope,
            upsert = endpoints.upsert,
        );
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

pub struct Endpoints {
    pub web: String,
    pub token: String,
    pub scope: String,
    pub upsert: String,
}

impl Endpoints {
    pub fn placeholder() -> Self {
        Self {
            web: "https://contoso.crm4.dynamics.com/api/data/v9.2".into(),
            token: "https://login.microsoftonline.com/t/oauth2/v2.0/token".into(),
            scope: "https://contoso.crm4.dynamics.com/.default".into(),
            upsert: "https://unification.useinsider.com/api/user/v1/upsert".into(),
        }
    }

    pub fn of(dataverse: &DataverseEmulator, insider: &InsiderEmulator) -> Self {
        Self {
            web: dataverse.web_api_url(),
            token: dataverse.token_url(),
            scope: dataverse.scope(),
            upsert: insider.upsert_url(),
        }
    }
}

pub fn path(file: &Path) -> &str {
    file.to_str().unwrap()
}

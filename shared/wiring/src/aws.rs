//! The engine on AWS, built once per cold start of a function (or once per `--aws` command
//! of the CLI) from an [`AwsConfig`]: the state store and member sets on DynamoDB, the page
//! queue on SQS, secrets from Secrets Manager, and the live Dataverse/Insider connectors.
//! The SDK configuration comes from the environment (region and credentials from Lambda;
//! `AWS_ENDPOINT_URL` points it at moto in tests).

use std::sync::Arc;

use aws_config::SdkConfig;
use dynsync_aws::{DynamoDbStateStore, SecretsManagerSecretStore, SqsPageQueue};
use dynsync_domain::ports::{Clock, PageQueue, SystemClock};
use dynsync_engine::Engine;

use crate::AwsConfig;
use crate::connectors::LiveConnectors;

/// The engine, the queue it sends to (the worker releases deliveries through it), and the
/// secret store (rotated refresh tokens it deferred are written after each invocation).
pub struct AwsPorts {
    pub engine: Arc<Engine>,
    pub queue: Arc<dyn PageQueue>,
    pub secrets: Arc<SecretsManagerSecretStore>,
}

impl AwsPorts {
    /// Loads the SDK configuration from the environment and builds the ports on it.
    pub async fn build(config: &AwsConfig) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Self::on(&sdk, config, Arc::new(SystemClock))
    }

    /// The ports on an SDK configuration already loaded, with the engine and the state
    /// store reading time from `clock` (tests move it by hand).
    pub fn on(sdk: &SdkConfig, config: &AwsConfig, clock: Arc<dyn Clock>) -> Self {
        let state =
            Arc::new(DynamoDbStateStore::new(sdk, config.table.clone()).with_clock(clock.clone()));
        let queue: Arc<dyn PageQueue> = Arc::new(SqsPageQueue::new(sdk, config.queue_url.clone()));
        let secrets = Arc::new(SecretsManagerSecretStore::new(
            sdk,
            config.secret_prefix.clone(),
        ));
        let connectors = Arc::new(LiveConnectors::new(secrets.clone()));
        let engine = Arc::new(
            Engine::new(
                state.clone(),
                queue.clone(),
                connectors,
                clock,
                config.engine,
            )
            .with_members(state),
        );
        Self {
            engine,
            queue,
            secrets,
        }
    }
}

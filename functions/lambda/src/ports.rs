//! The AWS ports of a function, built once per cold start: the SDK configuration from the
//! environment (region and credentials from Lambda; `AWS_ENDPOINT_URL` points it at moto
//! in tests), the state store on DynamoDB, the page queue on SQS, secrets from Secrets
//! Manager under their own names (IAM limits them to the stack's `SecretsPrefix`), and the
//! live Dataverse/Insider connectors, all behind one [`Engine`].

use std::sync::Arc;

use dynsync_aws::{DynamoDbStateStore, SecretsManagerSecretStore, SqsPageQueue};
use dynsync_connectors::LiveConnectors;
use dynsync_domain::ports::{PageQueue, SystemClock};
use dynsync_engine::Engine;

use crate::LambdaConfig;

/// The engine, the queue it sends to (the worker releases deliveries through it), and the
/// secret store (rotated refresh tokens it deferred are written after each invocation).
pub struct AwsPorts {
    pub engine: Arc<Engine>,
    pub queue: Arc<dyn PageQueue>,
    pub secrets: Arc<SecretsManagerSecretStore>,
}

impl AwsPorts {
    pub async fn build(config: &LambdaConfig) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let state = Arc::new(DynamoDbStateStore::new(&sdk, config.table.clone()));
        let queue: Arc<dyn PageQueue> = Arc::new(SqsPageQueue::new(&sdk, config.queue_url.clone()));
        let secrets = Arc::new(SecretsManagerSecretStore::new(&sdk, None));
        let connectors = Arc::new(LiveConnectors::new(secrets.clone()));
        let engine = Arc::new(
            Engine::new(
                state.clone(),
                queue.clone(),
                connectors,
                Arc::new(SystemClock),
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

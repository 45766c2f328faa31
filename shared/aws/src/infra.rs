//! For tests and benchmarks against moto (the `test-support` feature): the SDK configuration
//! every moto-backed test crate uses ([`moto_sdk_config`]), and the resources the adapters
//! expect, created exactly as template.yaml declares them: the state table (keys, the three
//! KEYS_ONLY indexes, TTL) and a page queue. A deployed stack gets them from template.yaml.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::dynamodb::schema::{
    ALL_PK, INDEX_BY_INTEGRATION, INDEX_BY_START, INDEX_RUNNING, INTEGRATION_PK, PK, RUNNING_PK,
    SK, STARTED_SK, TTL,
};
use crate::error::AwsError;

/// The SDK configuration for moto, from the environment (`AWS_ENDPOINT_URL` points at
/// moto), with region `us-east-1` and moto's test credentials where the environment names
/// none. Without `AWS_ENDPOINT_URL` it says on stderr that the test is skipped and returns
/// `None`, except in CI (`CI` set), where it panics: there the test script always starts
/// moto, so a missing endpoint is a broken run, not a skip.
pub async fn moto_sdk_config() -> Option<SdkConfig> {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "AWS_ENDPOINT_URL is not set in CI: run the tests through infra/scripts/test.sh, which starts moto"
        );
        eprintln!("SKIPPED: AWS_ENDPOINT_URL not set (run infra/scripts/test.sh)");
        return None;
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        loader = loader.region(Region::new("us-east-1"));
    }
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "moto",
        ));
    }
    Some(loader.load().await)
}

fn encode(action: &'static str, resource: &str, e: impl std::fmt::Display) -> AwsError {
    AwsError::Encode {
        action,
        resource: resource.to_owned(),
        detail: e.to_string(),
    }
}

fn key_element(
    name: &str,
    key_type: KeyType,
    resource: &str,
) -> Result<KeySchemaElement, AwsError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| encode("dynamodb:CreateTable", resource, e))
}

fn index(name: &str, partition: &str, resource: &str) -> Result<GlobalSecondaryIndex, AwsError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key_element(partition, KeyType::Hash, resource)?)
        .key_schema(key_element(STARTED_SK, KeyType::Range, resource)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(|e| encode("dynamodb:CreateTable", resource, e))
}

/// Creates the state table `name` (on-demand billing) and turns on its TTL.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<(), AwsError> {
    let resource = format!("table '{name}'");
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element(PK, KeyType::Hash, &resource)?)
        .key_schema(key_element(SK, KeyType::Range, &resource)?);
    for attribute in [PK, SK, INTEGRATION_PK, ALL_PK, RUNNING_PK, STARTED_SK] {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| encode("dynamodb:CreateTable", &resource, e))?,
        );
    }
    for (index_name, partition) in [
        (INDEX_BY_INTEGRATION, INTEGRATION_PK),
        (INDEX_BY_START, ALL_PK),
        (INDEX_RUNNING, RUNNING_PK),
    ] {
        request = request.global_secondary_indexes(index(index_name, partition, &resource)?);
    }
    request
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("dynamodb:CreateTable", &resource, e))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL)
                .enabled(true)
                .build()
                .map_err(|e| encode("dynamodb:UpdateTimeToLive", &resource, e))?,
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("dynamodb:UpdateTimeToLive", &resource, e))?;
    Ok(())
}

/// Creates a standard queue `name` with the given visibility timeout; returns its URL.
pub async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout: Duration,
) -> Result<String, AwsError> {
    let resource = format!("queue '{name}'");
    let out = client
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout.as_secs().to_string(),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("sqs:CreateQueue", &resource, e))?;
    out.queue_url.ok_or_else(|| AwsError::Corrupt {
        resource,
        key: name.to_owned(),
        detail: "CreateQueue returned no queue URL".to_owned(),
    })
}

//! Integration definitions as the AWS tests store them: the YAML of a [`Spec`] over the
//! emulators (the blocks every definition repeats come from `tests/src/definition.rs`,
//! included here), the integration's two secrets on moto's Secrets Manager, and a
//! definition parsed and stored. Needs `aws_fixtures` as a sibling module `fixtures` of
//! the test crate.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../../tests/src/definition.rs"]
mod yaml;

use aws_config::SdkConfig;
use dynsync_domain::Integration;
use dynsync_domain::ports::Definitions;
use dynsync_emulators::dataverse::CLIENT_SECRET;
use dynsync_emulators::insider::TOKEN;

use crate::fixtures::Spec;
pub use yaml::Endpoints;

/// Stores integration `id`'s two secrets as its definition names them
/// (`dynsync/<id>/dynamics`, `dynsync/<id>/insider`), with the emulators' values.
pub async fn put_secrets(sdk: &SdkConfig, id: &str) {
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    for (name, value) in [("dynamics", CLIENT_SECRET), ("insider", TOKEN)] {
        secrets
            .create_secret()
            .name(format!("dynsync/{id}/{name}"))
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
}

/// The definition of `spec` as integration `id` over `at`: contacts by email, their first
/// name as `name`.
pub fn spec_yaml(id: &str, spec: &Spec, at: &Endpoints) -> String {
    let head = format!(
        "method: entity\nenabled: {}\nschedule: \"{}\"\n",
        spec.enabled, spec.schedule
    );
    let settings = format!(
        "  page_size: {}\n  partitions: {}\n  request_timeout_ms: 5000\n  retries: {}\n",
        spec.page_size, spec.partitions, spec.retries
    );
    let events = if spec.events {
        "events:\n  name: { fixed: crm_contact_synced }\n  timestamp: processing_time\n"
    } else {
        ""
    };
    let body = format!(
        "source:
  entity: contact
  fetch_mode: {fetch_mode}
  fields: [contactid, emailaddress1, firstname]
identifiers:
  - {{ type: email, field: emailaddress1 }}
invalid_identifier: skip_user
attributes:
  - {{ key: name, field: firstname }}
{events}",
        fetch_mode = spec.fetch_mode,
    );
    at.aws_definition(id, &head, &settings, &body)
}

/// Parses `yaml` (a test's definition must be valid: its problems and the YAML otherwise)
/// and stores the definition in `state`.
pub async fn store(state: &(impl Definitions + ?Sized), yaml: &str) {
    let integration = Integration::from_yaml(yaml).unwrap_or_else(|p| panic!("{p:?}\n{yaml}"));
    state
        .put_definition(integration.definition())
        .await
        .unwrap();
}

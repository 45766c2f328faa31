//! What the in-memory dispatcher tests share: the `contacts` definition, a source that
//! plans (or fails to, when told) and never fetches, a sink that never upserts, the engine
//! over in-memory ports with the definition stored, and EventBridge's scheduled event.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../../tests/src/definition.rs"]
mod yaml;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use dynsync_domain::execution::SourcePlan;
use dynsync_domain::ports::{
    BatchOutcome, Connectors, DataSource, Definitions, PageQueue, PageRequest, PortError,
    SourcePage, UserSink,
};
use dynsync_domain::{InsiderUser, Integration};
use dynsync_engine::memory::{ManualClock, MemoryStateStore};
use dynsync_engine::{Engine, EngineConfig};
use serde_json::{Value, json};
use yaml::Endpoints;

/// The `contacts` definition, hourly, its endpoints placeholders (nothing here calls them).
pub fn definition() -> String {
    let dynamics = Endpoints::placeholder().dynamics("dynsync/test/dynamics");
    let body = "source:
  entity: contact
  fields: [contactid, emailaddress1]
identifiers:
  - { type: email, field: emailaddress1 }
insider:
  partner: acme
  token: { secret: dynsync/insider }
";
    format!("id: contacts\nmethod: entity\nschedule: \"0 * * * *\"\n{dynamics}{body}")
}

/// Plans succeed unless told otherwise; pages are never fetched by the dispatcher.
#[derive(Default)]
pub struct PlanningSource {
    pub plan_error: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl DataSource for PlanningSource {
    async fn plan(&self, _: &Integration) -> Result<SourcePlan, PortError> {
        if let Some(message) = self.plan_error.lock().unwrap().clone() {
            return Err(PortError::permanent(message));
        }
        Ok(SourcePlan {
            entity: "contact".into(),
            entity_set: "contacts".into(),
            primary_id: "contactid".into(),
            labels: Default::default(),
            list: None,
        })
    }
    async fn fetch_page(&self, _: PageRequest<'_>) -> Result<SourcePage, PortError> {
        Err(PortError::permanent("the dispatcher does not fetch pages"))
    }
}

struct NoSink;

#[async_trait::async_trait]
impl UserSink for NoSink {
    async fn upsert(&self, _: &[InsiderUser], _: bool) -> Result<BatchOutcome, PortError> {
        Err(PortError::permanent("the dispatcher does not upsert"))
    }
}

struct Fixed(Arc<PlanningSource>);

#[async_trait::async_trait]
impl Connectors for Fixed {
    async fn source(&self, _: &Integration) -> Result<Arc<dyn DataSource>, PortError> {
        Ok(self.0.clone())
    }
    async fn sink(&self, _: &Integration) -> Result<Arc<dyn UserSink>, PortError> {
        Ok(Arc::new(NoSink))
    }
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// The engine over `state` and `queue` on `clock`, planning with `source`, with
/// [`definition`] stored.
pub async fn engine(
    clock: &Arc<ManualClock>,
    state: &Arc<MemoryStateStore>,
    queue: Arc<dyn PageQueue>,
    source: &Arc<PlanningSource>,
) -> Arc<Engine> {
    let engine = Arc::new(Engine::new(
        state.clone(),
        queue,
        Arc::new(Fixed(source.clone())),
        clock.clone(),
        EngineConfig::default(),
    ));
    let integration = Integration::from_yaml(&definition()).unwrap();
    state
        .put_definition(integration.definition())
        .await
        .unwrap();
    engine
}

/// EventBridge's scheduled event fired at `at_time` (RFC 3339).
pub fn scheduled_event(at_time: &str) -> Value {
    json!({
        "version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": at_time, "region": "us-east-1",
        "resources": [], "detail": {}
    })
}

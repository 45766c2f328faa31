//! The integration definition: one YAML file per integration (ARCHITECTURE.md section 3).
//!
//! These are the shapes serde reads, with the guide's defaults filled in. They are not yet
//! trusted: `crate::validate` checks them and yields an [`crate::Integration`], which is the
//! only form the engine accepts.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod insider;

pub use insider::{
    EventMapping, EventName, FieldMapping, FixedValue, IdentifierMapping, IdentifierType,
    InsiderSettings, InvalidIdentifierStrategy, PhoneSettings, TimestampSource,
    UnknownCodeBehavior,
};

/// Insider's upsert endpoint, the default for `insider.api_url`.
pub const DEFAULT_INSIDER_API_URL: &str = "https://unification.useinsider.com/api/user/v1/upsert";
/// The guide's default schedule: every hour, on the hour (UTC).
pub const DEFAULT_SCHEDULE: &str = "0 * * * *";
pub const DEFAULT_PAGE_SIZE: u32 = 500;
pub const MAX_PAGE_SIZE: u32 = 5000;
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 60_000;
pub const MIN_REQUEST_TIMEOUT_MS: u64 = 1_000;
pub const MAX_REQUEST_TIMEOUT_MS: u64 = 300_000;
pub const DEFAULT_RETRIES: u32 = 3;
pub const MAX_RETRIES: u32 = 10;
pub const MAX_PARTITIONS: u32 = 64;

/// One integration: what to read from Dataverse and how it becomes Insider users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// Stable id, `[a-z0-9][a-z0-9-]{0,62}`; names state, locks and secrets.
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$"))]
    pub id: String,
    /// A descriptive name shown in listings (defaults to the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `false` pauses the integration: the schedule skips it.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// `entity` ("Sync User and Lead Profiles") or `marketing_list` ("Sync Dynamic Lists").
    pub method: Method,
    /// A 5-field cron expression, evaluated in UTC.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// Where and how to reach Dataverse (the guide's Step 2 and Dynamics settings).
    pub dynamics: DynamicsSettings,
    /// What to read: an entity or a marketing list, its fields and a record filter.
    pub source: Source,
    /// How Insider matches records to profiles; at least one.
    #[serde(default)]
    pub identifiers: Vec<IdentifierMapping>,
    /// What to do when an identifier value fails validation.
    #[serde(default)]
    pub invalid_identifier: InvalidIdentifierStrategy,
    /// Phone number normalisation for `phone_number` identifiers and attributes.
    #[serde(default)]
    pub phone: PhoneSettings,
    /// Field -> user attribute mappings (the guide's Step 7).
    #[serde(default)]
    pub attributes: Vec<FieldMapping>,
    /// Constant attributes set on every user.
    #[serde(default)]
    pub fixed_attributes: Vec<FixedValue>,
    /// Absent means "Map events" is unchecked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<EventMapping>,
    /// What Insider gets for a record that leaves the synced set: deleted in Dynamics
    /// (`source.fetch_mode: changes`) or gone from the list (`source.list_mode: changes`).
    /// `ignore` (the default), `delete_profile`, or `{ attribute: KEY, value: VALUE }`;
    /// anything but `ignore` needs one of those modes and a `uuid` or `custom` identifier
    /// on the primary id field (a removed record arrives with only its id).
    #[serde(default, skip_serializing_if = "Removals::is_ignore")]
    pub removals: Removals,
    /// Where and how to upsert into Insider One.
    pub insider: InsiderSettings,
}

/// The primary id fields a marketing list's members can have: its member type (contact,
/// lead or account) is known only when the run plans.
pub const LIST_MEMBER_PRIMARY_IDS: &[&str] = &["contactid", "leadid", "accountid"];

impl Definition {
    /// What Insider gets for a record that leaves the synced set (`ignore` when not given).
    pub fn removals(&self) -> &Removals {
        &self.removals
    }

    /// The fields that can hold a record's primary id, known without asking Dataverse:
    /// `<entity>id` for method `entity` (Dataverse's naming: `contactid`, `leadid`,
    /// `accountid`, `new_widgetid`), the member types' ids for a marketing list, nothing
    /// when `source.entity` is missing.
    pub fn primary_id_fields(&self) -> Vec<String> {
        match (self.method, &self.source.entity) {
            (Method::Entity, Some(entity)) => vec![format!("{entity}id")],
            (Method::Entity, None) => Vec::new(),
            (Method::MarketingList, _) => LIST_MEMBER_PRIMARY_IDS
                .iter()
                .map(|id| (*id).to_owned())
                .collect(),
        }
    }

    /// The identifier a removal is sent with: the first `uuid` or `custom` identifier whose
    /// field is a primary id field (a removed record arrives with only its id).
    pub fn removal_identifier(&self) -> Option<&IdentifierMapping> {
        let ids = self.primary_id_fields();
        self.identifiers.iter().find(|i| {
            matches!(i.kind, IdentifierType::Uuid | IdentifierType::Custom)
                && ids.contains(&i.field)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Sync User and Lead Profiles: any entity, with fetch modes.
    Entity,
    /// Sync Dynamic Lists: all current members of one marketing list.
    MarketingList,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DynamicsSettings {
    /// Base URL of the Web API, e.g. `https://contoso.crm4.dynamics.com/api/data/v9.2`
    /// (`https://`; plain `http://` only for a loopback host: 127.0.0.0/8, ::1, localhost).
    pub web_api_url: String,
    /// The Entra ID app registration used to get tokens.
    pub auth: DynamicsAuth,
    /// Records per request, 1..5000.
    #[serde(default = "default_page_size")]
    #[schemars(range(min = 1, max = 5000))]
    pub page_size: u32,
    /// Maximum wait for one Dataverse response, 1000..300000 ms.
    #[serde(default = "default_request_timeout_ms")]
    #[schemars(range(min = 1000, max = 300000))]
    pub request_timeout_ms: u64,
    /// Retries of a failed request, 0..10, with exponential backoff and jitter.
    #[serde(default = "default_retries")]
    #[schemars(range(max = 10))]
    pub retries: u32,
    /// Advanced: split the primary-id space into this many ranges fetched in parallel
    /// (1..64). Mind Dataverse's service protection limits. Not with `fetch_mode:
    /// changes`: a change-tracking read is one chain of links (more than 1 is refused).
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1, max = 64))]
    pub partitions: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DynamicsAuth {
    /// `client_credentials` or `authorization_code`.
    pub method: AuthMethod,
    /// `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token` (`https://`; plain
    /// `http://` only for a loopback host).
    pub token_url: String,
    /// Authorization code only; defaults to the token URL with `/token` replaced by `/authorize`
    /// (`https://`; plain `http://` only for a loopback host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    /// Client credentials: exactly one `<org>/.default`; authorization code:
    /// `<org>/user_impersonation` and `offline_access`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The Application (client) ID of the app registration.
    pub client_id: String,
    /// The client secret, as a reference `{ secret: NAME }`.
    pub client_secret: SecretRef,
    /// Authorization code only: where `dynsync auth login` stores the refresh token (and
    /// every refresh that rotates it writes the new one; locally that stored value wins
    /// over a `DYNSYNC_SECRET_<NAME>` variable, with a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<SecretRef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Server-to-server; no browser.
    ClientCredentials,
    /// A user signs in once (`dynsync auth login`); a refresh token is kept.
    AuthorizationCode,
}

/// A reference to a secret held by the secret store, never the value itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The secret's name: a Secrets Manager name on AWS; locally the variable
    /// `DYNSYNC_SECRET_<NAME>`, else that key of the state folder's `secrets.json` (the file
    /// wins for a value dynsync wrote there: a refresh token from `dynsync auth login` or
    /// rotated by a refresh).
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `method: entity`: the entity's logical name (contact, lead, ...; required with that
    /// method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// `method: marketing_list`: the list's name or id (required with that method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// `method: entity` only; default `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_mode: Option<FetchMode>,
    /// `method: marketing_list` only; default `full` (every member, every run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_mode: Option<ListMode>,
    /// `fetch_mode: all` only: when > 0, only records modified in the last N days.
    #[serde(default)]
    pub days_to_get: u32,
    /// Fields to read; identifier, attribute and event fields must be among them.
    #[serde(default)]
    pub fields: Vec<String>,
    /// `none` (or `_none_`), one `<filter>` block, or one `<condition/>`.
    #[serde(default = "default_filter")]
    pub filter: String,
}

impl Source {
    /// The fetch mode in force (`all` when not given).
    pub fn fetch_mode(&self) -> FetchMode {
        self.fetch_mode.unwrap_or_default()
    }

    /// The list mode in force (`full` when not given).
    pub fn list_mode(&self) -> ListMode {
        self.list_mode.unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FetchMode {
    /// Always fetch all records (optionally only the last `days_to_get` days).
    #[default]
    All,
    /// Records created or modified since the last successful sync.
    NewAndUpdated,
    /// Records modified since the last successful sync that existed before it.
    OnlyUpdated,
    /// Dataverse change tracking: the first run reads every record, each later run the
    /// records created, updated or deleted since the last successful run (the table needs
    /// "Track changes" on; a table with it off is refused when the run starts). Deleted
    /// records get `removals` and are counted in `deleted`, not `records_read`; a changed
    /// record `source.filter` no longer selects is skipped. An expired token (older than
    /// the organization keeps changes) makes a full read, `resynced: 1` in the execution
    /// record: records deleted in that gap cannot be seen. One partition.
    Changes,
}

/// How a marketing list is read (`source.list_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListMode {
    /// Every current member, every run (the guide's behaviour).
    #[default]
    Full,
    /// Members who joined since the last successful run and members whose record changed
    /// in the window; members who left (or were deleted, or no longer match the filter)
    /// get `removals`. The first run is a full run.
    Changes,
}

/// What Insider gets for a record that leaves the synced set (top-level `removals`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "RemovalsRepr", into = "RemovalsRepr")]
#[schemars(with = "RemovalsRepr")]
pub enum Removals {
    /// Nothing: the Insider profile stays as it is.
    #[default]
    Ignore,
    /// Delete the Insider profile (Insider's delete-user endpoint, one call per record; a
    /// user Insider does not know counts as deleted).
    DeleteProfile,
    /// Upsert the user with this attribute set, e.g. `custom.crm_deleted: true`.
    SetAttribute {
        /// An Insider key: a standard key, or `custom.<key>`.
        attribute: String,
        /// A string, number or boolean.
        value: serde_json::Value,
    },
}

impl Removals {
    pub fn is_ignore(&self) -> bool {
        *self == Self::Ignore
    }
}

/// `ignore`, `delete_profile`, or `{ attribute: KEY, value: VALUE }`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
enum RemovalsRepr {
    Keyword(RemovalsKeyword),
    /// Upsert the removed user with this attribute set, e.g. `custom.crm_deleted: true`, so
    /// marketers can exclude them.
    SetAttribute {
        /// An Insider key: a standard key, or `custom.<key>`.
        attribute: String,
        /// A string, number or boolean.
        value: serde_json::Value,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum RemovalsKeyword {
    /// Nothing: the Insider profile stays as it is.
    Ignore,
    /// Delete the Insider profile (Insider's delete-user endpoint, once per record; a user
    /// Insider does not know counts as deleted).
    DeleteProfile,
}

impl From<RemovalsRepr> for Removals {
    fn from(repr: RemovalsRepr) -> Self {
        match repr {
            RemovalsRepr::Keyword(RemovalsKeyword::Ignore) => Self::Ignore,
            RemovalsRepr::Keyword(RemovalsKeyword::DeleteProfile) => Self::DeleteProfile,
            RemovalsRepr::SetAttribute { attribute, value } => {
                Self::SetAttribute { attribute, value }
            }
        }
    }
}

impl From<Removals> for RemovalsRepr {
    fn from(removals: Removals) -> Self {
        match removals {
            Removals::Ignore => Self::Keyword(RemovalsKeyword::Ignore),
            Removals::DeleteProfile => Self::Keyword(RemovalsKeyword::DeleteProfile),
            Removals::SetAttribute { attribute, value } => Self::SetAttribute { attribute, value },
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_schedule() -> String {
    DEFAULT_SCHEDULE.to_owned()
}
fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}
fn default_request_timeout_ms() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_MS
}
fn default_retries() -> u32 {
    DEFAULT_RETRIES
}
fn default_partitions() -> u32 {
    1
}
fn default_filter() -> String {
    "none".to_owned()
}

//! Discovery: what `dynsync connect`, `entities`, `fields` and `lists` show and what
//! planning needs: WhoAmI, the entity list, an entity's attributes, option-set labels and
//! marketing lists (API-FACTS.md 2.1, 2.2, 2.5). Metadata replies are not paged.

use std::collections::BTreeSet;

use dynsync_domain::OptionLabels;
use serde::Serialize;
use serde_json::Value;

use crate::client::{DataverseClient, SERVICE};
use crate::error::DynamicsError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhoAmI {
    pub user_id: String,
    pub business_unit_id: String,
    pub organization_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityInfo {
    pub logical_name: String,
    pub entity_set: String,
    pub primary_id: String,
    pub display_name: String,
    pub custom: bool,
    /// The table's "Track changes" setting (`ChangeTrackingEnabled`): fetch mode `changes`
    /// needs it on.
    pub change_tracking: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeInfo {
    pub logical_name: String,
    /// `String`, `Picklist`, `Boolean`, `DateTime`, `Lookup`, ...
    pub attribute_type: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListInfo {
    pub id: String,
    pub name: String,
    pub dynamic: bool,
    /// `account`, `contact` or `lead`.
    pub member_type: String,
    pub member_count: Option<i64>,
    /// The stored FetchXML of a dynamic list.
    pub query: Option<String>,
}

/// Option-set metadata types, each queried with one cast for the whole entity.
const OPTION_CASTS: [&str; 5] = [
    "PicklistAttributeMetadata",
    "StateAttributeMetadata",
    "StatusAttributeMetadata",
    "BooleanAttributeMetadata",
    "MultiSelectPicklistAttributeMetadata",
];

const LIST_SELECT: &str = "$select=listid,listname,type,createdfromcode,membercount,query";

impl DataverseClient {
    /// The cheapest authenticated call: proves the token and the application user.
    pub async fn who_am_i(&self) -> Result<WhoAmI, DynamicsError> {
        let json = self.get_json("WhoAmI").await?;
        Ok(WhoAmI {
            user_id: text(&json, "UserId"),
            business_unit_id: text(&json, "BusinessUnitId"),
            organization_id: text(&json, "OrganizationId"),
        })
    }

    /// Entities valid for Advanced Find, sorted by logical name.
    pub async fn entities(&self) -> Result<Vec<EntityInfo>, DynamicsError> {
        let json = self
            .get_json(
                "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute,DisplayName,IsCustomEntity,ChangeTrackingEnabled&$filter=IsValidForAdvancedFind eq true")
            .await?;
        let mut entities: Vec<EntityInfo> = values(&json)?.iter().map(entity_info).collect();
        entities.retain(|e| !e.entity_set.is_empty());
        entities.sort_by(|a, b| a.logical_name.cmp(&b.logical_name));
        Ok(entities)
    }

    /// One entity's metadata (entity set and primary id for queries).
    pub async fn entity(&self, logical_name: &str) -> Result<EntityInfo, DynamicsError> {
        let name = logical_name_of(logical_name)?;
        let json = self
            .get_json(
                &format!("EntityDefinitions(LogicalName='{name}')?$select=LogicalName,EntitySetName,PrimaryIdAttribute,DisplayName,IsCustomEntity,ChangeTrackingEnabled"))
            .await
            .map_err(|e| not_found_as(e, &format!("entity '{name}'")))?;
        Ok(entity_info(&json))
    }

    /// An entity's attributes, sorted by logical name.
    pub async fn attributes(&self, entity: &str) -> Result<Vec<AttributeInfo>, DynamicsError> {
        let name = logical_name_of(entity)?;
        let json = self
            .get_json(
                &format!("EntityDefinitions(LogicalName='{name}')/Attributes?$select=LogicalName,AttributeType,DisplayName"))
            .await
            .map_err(|e| not_found_as(e, &format!("entity '{name}'")))?;
        let mut attributes: Vec<AttributeInfo> = values(&json)?
            .iter()
            .map(|a| AttributeInfo {
                logical_name: text(a, "LogicalName"),
                attribute_type: text(a, "AttributeType"),
                display_name: label(a.get("DisplayName")),
            })
            .collect();
        attributes.sort_by(|a, b| a.logical_name.cmp(&b.logical_name));
        Ok(attributes)
    }

    /// Labels of the entity's choice, state, status, boolean (0/1) and multi-select fields;
    /// only `fields` when it is not empty.
    pub async fn option_labels(
        &self,
        entity: &str,
        fields: &[String],
    ) -> Result<OptionLabels, DynamicsError> {
        let name = logical_name_of(entity)?;
        let wanted: BTreeSet<&str> = fields.iter().map(String::as_str).collect();
        let mut labels = OptionLabels::new();
        for cast in OPTION_CASTS {
            let expand = if cast == "PicklistAttributeMetadata"
                || cast == "MultiSelectPicklistAttributeMetadata"
            {
                "OptionSet,GlobalOptionSet"
            } else {
                "OptionSet"
            };
            let json = self
                .get_json(
                    &format!("EntityDefinitions(LogicalName='{name}')/Attributes/Microsoft.Dynamics.CRM.{cast}?$select=LogicalName&$expand={expand}"))
                .await
                .map_err(|e| not_found_as(e, &format!("entity '{name}'")))?;
            for attribute in values(&json)? {
                let field = text(attribute, "LogicalName");
                if !wanted.is_empty() && !wanted.contains(field.as_str()) {
                    continue;
                }
                let set = [attribute.get("OptionSet"), attribute.get("GlobalOptionSet")]
                    .into_iter()
                    .flatten()
                    .find(|s| s.is_object());
                let Some(set) = set else { continue };
                let mut options = std::collections::BTreeMap::new();
                for option in set
                    .get("Options")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(value) = option.get("Value").and_then(Value::as_i64) {
                        options.insert(value, label(option.get("Label")));
                    }
                }
                for (key, value) in [("FalseOption", 0), ("TrueOption", 1)] {
                    if let Some(option) = set.get(key).filter(|o| o.is_object()) {
                        let value = option.get("Value").and_then(Value::as_i64).unwrap_or(value);
                        options.insert(value, label(option.get("Label")));
                    }
                }
                labels.insert(field, options);
            }
        }
        Ok(labels)
    }

    /// Active marketing lists, sorted by name.
    pub async fn lists(&self) -> Result<Vec<ListInfo>, DynamicsError> {
        let json = self
            .get_json(&format!("lists?{LIST_SELECT}&$filter=statecode eq 0"))
            .await?;
        let mut lists: Vec<ListInfo> = values(&json)?.iter().map(list_info).collect();
        lists.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        Ok(lists)
    }

    /// A list by id (a GUID) or by exact name; two lists of that name are an error that
    /// lists their ids.
    pub async fn resolve_list(&self, name_or_id: &str) -> Result<ListInfo, DynamicsError> {
        let trimmed = name_or_id.trim().trim_matches(|c| c == '{' || c == '}');
        if let Ok(id) = uuid::Uuid::parse_str(trimmed) {
            let json = self
                .get_json(&format!(
                    "lists?{LIST_SELECT}&$filter=listid%20eq%20{}",
                    id.hyphenated()
                ))
                .await?;
            return values(&json)?.first().map(list_info).ok_or_else(|| {
                DynamicsError::ListNotFound {
                    name: name_or_id.to_owned(),
                }
            });
        }
        let escaped = name_or_id.replace('\'', "''");
        let filter = utf8_encode(&format!("listname eq '{escaped}'"));
        let json = self
            .get_json(&format!("lists?{LIST_SELECT}&$filter={filter}"))
            .await?;
        let mut found: Vec<ListInfo> = values(&json)?
            .iter()
            .map(list_info)
            .filter(|l| l.name == name_or_id)
            .collect();
        match found.len() {
            0 => Err(DynamicsError::ListNotFound {
                name: name_or_id.to_owned(),
            }),
            1 => Ok(found.remove(0)),
            _ => Err(DynamicsError::AmbiguousList {
                name: name_or_id.to_owned(),
                ids: found.into_iter().map(|l| l.id).collect(),
            }),
        }
    }
}

fn utf8_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Logical names are lowercase letters, digits and `_`; anything else would change the URL.
fn logical_name_of(name: &str) -> Result<&str, DynamicsError> {
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(name)
    } else {
        Err(DynamicsError::Config {
            problem: format!(
                "'{name}' is not a logical name (lowercase letters, digits and '_', e.g. contact)"
            ),
        })
    }
}

fn not_found_as(error: DynamicsError, what: &str) -> DynamicsError {
    match error {
        DynamicsError::NotFound { code, message, .. } => DynamicsError::NotFound {
            what: what.to_owned(),
            code,
            message,
        },
        other => other,
    }
}

fn values(json: &Value) -> Result<&Vec<Value>, DynamicsError> {
    json.get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| DynamicsError::MalformedReply {
            service: SERVICE,
            detail: "a reply without a value array".to_owned(),
            attempts: 1,
        })
}

fn text(json: &Value, key: &str) -> String {
    json.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// `{ "UserLocalizedLabel": { "Label": ... } }`, else the first localized label.
fn label(json: Option<&Value>) -> String {
    let Some(json) = json else {
        return String::new();
    };
    json.get("UserLocalizedLabel")
        .and_then(|l| l.get("Label"))
        .and_then(Value::as_str)
        .or_else(|| {
            json.get("LocalizedLabels")
                .and_then(Value::as_array)
                .and_then(|l| l.first())
                .and_then(|l| l.get("Label"))
                .and_then(Value::as_str)
        })
        .unwrap_or_default()
        .to_owned()
}

fn entity_info(json: &Value) -> EntityInfo {
    EntityInfo {
        logical_name: text(json, "LogicalName"),
        entity_set: text(json, "EntitySetName"),
        primary_id: text(json, "PrimaryIdAttribute"),
        display_name: label(json.get("DisplayName")),
        custom: json
            .get("IsCustomEntity")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        change_tracking: json
            .get("ChangeTrackingEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

fn list_info(json: &Value) -> ListInfo {
    let member_type = match json.get("createdfromcode").and_then(Value::as_i64) {
        Some(1) => "account".to_owned(),
        Some(2) => "contact".to_owned(),
        Some(4) => "lead".to_owned(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    ListInfo {
        id: text(json, "listid"),
        name: text(json, "listname"),
        dynamic: match json.get("type") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_i64() == Some(1),
            _ => false,
        },
        member_type,
        member_count: json.get("membercount").and_then(Value::as_i64),
        query: json
            .get("query")
            .and_then(Value::as_str)
            .filter(|q| !q.trim().is_empty())
            .map(str::to_owned),
    }
}

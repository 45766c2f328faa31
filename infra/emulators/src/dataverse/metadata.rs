//! `EntityDefinitions` metadata: the table list, one table, a table's columns, and option
//! sets through the derived-type casts (`Microsoft.Dynamics.CRM.PicklistAttributeMetadata`,
//! `State…`, `Status…`, `Boolean…`, `MultiSelectPicklist…`). Metadata is never paged.

use super::errors::ApiError;
use super::schema::{AttrDef, AttrKind, EntityDef};
use super::store::State;
use super::web_api::Reply;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

fn label(text: &str) -> Value {
    let l = json!({ "Label": text, "LanguageCode": 1033 });
    json!({ "LocalizedLabels": [l.clone()], "UserLocalizedLabel": l })
}

/// Stable ids derived from names, so repeated calls agree.
fn metadata_id(name: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut b = [0u8; 16];
    for (slot, v) in b.iter_mut().zip(digest.iter()) {
        *slot = *v;
    }
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

fn entity_json(e: &EntityDef) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("MetadataId".into(), json!(metadata_id(e.logical_name)));
    m.insert("LogicalName".into(), json!(e.logical_name));
    m.insert("EntitySetName".into(), json!(e.entity_set));
    m.insert("PrimaryIdAttribute".into(), json!(e.primary_id));
    m.insert(
        "PrimaryNameAttribute".into(),
        if e.primary_name.is_empty() {
            Value::Null
        } else {
            json!(e.primary_name)
        },
    );
    m.insert("DisplayName".into(), label(e.display));
    m.insert("IsCustomEntity".into(), json!(e.custom));
    m.insert("ObjectTypeCode".into(), json!(e.object_type_code));
    m.insert("ChangeTrackingEnabled".into(), json!(e.change_tracking));
    m.insert("IsValidForAdvancedFind".into(), json!(e.advanced_find));
    m.insert("IsIntersect".into(), json!(e.logical_name == "listmember"));
    m
}

fn attr_json(e: &EntityDef, a: &AttrDef) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "MetadataId".into(),
        json!(metadata_id(&format!("{}.{}", e.logical_name, a.name))),
    );
    m.insert("LogicalName".into(), json!(a.name));
    m.insert("AttributeType".into(), json!(a.kind.attribute_type()));
    m.insert(
        "AttributeTypeName".into(),
        json!({ "Value": a.kind.attribute_type_name() }),
    );
    m.insert("DisplayName".into(), label(a.display));
    m.insert("IsCustomAttribute".into(), json!(a.custom));
    m.insert("IsPrimaryId".into(), json!(a.name == e.primary_id));
    m.insert("IsPrimaryName".into(), json!(a.name == e.primary_name));
    if a.kind.is_lookup() {
        m.insert("Targets".into(), json!(a.targets));
    }
    if matches!(a.kind, AttrKind::DateTime | AttrKind::DateOnly) {
        m.insert(
            "Format".into(),
            json!(if a.kind == AttrKind::DateOnly {
                "DateOnly"
            } else {
                "DateAndTime"
            }),
        );
    }
    m
}

fn option(value: i64, text: &str) -> Value {
    json!({ "Value": value, "Label": label(text) })
}

fn option_set(a: &AttrDef) -> Value {
    let name = a
        .global_option_set
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}_options", a.name));
    if a.kind == AttrKind::Boolean {
        let find = |v: i64| {
            a.options
                .iter()
                .find(|(c, _)| *c == v)
                .map(|(_, l)| *l)
                .unwrap_or_default()
        };
        return json!({
            "MetadataId": metadata_id(&name), "Name": name, "IsGlobal": false, "OptionSetType": "Boolean",
            "TrueOption": option(1, find(1)), "FalseOption": option(0, find(0)),
        });
    }
    let kind = match a.kind {
        AttrKind::State => "State",
        AttrKind::Status => "Status",
        _ => "Picklist",
    };
    json!({
        "MetadataId": metadata_id(&name), "Name": name, "IsGlobal": a.global_option_set.is_some(), "OptionSetType": kind,
        "Options": a.options.iter().map(|(v, l)| option(*v, l)).collect::<Vec<_>>(),
    })
}

fn select(mut m: Map<String, Value>, q: &[(String, String)]) -> Map<String, Value> {
    let Some((_, sel)) = q.iter().find(|(k, _)| k == "$select") else {
        return m;
    };
    let keep: Vec<&str> = sel.split(',').map(str::trim).collect();
    m.retain(|k, _| k == "MetadataId" || keep.contains(&k.as_str()));
    m
}

/// `$filter` clauses `Name eq value` joined by `and`; unknown properties are ignored.
fn entity_matches(m: &Map<String, Value>, q: &[(String, String)]) -> bool {
    let Some((_, filter)) = q.iter().find(|(k, _)| k == "$filter") else {
        return true;
    };
    filter.split(" and ").all(|clause| {
        let parts: Vec<&str> = clause
            .trim()
            .trim_matches(|c| c == '(' || c == ')')
            .splitn(3, ' ')
            .collect();
        let [name, "eq", raw] = parts.as_slice() else {
            return true;
        };
        let Some(actual) = m.get(*name) else {
            return true;
        };
        let wanted = match *raw {
            "true" => json!(true),
            "false" => json!(false),
            s => json!(s.trim_matches('\'')),
        };
        *actual == wanted
    })
}

fn cast_kind(segment: &str) -> Option<AttrKind> {
    match segment.strip_prefix("Microsoft.Dynamics.CRM.")? {
        "PicklistAttributeMetadata" => Some(AttrKind::Picklist),
        "StateAttributeMetadata" => Some(AttrKind::State),
        "StatusAttributeMetadata" => Some(AttrKind::Status),
        "BooleanAttributeMetadata" => Some(AttrKind::Boolean),
        "MultiSelectPicklistAttributeMetadata" => Some(AttrKind::MultiSelectPicklist),
        _ => None,
    }
}

fn key_of(segment: &str, prefix: &str) -> Option<String> {
    let inner = segment
        .strip_prefix(prefix)?
        .strip_prefix('(')?
        .strip_suffix(')')?;
    let v = inner.strip_prefix("LogicalName=").unwrap_or(inner);
    Some(v.trim_matches('\'').to_owned())
}

/// Serves `EntityDefinitions...`; `path` starts with `EntityDefinitions`.
pub fn handle(
    st: &State,
    web: &str,
    path: &str,
    q: &[(String, String)],
) -> Result<Reply, ApiError> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let ctx = |what: &str| json!(format!("{web}/$metadata#{what}"));
    let Some(first) = segs.first() else {
        return Err(ApiError::not_found_segment(path));
    };
    if *first == "EntityDefinitions" && segs.len() == 1 {
        let value: Vec<Value> = st
            .schema
            .entities
            .iter()
            .map(entity_json)
            .filter(|m| entity_matches(m, q))
            .map(|m| Value::Object(select(m, q)))
            .collect();
        return Ok(Reply::json(
            StatusCode::OK,
            &json!({ "@odata.context": ctx("EntityDefinitions"), "value": value }),
        ));
    }
    let name =
        key_of(first, "EntityDefinitions").ok_or_else(|| ApiError::not_found_segment(first))?;
    let def = st.schema.entity(&name).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "0x80040217",
            format!("Could not find entity with LogicalName = '{name}'."),
        )
    })?;
    match segs.get(1..).unwrap_or_default() {
        [] => {
            let mut m = select(entity_json(def), q);
            m.insert("@odata.context".into(), ctx("EntityDefinitions/$entity"));
            Ok(Reply::json(StatusCode::OK, &Value::Object(m)))
        }
        ["Attributes"] => {
            let type_filter = q.iter().find(|(k, _)| k == "$filter").and_then(|(_, f)| {
                f.split("AttributeTypeCode'")
                    .nth(1)
                    .map(|r| r.trim_end_matches(['\'', ')', ' ']).to_owned())
            });
            let value: Vec<Value> = def
                .attributes
                .iter()
                .filter(|a| {
                    type_filter
                        .as_deref()
                        .is_none_or(|t| a.kind.attribute_type() == t)
                })
                .map(|a| Value::Object(select(attr_json(def, a), q)))
                .collect();
            Ok(Reply::json(
                StatusCode::OK,
                &json!({ "@odata.context": ctx(&format!("EntityDefinitions('{name}')/Attributes")), "value": value }),
            ))
        }
        ["Attributes", cast] => {
            let kind = cast_kind(cast).ok_or_else(|| ApiError::not_found_segment(cast))?;
            let expand = q
                .iter()
                .find(|(k, _)| k == "$expand")
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            let value: Vec<Value> = def
                .attributes
                .iter()
                .filter(|a| a.kind == kind)
                .map(|a| {
                    let mut m = select(attr_json(def, a), q);
                    if expand.contains("OptionSet") {
                        let set = option_set(a);
                        if expand.split(',').any(|e| e.trim() == "OptionSet") {
                            m.insert("OptionSet".into(), set.clone());
                        }
                        if expand.contains("GlobalOptionSet") {
                            m.insert(
                                "GlobalOptionSet".into(),
                                if a.global_option_set.is_some() {
                                    set
                                } else {
                                    Value::Null
                                },
                            );
                        }
                    }
                    Value::Object(m)
                })
                .collect();
            Ok(Reply::json(
                StatusCode::OK,
                &json!({ "@odata.context": ctx(&format!("EntityDefinitions('{name}')/Attributes/{cast}")), "value": value }),
            ))
        }
        [attr_seg, rest @ ..] => {
            let attr_name = key_of(attr_seg, "Attributes")
                .ok_or_else(|| ApiError::not_found_segment(attr_seg))?;
            let a = def
                .attr(&attr_name)
                .ok_or_else(|| ApiError::no_attribute(def.logical_name, &attr_name))?;
            match rest {
                [] => Ok(Reply::json(
                    StatusCode::OK,
                    &Value::Object(select(attr_json(def, a), q)),
                )),
                [cast] if cast_kind(cast) == Some(a.kind) => Ok(Reply::json(
                    StatusCode::OK,
                    &Value::Object(select(attr_json(def, a), q)),
                )),
                [cast, "OptionSet" | "GlobalOptionSet"] if cast_kind(cast) == Some(a.kind) => {
                    Ok(Reply::json(StatusCode::OK, &option_set(a)))
                }
                _ => Err(ApiError::not_found_segment(path)),
            }
        }
    }
}

//! Rows as Web API JSON: lookups as `_x_value`, nulls omitted (FetchXML) or `null` (OData),
//! and, when the `Prefer` header asks, formatted-value and lookup annotations.

use super::guid_order::SqlGuid;
use super::schema::{AttrDef, EntityDef};
use super::store::State;
use super::values::{FieldValue, formatted, to_json};
use serde_json::{Map, Value};

pub const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";
pub const LOOKUP_LOGICAL: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
pub const MORE_RECORDS: &str = "Microsoft.Dynamics.CRM.morerecords";
pub const PAGING_COOKIE: &str = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie";

/// The preferences of a `Prefer` header (or several joined by commas), split on commas
/// outside double quotes: `odata.include-annotations="a,b",odata.maxpagesize=10`.
pub fn preferences(prefer: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in prefer.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                cur.push(ch);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Which annotations the client asked for with `Prefer: odata.include-annotations="..."`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Annotations {
    pub formatted: bool,
    pub lookup: bool,
    pub paging: bool,
}

impl Annotations {
    /// Reads every `odata.include-annotations` preference of a `Prefer` header.
    pub fn from_prefer(prefer: &str) -> Self {
        let mut out = Annotations::default();
        for pref in preferences(prefer) {
            let Some(list) = pref.strip_prefix("odata.include-annotations=") else {
                continue;
            };
            for name in list.trim_matches('"').split(',').map(str::trim) {
                let any = name == "*";
                out.formatted |= any || name == FORMATTED || name == "OData.Community.Display.V1.*";
                out.lookup |=
                    any || name == LOOKUP_LOGICAL || name.starts_with("Microsoft.Dynamics.CRM.*");
                out.paging |= any
                    || name == MORE_RECORDS
                    || name == PAGING_COOKIE
                    || name.starts_with("Microsoft.Dynamics.CRM.*");
            }
        }
        out
    }
}

/// The Web API property name of a column (`_parentcustomerid_value` for lookups).
pub fn property_name(attr: &AttrDef) -> String {
    if attr.kind.is_lookup() {
        format!("_{}_value", attr.name)
    } else {
        attr.name.to_owned()
    }
}

/// The primary name of the row a lookup points at.
fn lookup_name(state: &State, entity: &str, id: uuid::Uuid) -> Option<String> {
    let def = state.schema.entity(entity)?;
    let row = state.tables.get(entity)?.get(&SqlGuid::new(id))?;
    match row.fields.get(def.primary_name) {
        Some(FieldValue::Text(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Writes one column (value and annotations) into `out`, with `prefix` for linked tables.
pub fn put(
    state: &State,
    out: &mut Map<String, Value>,
    attr: &AttrDef,
    value: Option<&FieldValue>,
    prefix: &str,
    ann: Annotations,
    include_null: bool,
) {
    let name = format!("{prefix}{}", property_name(attr));
    let Some(v) = value else {
        if include_null {
            out.insert(name, Value::Null);
        }
        return;
    };
    if ann.formatted {
        let text = match v {
            FieldValue::Lookup { entity, id } => lookup_name(state, entity, *id),
            other => formatted(attr, other),
        };
        if let Some(text) = text {
            out.insert(format!("{name}@{FORMATTED}"), Value::String(text));
        }
    }
    if let FieldValue::Lookup { entity, .. } = v
        && (ann.lookup || ann.formatted)
    {
        out.insert(
            format!("{name}@{LOOKUP_LOGICAL}"),
            Value::String(entity.clone()),
        );
        if ann.lookup {
            let nav = if attr.kind == super::schema::AttrKind::Customer {
                format!("{}_{entity}", attr.name)
            } else {
                attr.name.to_owned()
            };
            out.insert(
                format!("{name}@Microsoft.Dynamics.CRM.associatednavigationproperty"),
                Value::String(nav),
            );
        }
    }
    out.insert(name, to_json(attr.kind, v));
}

/// The `@odata.etag` of a row version.
pub fn etag(version: u64) -> Value {
    Value::String(format!("W/\"{version}\""))
}

/// Renders the chosen columns of a row (all when `columns` is `None`).
pub fn row_json(
    state: &State,
    def: &EntityDef,
    row: &super::store::Row,
    columns: Option<&[&AttrDef]>,
    ann: Annotations,
    include_null: bool,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("@odata.etag".to_owned(), etag(row.version));
    match columns {
        Some(cols) => {
            for attr in cols {
                put(
                    state,
                    &mut out,
                    attr,
                    row.fields.get(attr.name),
                    "",
                    ann,
                    include_null,
                );
            }
        }
        None => {
            for attr in &def.attributes {
                put(
                    state,
                    &mut out,
                    attr,
                    row.fields.get(attr.name),
                    "",
                    ann,
                    include_null,
                );
            }
        }
    }
    if let Some(pk) = def.attr(def.primary_id)
        && !out.contains_key(def.primary_id)
    {
        put(
            state,
            &mut out,
            pk,
            row.fields.get(def.primary_id),
            "",
            ann,
            false,
        );
    }
    out
}

/// A value as plain text (paging cookies, skip tokens).
pub fn to_plain(kind: super::schema::AttrKind, v: &FieldValue) -> Option<String> {
    match to_json(kind, v) {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if b { "1" } else { "0" }.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_annotation_lists_keep_all_their_names() {
        let prefer = "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.fetchxmlpagingcookie\", odata.maxpagesize=10";
        assert_eq!(preferences(prefer).len(), 2);
        let ann = Annotations::from_prefer(prefer);
        assert!(ann.formatted && ann.paging && !ann.lookup);
        assert_eq!(
            Annotations::from_prefer("odata.maxpagesize=10"),
            Annotations::default()
        );
    }
}

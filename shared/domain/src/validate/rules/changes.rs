//! The rules that depend on what a run can see change: `removals` only where a run sees a
//! record or member leave, and one partition for a change-tracking read.

use crate::definition::{Definition, FetchMode, ListMode, Method, Removals};
use crate::validate::checks::{Rules, STANDARD_ATTRIBUTE_KEYS};

/// `removals` other than `ignore` (ARCHITECTURE.md section 9): only where a run can see a
/// record leave, with an identifier a removed record still has (its primary id), and the
/// attribute form with a key as `attributes` take and a scalar value.
pub(super) fn removals(r: &mut Rules, d: &Definition) {
    let setting = match d.removals() {
        Removals::Ignore => return,
        Removals::DeleteProfile => "delete_profile",
        Removals::SetAttribute { .. } => "{ attribute, value }",
    };
    let (seen, record) = match d.method {
        Method::Entity => (d.source.fetch_mode() == FetchMode::Changes, "record"),
        Method::MarketingList => (d.source.list_mode() == ListMode::Changes, "member"),
    };
    if !seen {
        let message = match d.method {
            Method::Entity => format!(
                "with fetch_mode: {} a run cannot see records deleted in Dynamics; removals apply only with source.fetch_mode: changes (method: entity) or source.list_mode: changes (method: marketing_list); set one of them or remove removals",
                serde_name(&d.source.fetch_mode())
            ),
            Method::MarketingList => "with list_mode: full a run cannot see members who left the list; removals apply only with source.list_mode: changes (method: marketing_list) or source.fetch_mode: changes (method: entity); set list_mode: changes or remove removals".to_owned(),
        };
        r.add("removals", message);
    }
    let ids = d.primary_id_fields();
    if let (Some(first), None) = (ids.first(), d.removal_identifier()) {
        let others = match d.method {
            Method::Entity => "",
            Method::MarketingList => "; leadid or accountid for lists of leads or accounts",
        };
        let selected = match d.method {
            Method::Entity => first.as_str(),
            Method::MarketingList => "that field",
        };
        r.add(
            "removals",
            format!(
                "a removed {record} arrives with only its primary id, so {setting} needs an identifier taken from it; add - {{ type: uuid, field: {first} }} to identifiers (or a custom identifier on {first}{others}), with {selected} in source.fields"
            ),
        );
    }
    if let Removals::SetAttribute { attribute, value } = d.removals() {
        r.key(
            "removals.attribute",
            attribute,
            Some(STANDARD_ATTRIBUTE_KEYS),
        );
        if !(value.is_string() || value.is_number() || value.is_boolean()) {
            r.add(
                "removals.value",
                "write the value to set on a removed user: a string, number or boolean, e.g. value: true",
            );
        }
    }
}

/// A change-tracking read is one chain of Dataverse links, so it has one partition: more
/// are refused rather than silently ignored.
pub(super) fn changes_partitions(r: &mut Rules, d: &Definition) {
    if d.method == Method::Entity
        && d.source.fetch_mode() == FetchMode::Changes
        && d.dynamics.partitions > 1
    {
        r.add(
            "dynamics.partitions",
            format!(
                "with fetch_mode: changes a run reads one chain of change-tracking links, which cannot be split; remove partitions (or set partitions: 1), not {}",
                d.dynamics.partitions
            ),
        );
    }
}

/// A unit enum value as the definition spells it (`new_and_updated`).
fn serde_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

//! Change tracking (`Prefer: odata.track-changes`): a `$deltatoken` holds the change-log
//! version it was issued at; a delta request returns rows written since then, followed by
//! `$deletedEntity` entries for rows deleted since then, and a new `@odata.deltaLink`.

use super::errors::ApiError;
use super::schema::EntityDef;
use super::store::{Row, State};
use super::web_api::Reply;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// A delta token: the change-log version, then the time, as Dataverse shapes it
/// (`919042!08/22/2017 08:10:44`).
pub fn delta_token(st: &State) -> String {
    delta_token_at(st, st.version)
}

/// A delta token for changes after `version`.
pub fn delta_token_at(st: &State, version: u64) -> String {
    format!("{version}!{}", st.clock().format("%m/%d/%Y %H:%M:%S"))
}

/// Serves a delta request.
pub fn delta(
    st: &State,
    web: &str,
    set: &str,
    def: &EntityDef,
    token: &str,
    q: &[(String, String)],
    render_row: &dyn Fn(&Row) -> Value,
) -> Result<Reply, ApiError> {
    let ctx = format!("{web}/$metadata#{set}");
    let since = token
        .split('!')
        .next()
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::bad_query(format!(
                "The $deltatoken '{token}' is not valid; start a new change-tracking sync."
            ))
        })?;
    let mut value: Vec<Value> = st
        .rows(def.logical_name)
        .filter(|r| r.version > since)
        .map(render_row)
        .collect();
    for d in st
        .deletions
        .iter()
        .filter(|d| d.entity == def.logical_name && d.version > since)
    {
        value.push(json!({ "@odata.context": format!("{ctx}/$deletedEntity"), "id": d.id.to_string(), "reason": "deleted" }));
    }
    let next = super::odata::link(web, set, q, ("$deltatoken", &delta_token(st)));
    let body = json!({ "@odata.context": format!("{ctx}/$delta"), "value": value, "@odata.deltaLink": next });
    let mut r = Reply::json(StatusCode::OK, &body);
    r.headers
        .push(("Preference-Applied".into(), "odata.track-changes".into()));
    Ok(r)
}

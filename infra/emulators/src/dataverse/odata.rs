//! OData queries on entity sets (`$select`, `$filter`, `$orderby`, `$top`, paging with
//! `@odata.nextLink`) and change tracking (`odata.track-changes`, `$deltatoken`).

use super::errors::ApiError;
use super::render::Annotations;
use super::store::State;
use super::web_api::Reply;

pub fn query(_st: &State, _web: &str, set: &str, _q: &[(String, String)], _pref: &str, _ann: Annotations) -> Result<Reply, ApiError> {
    Err(ApiError::bad_query(format!("OData queries on '{set}' are not available yet.")))
}

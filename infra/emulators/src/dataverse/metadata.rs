//! `EntityDefinitions` metadata: the table list, a table's columns, and option sets through
//! the derived-type casts (`Microsoft.Dynamics.CRM.PicklistAttributeMetadata`, ...).

use super::errors::ApiError;
use super::store::State;
use super::web_api::Reply;

pub fn handle(_st: &State, _web: &str, path: &str, _q: &[(String, String)]) -> Result<Reply, ApiError> {
    Err(ApiError::not_found_segment(path))
}

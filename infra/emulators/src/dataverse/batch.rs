//! `$batch`: multipart/mixed requests with inner GETs, answered as multipart/mixed.

use super::errors::ApiError;
use super::server::Shared;
use super::web_api::Reply;

pub fn run(_shared: &Shared, _content_type: &str, _body: &[u8]) -> Result<Reply, ApiError> {
    Err(ApiError::bad_query("$batch is not available yet."))
}

//! `$batch`: a multipart/mixed POST of inner GET requests (how clients send FetchXML URLs
//! longer than 32 KB; inner URLs may be up to 64 KB), answered as multipart/mixed with one
//! `application/http` part per inner response, in order.

use super::errors::ApiError;
use super::server::Shared;
use super::web_api::{Reply, dispatch};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use std::fmt::Write as _;

/// Longest inner request URL.
pub const MAX_INNER_URL: usize = 65_536;
/// Most requests in one batch.
pub const MAX_REQUESTS: usize = 1000;

fn boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim_matches('"').to_owned())
    })
}

/// Runs every inner GET and builds the multipart reply.
pub fn run(shared: &Shared, content_type: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let b = boundary(content_type).ok_or_else(|| {
        ApiError::bad_query(
            "A $batch request needs Content-Type: multipart/mixed; boundary=<boundary>.",
        )
    })?;
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    let delimiter = format!("--{b}");
    let parts: Vec<&str> = text
        .split(delimiter.as_str())
        .skip(1)
        .take_while(|p| !p.starts_with("--"))
        .collect();
    if parts.len() > MAX_REQUESTS {
        return Err(ApiError::bad_query(format!(
            "A $batch may hold at most {MAX_REQUESTS} requests, got {}.",
            parts.len()
        )));
    }
    let out_boundary = format!("batchresponse_{}", uuid::Uuid::new_v4());
    let mut out = String::new();
    for part in parts {
        let reply = inner(shared, part).unwrap_or_else(|e| Reply::error(&e));
        let _ = write!(
            out,
            "--{out_boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 {} {}\r\nContent-Type: {}\r\nOData-Version: 4.0\r\n",
            reply.status.as_u16(),
            reply.status.canonical_reason().unwrap_or(""),
            reply.content_type
        );
        for (k, v) in &reply.headers {
            let _ = write!(out, "{k}: {v}\r\n");
        }
        let _ = write!(out, "\r\n{}\r\n", reply.body);
    }
    let _ = write!(out, "--{out_boundary}--\r\n");
    Ok(Reply {
        status: StatusCode::OK,
        content_type: format!("multipart/mixed; boundary={out_boundary}"),
        headers: Vec::new(),
        body: out,
    })
}

fn inner(shared: &Shared, part: &str) -> Result<Reply, ApiError> {
    // Part headers, blank line, then the HTTP request (request line, headers, blank, body).
    let (part_headers, request) = part
        .trim_start_matches('\n')
        .split_once("\n\n")
        .unwrap_or((part, ""));
    if part_headers
        .to_ascii_lowercase()
        .contains("multipart/mixed")
    {
        return Err(ApiError::bad_query(
            "Change sets are not supported by this emulator (the connector only reads).",
        ));
    }
    let mut lines = request.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split_whitespace();
    let (Some(method), Some(url)) = (words.next(), words.next()) else {
        return Err(ApiError::bad_query(format!(
            "Malformed request line in $batch part: '{request_line}'."
        )));
    };
    if method != "GET" {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "0x80060888",
            "The emulator's $batch runs GET requests only.",
        ));
    }
    if url.len() > MAX_INNER_URL {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "0x8006088c",
            format!(
                "The request URL in $batch is {} characters long; the limit is {MAX_INNER_URL}.",
                url.len()
            ),
        ));
    }
    let mut headers = HeaderMap::new();
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.trim().as_bytes()),
                HeaderValue::from_str(v.trim()),
            )
        {
            headers.append(k, v);
        }
    }
    let after_host = match url.find("://") {
        Some(i) => url
            .get(i + 3..)
            .and_then(|r| r.find('/').and_then(|j| r.get(j..)))
            .unwrap_or("/"),
        None => url,
    };
    let rel = after_host
        .strip_prefix("/api/data/v9.2/")
        .or_else(|| after_host.strip_prefix("api/data/v9.2/"))
        .unwrap_or(after_host);
    let (path, query) = match rel.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rel, None),
    };
    if path == "$batch" {
        return Err(ApiError::bad_query(
            "Nested $batch requests are not allowed.",
        ));
    }
    Ok(dispatch(shared, &Method::GET, path, query, &headers, &[]))
}

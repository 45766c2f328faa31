//! One HTTP attempt and the retry loop around it. Every request carries the definition's
//! `request_timeout_ms`; transient failures (timeouts, connection errors, 429, 5xx, a reply
//! cut short or malformed) are retried up to `retries` times with
//! [`RetryPolicy`] (exponential backoff with jitter, never sooner than `Retry-After`, never
//! longer than `MAX_WAIT`); a wait that would outlive the invocation's deadline is not
//! started (`fits_before_deadline`): the call ends with a transient error and the page is
//! handed back.
//!
//! Throttled replies (429, or a Dataverse service-protection error) travel in the reply:
//! each is a [`Failure`] marked `throttled`, and [`Transport::retry_counted`] returns how
//! many it waited out with the value, so the caller that counts them (the Dataverse client,
//! not the Entra ID token calls) sums them into its page. [`Transport::send_hinted`] also
//! reads `x-ms-dop-hint` for the client's parallelism gate (`parallelism.rs`).

use std::future::Future;
use std::time::Duration;

use dynsync_domain::retry::{RetryPolicy, fits_before_deadline, retry_after_secs};
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::DynamicsError;

/// A reply read to the end.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A failed attempt: the error, the server's `Retry-After` if it sent one, and whether
/// the server throttled the request (429 or a service-protection error, also inside a
/// `$batch` reply).
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: DynamicsError,
    pub retry_after: Option<Duration>,
    pub throttled: bool,
}

impl From<DynamicsError> for Failure {
    fn from(error: DynamicsError) -> Self {
        Self {
            error,
            retry_after: None,
            throttled: false,
        }
    }
}

impl Failure {
    /// A throttled reply.
    pub(crate) fn throttled(error: DynamicsError, retry_after: Option<Duration>) -> Self {
        Self {
            error,
            retry_after,
            throttled: true,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub http: reqwest::Client,
    pub timeout: Duration,
    pub policy: RetryPolicy,
}

impl Transport {
    pub fn new(timeout_ms: u64, retries: u32) -> Result<Self, DynamicsError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("dynsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DynamicsError::Config {
                problem: format!("cannot build the HTTP client ({e})"),
            })?;
        Ok(Self {
            http,
            timeout: Duration::from_millis(timeout_ms),
            policy: RetryPolicy::new(retries),
        })
    }

    /// Runs `attempt` (given the 1-based attempt number) until it succeeds, fails
    /// permanently, or the retries are used up.
    pub async fn retry<T, F, Fut>(
        &self,
        operation: &'static str,
        attempt: F,
    ) -> Result<T, DynamicsError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        Ok(self.retry_counted(operation, attempt).await?.0)
    }

    /// [`Transport::retry`], with the number of throttled replies waited out on the way
    /// to the value.
    pub async fn retry_counted<T, F, Fut>(
        &self,
        operation: &'static str,
        mut attempt: F,
    ) -> Result<(T, u32), DynamicsError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut number = 1u32;
        let mut throttles = 0u32;
        loop {
            match attempt(number).await {
                Ok(value) => return Ok((value, throttles)),
                Err(failure) => {
                    throttles = throttles.saturating_add(u32::from(failure.throttled));
                    if !failure.error.kind().is_transient() || number > self.policy.retries {
                        return Err(failure.error);
                    }
                    let delay =
                        self.policy
                            .delay(number, failure.retry_after, rand::random::<f64>());
                    let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                    if !fits_before_deadline(delay) {
                        tracing::warn!(
                            operation,
                            attempt = number,
                            delay_ms,
                            error = %failure.error,
                            "transient failure not retried: the wait would outlive the invocation"
                        );
                        return Err(DynamicsError::WouldOutliveInvocation {
                            wait_secs: delay.as_secs() + u64::from(delay.subsec_nanos() > 0),
                            last: Box::new(failure.error),
                        });
                    }
                    tracing::warn!(
                        operation,
                        attempt = number,
                        delay_ms,
                        error = %failure.error,
                        "transient failure, retrying"
                    );
                    tokio::time::sleep(delay).await;
                    number += 1;
                }
            }
        }
    }

    /// Sends one request with the timeout and reads the whole reply. Timeouts, connection
    /// errors, 429 and 5xx become transient failures; other statuses are returned.
    pub async fn send(
        &self,
        service: &'static str,
        request: reqwest::RequestBuilder,
        attempt: u32,
    ) -> Result<Reply, Failure> {
        self.send_hinted(service, request, attempt, &mut None).await
    }

    /// [`Transport::send`], also reading the reply's `x-ms-dop-hint` into `hint` (left
    /// `None` when there is no reply or no valid header), whatever the status.
    pub async fn send_hinted(
        &self,
        service: &'static str,
        request: reqwest::RequestBuilder,
        attempt: u32,
        hint: &mut Option<u32>,
    ) -> Result<Reply, Failure> {
        let response = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.send_error(service, &e, attempt))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        *hint = dop_hint(response.headers());
        let body = Vec::from(
            response
                .bytes()
                .await
                .map_err(|e| self.send_error(service, &e, attempt))?,
        );
        if status == 429 || (status >= 400 && is_service_protection(&body)) {
            let (code, _) = dataverse_error(&body);
            let error = DynamicsError::Throttled {
                service,
                code,
                attempts: attempt,
            };
            return Err(Failure::throttled(error, retry_after));
        }
        if status >= 500 {
            let (code, message) = dataverse_error(&body);
            let message = if message.is_empty() { code } else { message };
            return Err(Failure {
                error: DynamicsError::Server {
                    service,
                    status,
                    message,
                    attempts: attempt,
                },
                retry_after,
                throttled: false,
            });
        }
        Ok(Reply { status, body })
    }

    fn send_error(&self, service: &'static str, e: &reqwest::Error, attempt: u32) -> Failure {
        let error = if e.is_timeout() {
            DynamicsError::Timeout {
                service,
                timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                attempts: attempt,
            }
        } else {
            // reqwest's message names the URL's host, never headers or bodies.
            DynamicsError::Connection {
                service,
                detail: without_url(e),
                attempts: attempt,
            }
        };
        Failure::from(error)
    }
}

/// The error text without the URL (which may hold a long FetchXML query).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text
            .replace(&format!(" ({url})"), "")
            .replace(url.as_str(), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Dataverse's service protection limits (API-FACTS.md 2.7): requests, execution time and
/// concurrent requests. They are throttling whatever status carries them.
const SERVICE_PROTECTION: [&str; 3] = ["0x80072322", "0x80072321", "0x80072326"];

fn is_service_protection(body: &[u8]) -> bool {
    let (code, _) = dataverse_error(body);
    SERVICE_PROTECTION.contains(&code.to_ascii_lowercase().as_str())
}

/// `Retry-After` in seconds (the form Dataverse and Entra use), at most `MAX_WAIT`.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_secs(headers.get(RETRY_AFTER)?.to_str().ok()?)
}

/// `x-ms-dop-hint`: Dataverse's recommended degree of parallelism, a positive integer
/// (`None` when absent, not a number, or 0).
pub(crate) fn dop_hint(headers: &HeaderMap) -> Option<u32> {
    headers
        .get("x-ms-dop-hint")?
        .to_str()
        .ok()?
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
}

/// `{"error":{"code":"0x...","message":"..."}}` -> (code, message); empty when absent.
pub(crate) fn dataverse_error(body: &[u8]) -> (String, String) {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_slice::<Envelope>(body) {
        Ok(e) => (e.error.code, e.error.message),
        Err(_) => (
            String::new(),
            String::from_utf8_lossy(body).chars().take(300).collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn service_protection_codes_are_recognised_in_any_case() {
        assert!(is_service_protection(br#"{"error":{"code":"0x80072326","message":"Number of concurrent requests exceeded the limit of 52."}}"#));
        assert!(is_service_protection(
            br#"{"error":{"code":"0X80072321","message":""}}"#
        ));
        assert!(!is_service_protection(
            br#"{"error":{"code":"0x80041103","message":""}}"#
        ));
    }

    #[test]
    fn the_dop_hint_is_a_positive_integer_or_ignored() {
        let mut headers = HeaderMap::new();
        assert_eq!(dop_hint(&headers), None);
        for (value, hint) in [
            ("8", Some(8)),
            (" 2 ", Some(2)),
            ("0", None),
            ("-1", None),
            ("many", None),
            ("1.5", None),
            ("99999999999", None),
        ] {
            headers.insert("x-ms-dop-hint", HeaderValue::from_static(value));
            assert_eq!(dop_hint(&headers), hint, "{value}");
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn a_huge_retry_after_is_capped_and_never_panics() {
        let mut headers = HeaderMap::new();
        for value in ["86400", "1e308", "18446744073709551615"] {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
            assert_eq!(
                retry_after(&headers),
                Some(dynsync_domain::retry::MAX_WAIT),
                "{value}"
            );
        }
        for value in ["NaN", "inf", "-1"] {
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
            assert_eq!(retry_after(&headers), None, "{value}");
        }
    }

    #[test]
    fn dataverse_error_bodies_are_read_and_others_quoted() {
        let (code, message) = dataverse_error(
            br#"{"error":{"code":"0x80072322","message":"Number of requests exceeded"}}"#,
        );
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("0x80072322", "Number of requests exceeded")
        );
        assert_eq!(dataverse_error(b"Bad Gateway").1, "Bad Gateway");
    }
}

//! Sending one request: a POST retried with the shared `RetryPolicy` on 429, 5xx,
//! timeouts and connection errors, never sooner than `Retry-After` and never past the
//! invocation's deadline.

use std::time::Duration;

use dynsync_domain::retry::{fits_before_deadline, retry_after_secs};
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::InsiderClient;
use crate::error::InsiderError;
use crate::reply::error_message;

impl InsiderClient {
    /// POSTs `body` to `url` with `token`, retrying transient failures; returns the first
    /// non-transient reply.
    pub(super) async fn post(
        &self,
        url: &Url,
        body: Vec<u8>,
        token: &HeaderValue,
    ) -> Result<(StatusCode, Vec<u8>), InsiderError> {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let last = attempt > self.policy.retries;
            let result = self
                .http
                .post(url.clone())
                .header("x-request-token", token.clone())
                .body(body.clone())
                .send()
                .await;
            let (retry_after, error) = match result {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(response.headers());
                    let reply = match response.bytes().await {
                        Ok(bytes) => bytes.to_vec(),
                        Err(source) => {
                            let error = InsiderError::Transport {
                                attempts: attempt,
                                what: "reading the reply",
                                source,
                            };
                            if last {
                                return Err(error);
                            }
                            self.pause(attempt, None, error).await?;
                            continue;
                        }
                    };
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        (retry_after, InsiderError::Throttled { attempts: attempt })
                    } else if status.is_server_error() {
                        let message = error_message(&reply);
                        (
                            retry_after,
                            InsiderError::Server {
                                status: status.as_u16(),
                                attempts: attempt,
                                message,
                            },
                        )
                    } else {
                        return Ok((status, reply));
                    }
                }
                Err(source) => {
                    let what = if source.is_timeout() {
                        "timed out"
                    } else if source.is_connect() {
                        "could not connect"
                    } else {
                        "sending the request"
                    };
                    (
                        None,
                        InsiderError::Transport {
                            attempts: attempt,
                            what,
                            source,
                        },
                    )
                }
            };
            if last {
                return Err(error);
            }
            self.pause(attempt, retry_after, error).await?;
        }
    }

    /// Waits before retrying after `error`, or returns it (wrapped) when the wait would
    /// outlive the invocation.
    async fn pause(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        error: InsiderError,
    ) -> Result<(), InsiderError> {
        let delay = self
            .policy
            .delay(attempt, retry_after, rand::random::<f64>());
        let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        if !fits_before_deadline(delay) {
            tracing::warn!(attempt, delay_ms, error = %error, "insider request failed; not retried: the wait would outlive the invocation");
            return Err(InsiderError::WouldOutliveInvocation {
                wait_secs: delay.as_secs() + u64::from(delay.subsec_nanos() > 0),
                last: Box::new(error),
            });
        }
        tracing::warn!(attempt, delay_ms, error = %error, "insider request failed, retrying");
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// `Retry-After` in seconds (the form Insider uses), at most `MAX_WAIT`; HTTP dates are
/// ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_secs(headers.get(RETRY_AFTER)?.to_str().ok()?)
}

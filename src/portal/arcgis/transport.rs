//! One logical request to the sharing REST API, with retries: build the URL
//! and form, send, read the JSON body whatever the HTTP status, classify the
//! answer (fact sheet §1), and retry transient trouble with full-jitter
//! exponential backoff inside the caller's deadline.
//!
//! This module knows nothing about tokens beyond attaching one it is given,
//! and nothing about what an endpoint means. It never puts a token or a form
//! value into a log line or an error message.

use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use rand::Rng;
use serde_json::Value;
use tokio::time::Instant;
use tracing::debug;
use url::Url;

use crate::portal::PortalError;
use crate::portal::wire::ErrorObject;

/// The header the token travels in (fact sheet §0): never the URL.
const AUTH_HEADER: HeaderName = HeaderName::from_static("x-esri-authorization");

/// HTTP verb of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// Parameters go in the query string.
    Get,
    /// Parameters go in a form-encoded body.
    Post,
}

/// What to send: a path under the sharing root (or under a configured
/// service URL) and its parameters (`f=json` is added here). Deliberately
/// not `Debug`: generateToken's parameters hold the password.
pub(crate) struct Call {
    /// GET or POST.
    pub method: Method,
    /// Another root than the sharing root: a hosted feature layer of the
    /// configuration (never a URL from a payload: the token goes there).
    pub base: Option<Url>,
    /// Path segments under the root, each percent-encoded on its own.
    pub segments: Vec<String>,
    /// Query (GET) or form (POST) parameters.
    pub params: Vec<(&'static str, String)>,
    /// Send the token as the `token` form field instead of the header: an
    /// Enterprise portal's admin API wants it in the POST body (fact sheet
    /// §3). Only for POSTs, so a token never goes into a URL.
    pub token_in_body: bool,
}

impl Call {
    /// A GET of `segments` with `params` in the query string.
    pub fn get(segments: &[&str], params: Vec<(&'static str, String)>) -> Self {
        Call {
            method: Method::Get,
            base: None,
            segments: segments.iter().map(|s| s.to_string()).collect(),
            params,
            token_in_body: false,
        }
    }

    /// A form POST to `segments`.
    pub fn post(segments: &[&str], params: Vec<(&'static str, String)>) -> Self {
        Call {
            method: Method::Post,
            base: None,
            segments: segments.iter().map(|s| s.to_string()).collect(),
            params,
            token_in_body: false,
        }
    }

    /// A GET of `segments` under `base` instead of the sharing root (a
    /// feature layer's `query`).
    pub fn get_at(base: Url, segments: &[&str], params: Vec<(&'static str, String)>) -> Self {
        Call {
            base: Some(base),
            ..Call::get(segments, params)
        }
    }

    /// A form POST of `segments` under `base` with the token in the body:
    /// an Enterprise portal's admin API (`…/portaladmin`).
    pub fn admin_post(base: Url, segments: &[&str], params: Vec<(&'static str, String)>) -> Self {
        Call {
            base: Some(base),
            token_in_body: true,
            ..Call::post(segments, params)
        }
    }

    /// The path for logs and messages, e.g. `community/users/jdoe`, or for
    /// a call under another root, its host and path
    /// (`services9.arcgis.com/…/FeatureServer/0/query`).
    pub fn path(&self) -> String {
        match &self.base {
            None => self.segments.join("/"),
            Some(base) => {
                let mut parts = vec![format!(
                    "{}{}",
                    base.host_str().unwrap_or_default(),
                    base.path().trim_end_matches('/')
                )];
                parts.extend(self.segments.iter().cloned());
                parts.join("/")
            }
        }
    }
}

/// Why a call failed, as the token layer needs to know it.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The portal answered 498/499: the token was refused. Carries
    /// "code message" for the final error.
    TokenRefused(String),
    /// Anything else, already classified.
    Portal(PortalError),
}

/// Retry and timeout settings of the transport.
#[derive(Clone, Debug)]
pub(crate) struct RetryPolicy {
    /// Upper bound for one attempt.
    pub request_timeout: Duration,
    /// Attempts per call (at least one).
    pub max_attempts: u32,
    /// First backoff ceiling; doubles per attempt.
    pub base_backoff: Duration,
    /// Largest backoff ceiling.
    pub max_backoff: Duration,
}

/// The HTTP side of the client: one reused `reqwest::Client`.
#[derive(Debug)]
pub(crate) struct Transport {
    client: reqwest::Client,
    root: Url,
    referer: HeaderValue,
    policy: RetryPolicy,
}

/// The classified result of one attempt.
enum Attempt {
    /// A JSON answer without an error.
    Done(Value),
    /// 498/499.
    TokenRefused(String),
    /// Worth another attempt: what happened, the server's `Retry-After`,
    /// and whether the request went out without a whole answer coming back
    /// (a timeout, a connection lost mid-exchange): the portal may have
    /// carried it out.
    Retry {
        what: String,
        retry_after: Option<Duration>,
        unanswered: bool,
    },
    /// Permanent.
    Fail(PortalError),
}

impl Transport {
    /// Wraps a built client. `root` is the sharing root (no trailing slash
    /// needed); `referer` goes on every request.
    pub fn new(
        client: reqwest::Client,
        root: Url,
        referer: HeaderValue,
        policy: RetryPolicy,
    ) -> Self {
        Transport {
            client,
            root,
            referer,
            policy,
        }
    }

    /// Sends `call` (with `token` in the auth header when given) until it
    /// succeeds, fails permanently, runs out of attempts or reaches
    /// `deadline`.
    pub async fn send(
        &self,
        call: &Call,
        token: Option<&str>,
        deadline: Instant,
        budget: Duration,
    ) -> Result<Value, CallError> {
        let path = call.path();
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempt: u32 = 0;
        let mut last = String::from("no attempt made");
        // Whether a write went out and no whole answer came back: then the
        // portal may have carried it out, whatever the later attempts said.
        let mut maybe_done = false;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            // Why: an attempt with no time left cannot succeed; report the
            // deadline rather than a meaningless zero-length timeout.
            if remaining.is_zero() {
                return Err(CallError::Portal(unavailable(
                    maybe_done,
                    deadline_exceeded(&path, budget, attempt - 1, &last),
                )));
            }
            let per_attempt = self.policy.request_timeout.min(remaining);
            let outcome = match tokio::time::timeout(per_attempt, self.attempt(call, token)).await {
                Ok(outcome) => outcome,
                Err(_) => Attempt::Retry {
                    what: format!("no answer within {}", fmt_duration(per_attempt)),
                    retry_after: None,
                    unanswered: true,
                },
            };
            let (what, retry_after) = match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::TokenRefused(why) => return Err(CallError::TokenRefused(why)),
                Attempt::Fail(e) => return Err(CallError::Portal(e)),
                Attempt::Retry {
                    what,
                    retry_after,
                    unanswered,
                } => {
                    maybe_done |= unanswered && call.method == Method::Post;
                    (what, retry_after)
                }
            };
            if attempt >= max_attempts {
                return Err(CallError::Portal(unavailable(
                    maybe_done,
                    format!(
                        "{path}: {what} after {attempt} {}",
                        plural(attempt, "attempt")
                    ),
                )));
            }
            let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
            let remaining = deadline.saturating_duration_since(Instant::now());
            // Why: waiting past the deadline only delays the same answer;
            // give up now (this also caps a long `Retry-After`).
            if wait >= remaining {
                return Err(CallError::Portal(unavailable(
                    maybe_done,
                    deadline_exceeded(&path, budget, attempt, &what),
                )));
            }
            debug!(
                path = %path,
                attempt,
                reason = %what,
                wait_ms = wait.as_millis() as u64,
                "portal call failed; retrying"
            );
            last = what;
            tokio::time::sleep(wait).await;
        }
    }

    /// Full jitter: uniform in `0..=min(max, base * 2^(attempt-1))`.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .policy
            .base_backoff
            .saturating_mul(1u32 << exp)
            .min(self.policy.max_backoff);
        let ceiling_ms = ceiling.as_millis().min(u64::MAX as u128) as u64;
        Duration::from_millis(rand::rng().random_range(0..=ceiling_ms))
    }

    /// One request and the classification of its answer.
    async fn attempt(&self, call: &Call, token: Option<&str>) -> Attempt {
        let mut url = call.base.as_ref().unwrap_or(&self.root).clone();
        match url.path_segments_mut() {
            Ok(mut segs) => {
                segs.pop_if_empty().extend(call.segments.iter());
            }
            Err(()) => {
                return Attempt::Fail(PortalError::Protocol(
                    "the portal base URL cannot take a path".into(),
                ));
            }
        }
        let mut params: Vec<(&str, &str)> =
            call.params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        params.push(("f", "json"));
        let body_token = call.token_in_body && call.method == Method::Post;
        if body_token && let Some(token) = token {
            params.push(("token", token));
        }
        let builder = match call.method {
            Method::Get => self.client.get(url).query(&params),
            Method::Post => self.client.post(url).form(&params),
        };
        let mut builder = builder.header(http::header::REFERER, self.referer.clone());
        if let Some(token) = token.filter(|_| !body_token) {
            match HeaderValue::from_str(&format!("Bearer {token}")) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    builder = builder.header(AUTH_HEADER, value);
                }
                Err(_) => {
                    return Attempt::Fail(PortalError::Protocol(
                        "the portal issued a token that cannot be sent in a header".into(),
                    ));
                }
            }
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return transport_failure(&e),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match response.bytes().await {
            Ok(body) => classify(status, retry_after, &body),
            Err(e) => transport_failure(&e),
        }
    }
}

/// Maps a `reqwest` error: request-building errors are permanent, every
/// network problem is worth another attempt.
fn transport_failure(e: &reqwest::Error) -> Attempt {
    if e.is_builder() {
        return Attempt::Fail(PortalError::Protocol(
            "could not build the request to the portal".into(),
        ));
    }
    // Why: only a failed connection is sure to have sent nothing.
    let unanswered = !e.is_connect();
    let what = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        // Deliberately not `e.to_string()`: a fixed text keeps the message
        // short and free of anything the request carried; the caller adds
        // the path.
        "the connection failed during the exchange".to_string()
    };
    Attempt::Retry {
        what,
        retry_after: None,
        unanswered,
    }
}

/// Classifies an answer (fact sheet §1): 429 and 5xx are transient, the JSON
/// body decides otherwise; a body that is not JSON is a protocol error.
fn classify(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> Attempt {
    // Why: a throttled request is always worth repeating, whatever it says.
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Attempt::Retry {
            what: "HTTP 429".into(),
            retry_after,
            unanswered: false,
        };
    }
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(err) = parsed.as_ref().and_then(body_error) {
        return match err.numeric {
            Some(498 | 499) => Attempt::TokenRefused(format!("{} {}", err.code, err.message)),
            // Why: the portal reports its own outages inside HTTP 200 bodies.
            Some(n) if n >= 500 => Attempt::Retry {
                what: format!("portal error {n}"),
                retry_after,
                unanswered: false,
            },
            _ => Attempt::Fail(PortalError::Rejected {
                code: err.code,
                message: err.message,
            }),
        };
    }
    if status.is_server_error() {
        return Attempt::Retry {
            what: format!("HTTP {}", status.as_u16()),
            retry_after,
            unanswered: false,
        };
    }
    let Some(value) = parsed else {
        return Attempt::Fail(PortalError::Protocol(format!(
            "HTTP {} with a body that is not JSON ({} bytes)",
            status.as_u16(),
            body.len()
        )));
    };
    if !status.is_success() {
        return Attempt::Fail(PortalError::Rejected {
            code: status.as_u16().to_string(),
            message: format!("HTTP {} without an error object", status.as_u16()),
        });
    }
    Attempt::Done(value)
}

/// An error found in a JSON body.
struct BodyError {
    /// The numeric code, when there is one (drives classification).
    numeric: Option<i64>,
    /// `messageCode` when present, else the numeric code, else the status.
    code: String,
    /// Message and details.
    message: String,
}

/// Finds an error in a JSON answer: an `error` object, a `status` of
/// `failed`/`error` (admin API style), or a top-level `code >= 400`.
fn body_error(v: &Value) -> Option<BodyError> {
    if let Some(obj) = v.get("error").filter(|e| e.is_object()) {
        let err: ErrorObject = serde_json::from_value(obj.clone()).unwrap_or_default();
        let numeric = err.code.as_ref().and_then(as_i64);
        let code = err
            .message_code
            .filter(|c| !c.is_empty())
            .or_else(|| numeric.map(|n| n.to_string()))
            .or_else(|| err.code.as_ref().and_then(|c| c.as_str().map(String::from)))
            .unwrap_or_else(|| "unknown".into());
        let mut message = err.message.unwrap_or_default();
        let details: Vec<String> = err
            .details
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.as_str().map(str::trim).filter(|d| !d.is_empty()))
            .map(String::from)
            .collect();
        if !details.is_empty() {
            message = format!("{message} ({})", details.join("; "));
        }
        return Some(BodyError {
            numeric,
            code,
            message: message.trim().to_string(),
        });
    }
    let numeric = v.get("code").and_then(as_i64);
    let status = v.get("status").and_then(Value::as_str).unwrap_or("");
    let failed = status.eq_ignore_ascii_case("failed") || status.eq_ignore_ascii_case("error");
    if !failed && numeric.is_none_or(|n| n < 400) {
        return None;
    }
    let message = match v.get("messages").and_then(Value::as_array) {
        Some(lines) => lines
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("; "),
        None => v
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    };
    let code = numeric
        .map(|n| n.to_string())
        .unwrap_or_else(|| status.to_string());
    Some(BodyError {
        numeric,
        code,
        message: if message.is_empty() {
            format!("status {status}")
        } else {
            message
        },
    })
}

/// A code given as a number or a numeric string.
fn as_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn deadline_exceeded(path: &str, budget: Duration, attempts: u32, last: &str) -> String {
    format!(
        "{path}: deadline of {} exceeded after {attempts} {} (last: {last})",
        fmt_duration(budget),
        plural(attempts, "attempt")
    )
}

/// The error for a call that ran out of attempts or time: unanswered when
/// a write may have been carried out, unavailable otherwise.
fn unavailable(maybe_done: bool, why: String) -> PortalError {
    if maybe_done {
        PortalError::Unanswered(why)
    } else {
        PortalError::Unavailable(why)
    }
}

fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// `2s` for whole seconds, `300ms` otherwise.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(a: Attempt) -> (String, String) {
        match a {
            Attempt::Fail(PortalError::Rejected { code, message }) => (code, message),
            _ => panic!("expected a rejection"),
        }
    }

    #[test]
    fn an_error_object_in_a_200_answer_is_a_rejection_named_by_its_message_code() {
        let body = br#"{"error":{"code":400,"messageCode":"COM_0003","message":"Group does not exist or is inaccessible.","details":[]}}"#;
        let (code, message) = rejected(classify(StatusCode::OK, None, body));
        assert_eq!(code, "COM_0003");
        assert_eq!(message, "Group does not exist or is inaccessible.");
    }

    #[test]
    fn details_are_appended_and_the_numeric_code_is_used_without_a_message_code() {
        let body = br#"{"error":{"code":400,"message":"Unable to generate token.","details":["Invalid username or password."]}}"#;
        let (code, message) = rejected(classify(StatusCode::OK, None, body));
        assert_eq!(code, "400");
        assert_eq!(
            message,
            "Unable to generate token. (Invalid username or password.)"
        );
    }

    #[test]
    fn codes_498_and_499_mean_the_token_was_refused() {
        for code in [498, 499] {
            let body = format!(r#"{{"error":{{"code":{code},"message":"Invalid token."}}}}"#);
            assert!(matches!(
                classify(StatusCode::OK, None, body.as_bytes()),
                Attempt::TokenRefused(_)
            ));
        }
    }

    #[test]
    fn portal_codes_of_500_and_above_and_http_5xx_are_retried() {
        let body = br#"{"error":{"code":500,"message":"Internal"}}"#;
        assert!(matches!(
            classify(StatusCode::OK, None, body),
            Attempt::Retry { .. }
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, None, b"<html>bad gateway</html>"),
            Attempt::Retry { .. }
        ));
    }

    #[test]
    fn admin_style_failures_and_non_json_bodies_are_errors() {
        let body = br#"{"status":"error","messages":["User not found."],"code":404}"#;
        let (code, message) = rejected(classify(StatusCode::OK, None, body));
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("404", "User not found.")
        );
        assert!(matches!(
            classify(StatusCode::OK, None, b"<html>login</html>"),
            Attempt::Fail(PortalError::Protocol(_))
        ));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(fmt_duration(Duration::from_secs(2)), "2s");
        assert_eq!(fmt_duration(Duration::from_millis(300)), "300ms");
    }
}

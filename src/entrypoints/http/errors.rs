//! Error bodies: always `{"code", "message"}` with a stable code, never
//! internals (no Debug output, no secrets, no echoed bodies).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::intake::IntakeError;
use crate::intake::survey123_reread::Refusal;

/// A JSON error body `{code, message}`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

/// An intake refusal with its status (401 authenticity, 404 source off,
/// 413 size, 400/422 content).
pub(crate) fn intake_error(e: &IntakeError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    error_response(status, e.code(), &e.to_string())
}

/// 404 for a sender that is not switched on.
pub(crate) fn source_not_configured() -> Response {
    intake_error(&IntakeError::SourceNotConfigured)
}

/// A refusal of the Survey123 re-read, logged for the operator and
/// answered with its code, status and fixed message (`Retry-After` when a
/// retry may cure it).
pub(crate) fn reread_refusal(refusal: &Refusal, source: &str) -> Response {
    refusal.log(source);
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = error_response(status, refusal.code(), &refusal.message());
    if let Some(secs) = refusal.retry_after() {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

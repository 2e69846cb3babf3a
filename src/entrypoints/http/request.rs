//! Reading a request: the body within the size limit, the headers a
//! verifier needs, and the payload fingerprint kept with a delivery.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::errors::{intake_error, source_not_configured};
use crate::ids::hex;
use crate::intake::signature::WebhookHeaders;
use crate::intake::sources::{Source, Sources};
use crate::intake::{IntakeError, MAX_BODY_BYTES};

/// Reads an intake body within [`MAX_BODY_BYTES`].
pub(crate) fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, IntakeError> {
    match body {
        Ok(b) if b.len() <= MAX_BODY_BYTES => Ok(b),
        Ok(_) => Err(IntakeError::BodyTooLarge),
        Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(IntakeError::BodyTooLarge),
        Err(_) => Err(IntakeError::MalformedBody(
            "the body could not be read".into(),
        )),
    }
}

/// A sender's configuration and the request's body: 404 when the sender is
/// not switched on (before the body is looked at), then the body within the
/// size limit.
pub(crate) fn source_and_body<'s>(
    sources: &'s Sources,
    name: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<(&'s Source, Bytes), Box<Response>> {
    let Some(src) = sources.get(name) else {
        return Err(Box::new(source_not_configured()));
    };
    let body = read_body(body).map_err(|e| Box::new(intake_error(&e)))?;
    Ok((src, body))
}

/// A header's value, when present and visible ASCII.
pub(crate) fn header_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The three Standard Webhooks headers.
pub(crate) fn standard_headers(headers: &HeaderMap) -> WebhookHeaders<'_> {
    WebhookHeaders {
        id: header_value(headers, "webhook-id"),
        timestamp: header_value(headers, "webhook-timestamp"),
        signature: header_value(headers, "webhook-signature"),
    }
}

/// Hex SHA-256 of a raw body: the payload fingerprint kept with a delivery.
pub fn payload_hash(body: &[u8]) -> String {
    hex(&Sha256::digest(body))
}

/// The payload fingerprint of a normalised value. Taken over the
/// normalised request, so a sender that re-wraps the same sign-up
/// differently (another batch, another envelope) still matches its first
/// delivery.
pub(crate) fn fingerprint<T: serde::Serialize>(value: &T) -> String {
    payload_hash(&serde_json::to_vec(value).unwrap_or_default())
}

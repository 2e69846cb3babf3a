//! Intake: turns an authenticated webhook delivery into a [`SignupRequest`].
//!
//! Each sender gets an adapter here (today: [`standard`], the Standard
//! Webhooks format for senders we control). Adapters verify authenticity
//! *before* parsing, then normalise the payload. Nothing past intake knows
//! which sender a request came from; it sees only a [`SignupRequest`] and a
//! [`crate::domain::DeliveryKey`].
//!
//! Every refusal is an [`IntakeError`] with a stable public `code` and an
//! HTTP status; the message never echoes secrets or raw bodies.

pub mod signature;
pub mod standard;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{Email, Username};

/// Largest body any intake route accepts. Sign-ups are small; anything larger
/// is refused before it is read further.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest free-text field (names, organization) accepted.
pub const MAX_TEXT_LEN: usize = 256;

/// A sign-up, normalised: the one type the rest of the crate sees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignupRequest {
    /// The applicant's e-mail address (required).
    pub email: Email,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// A username the applicant asked for (checked against the AGOL rules).
    pub username: Option<Username>,
    /// The organization the applicant says they belong to.
    pub organization: Option<String>,
    /// An explicit pool requested by the sender.
    pub pool: Option<String>,
    /// Any other attributes the sender supplied, kept for rules and audit.
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// Why a delivery was refused at intake. Nothing has been written when one of
/// these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// A required header is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header is present but malformed.
    #[error("malformed header {0}")]
    InvalidHeader(&'static str),
    /// The timestamp is outside the tolerance window (replayed or clock skew).
    #[error("timestamp outside the allowed window")]
    StaleTimestamp,
    /// No configured key produced any of the signatures.
    #[error("signature does not match")]
    BadSignature,
    /// The route has no secret configured, so it accepts nothing.
    #[error("this webhook source is not configured")]
    SourceNotConfigured,
    /// The body exceeds [`MAX_BODY_BYTES`].
    #[error("body larger than {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    /// The body is not the JSON object expected.
    #[error("malformed body: {0}")]
    MalformedBody(String),
    /// A required field is absent or empty.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A field has an unusable value.
    #[error("invalid field {field}: {reason}")]
    InvalidField {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl IntakeError {
    /// The stable public code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            IntakeError::MissingHeader(_) => "missing_header",
            IntakeError::InvalidHeader(_) => "invalid_header",
            IntakeError::StaleTimestamp => "stale_timestamp",
            IntakeError::BadSignature => "invalid_signature",
            IntakeError::SourceNotConfigured => "source_not_configured",
            IntakeError::BodyTooLarge => "payload_too_large",
            IntakeError::MalformedBody(_) => "malformed_body",
            IntakeError::MissingField(_) => "missing_field",
            IntakeError::InvalidField { .. } => "invalid_field",
        }
    }

    /// The HTTP status for this error: 401 for authenticity failures, 404
    /// for a disabled source, 413 for size, 400/422 for bad content.
    pub fn status(&self) -> u16 {
        match self {
            IntakeError::MissingHeader(_)
            | IntakeError::StaleTimestamp
            | IntakeError::BadSignature => 401,
            IntakeError::SourceNotConfigured => 404,
            IntakeError::BodyTooLarge => 413,
            IntakeError::InvalidHeader(_) | IntakeError::MalformedBody(_) => 400,
            IntakeError::MissingField(_) | IntakeError::InvalidField { .. } => 422,
        }
    }
}

/// Cleans an optional free-text field: trims, maps empty to `None`, refuses
/// control characters and overlong values.
pub(crate) fn clean_text(
    field: &'static str,
    value: Option<&str>,
) -> Result<Option<String>, IntakeError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if v.chars().count() > MAX_TEXT_LEN {
        return Err(IntakeError::InvalidField {
            field,
            reason: format!("longer than {MAX_TEXT_LEN} characters"),
        });
    }
    if v.chars().any(char::is_control) {
        return Err(IntakeError::InvalidField {
            field,
            reason: "contains control characters".to_string(),
        });
    }
    Ok(Some(v.split_whitespace().collect::<Vec<_>>().join(" ")))
}

//! Intake: turns an authenticated webhook delivery into a [`SignupRequest`].
//!
//! Each sender gets an adapter here: [`standard`] (Standard Webhooks, for
//! senders we control, checked by [`signature`]), [`typeform`], [`tally`],
//! [`survey123`] (with [`survey123_reread`]: the record read back from the
//! survey's layer), [`auth0`], [`okta`], [`entra`]. Adapters verify
//! authenticity *before* parsing, then normalise the payload. Nothing past
//! intake knows which sender a request came from; it sees only a
//! [`SignupRequest`] and a [`crate::domain::DeliveryKey`].
//!
//! Beside them: [`sources`] (each sender's configuration and secrets),
//! [`profiles`] (names completed from the Okta and Auth0 APIs), [`reply`]
//! (the hooks' answers, whose texts each adapter holds), [`approvals`] and
//! [`slack`] (decisions on pending requests arriving signed).
//!
//! Every refusal is an [`IntakeError`] with a stable public `code` and an
//! HTTP status; the message never echoes secrets or raw bodies. Nothing here
//! writes anything or knows the workflow.

pub mod approvals;
pub mod auth0;
pub mod body_mac;
pub mod entra;
#[cfg(test)]
mod fuzz_support;
pub mod okta;
pub mod profiles;
pub mod reply;
pub mod signature;
pub mod slack;
pub mod sources;
pub mod standard;
pub mod survey123;
pub mod survey123_reread;
pub mod tally;
pub mod typeform;

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::{DeliveryKey, Email, SignupRequest, Username};

/// Largest body any intake route accepts. Sign-ups are small; anything larger
/// is refused before it is read further.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest free-text field (names, organization) accepted.
pub const MAX_TEXT_LEN: usize = 256;

/// Why a delivery was refused at intake. Nothing has been written when one of
/// these is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// A credential header (signature, timestamp, shared secret) is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// A header that is not a credential is absent or malformed (the
    /// `webhook-id`, Okta's verification challenge).
    #[error("malformed header {0}")]
    InvalidHeader(&'static str),
    /// A credential header (a signature, its signed timestamp) is present
    /// but unusable: empty, not the expected form, not a number. As much a
    /// failed authentication as a wrong signature.
    #[error("unusable credential in header {0}")]
    InvalidCredential(&'static str),
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
    /// A required field is not present under any of the configured names
    /// (a source's field mapping).
    #[error("missing field {field} (looked for: {looked_for})")]
    UnmappedField {
        /// The normalised field (`email`).
        field: &'static str,
        /// The source field names that were tried, comma-separated.
        looked_for: String,
    },
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
            IntakeError::InvalidCredential(_) => "invalid_credential",
            IntakeError::StaleTimestamp => "stale_timestamp",
            IntakeError::BadSignature => "invalid_signature",
            IntakeError::SourceNotConfigured => "source_not_configured",
            IntakeError::BodyTooLarge => "payload_too_large",
            IntakeError::MalformedBody(_) => "malformed_body",
            IntakeError::MissingField(_) | IntakeError::UnmappedField { .. } => "missing_field",
            IntakeError::InvalidField { .. } => "invalid_field",
        }
    }

    /// The HTTP status for this error: 401 for authenticity failures (a
    /// credential missing, unusable, stale or wrong), 404
    /// for a disabled source, 413 for size, 400/422 for bad content.
    pub fn status(&self) -> u16 {
        match self {
            IntakeError::MissingHeader(_)
            | IntakeError::InvalidCredential(_)
            | IntakeError::StaleTimestamp
            | IntakeError::BadSignature => 401,
            IntakeError::SourceNotConfigured => 404,
            IntakeError::BodyTooLarge => 413,
            IntakeError::InvalidHeader(_) | IntakeError::MalformedBody(_) => 400,
            IntakeError::MissingField(_)
            | IntakeError::UnmappedField { .. }
            | IntakeError::InvalidField { .. } => 422,
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

/// One sign-up found in a delivery, with the key that makes it idempotent
/// (a batch delivery yields several).
#[derive(Clone, Debug, PartialEq)]
pub struct Signup {
    /// `source:id`, e.g. `typeform:01HZZTEST`.
    pub key: DeliveryKey,
    /// The normalised request.
    pub request: SignupRequest,
}

/// Which of a source's field names feed each normalised field, tried in
/// order (Survey123 question names, Typeform field `ref`s, Tally labels or
/// keys, IdP profile attributes). Configured per source; each adapter has
/// defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMap {
    /// Names for the e-mail address (required).
    #[serde(default)]
    pub email: Vec<String>,
    /// Names for the given name.
    #[serde(default)]
    pub first_name: Vec<String>,
    /// Names for the family name.
    #[serde(default)]
    pub last_name: Vec<String>,
    /// Names for the organization.
    #[serde(default)]
    pub organization: Vec<String>,
    /// Names for an explicit pool choice.
    #[serde(default)]
    pub pool: Vec<String>,
    /// Names for a requested username.
    #[serde(default)]
    pub username: Vec<String>,
}

impl FieldMap {
    /// This map, with every empty list filled from `defaults`.
    pub fn or(&self, defaults: &FieldMap) -> FieldMap {
        let pick =
            |a: &Vec<String>, b: &Vec<String>| if a.is_empty() { b.clone() } else { a.clone() };
        FieldMap {
            email: pick(&self.email, &defaults.email),
            first_name: pick(&self.first_name, &defaults.first_name),
            last_name: pick(&self.last_name, &defaults.last_name),
            organization: pick(&self.organization, &defaults.organization),
            pool: pick(&self.pool, &defaults.pool),
            username: pick(&self.username, &defaults.username),
        }
    }

    /// Builds a map from string slices (for adapters' defaults).
    pub fn of(
        email: &[&str],
        first_name: &[&str],
        last_name: &[&str],
        organization: &[&str],
        pool: &[&str],
    ) -> FieldMap {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        FieldMap {
            email: v(email),
            first_name: v(first_name),
            last_name: v(last_name),
            organization: v(organization),
            pool: v(pool),
            username: vec!["username".to_string()],
        }
    }
}

/// Builds a [`SignupRequest`] from a flat map of a source's fields (name →
/// value) through a [`FieldMap`]. Values may be strings, numbers or
/// booleans (turned into text); the first non-empty match wins; fields not
/// mapped are kept as attributes. A missing e-mail names the names tried.
pub fn from_fields(
    mut fields: BTreeMap<String, serde_json::Value>,
    map: &FieldMap,
) -> Result<SignupRequest, IntakeError> {
    let mut take = |names: &[String]| -> Option<String> {
        let mut found = None;
        for name in names {
            if let Some(v) = fields.remove(name) {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    _ => continue,
                };
                if found.is_none() && !text.trim().is_empty() {
                    found = Some(text);
                }
            }
        }
        found
    };
    let email_raw = take(&map.email).ok_or_else(|| IntakeError::UnmappedField {
        field: "email",
        looked_for: map.email.join(", "),
    })?;
    let email = Email::parse(&email_raw).map_err(|e| IntakeError::InvalidField {
        field: "email",
        reason: e.to_string(),
    })?;
    let first_name = clean_text("first_name", take(&map.first_name).as_deref())?;
    let last_name = clean_text("last_name", take(&map.last_name).as_deref())?;
    let organization = clean_text("organization", take(&map.organization).as_deref())?;
    let pool = clean_text("pool", take(&map.pool).as_deref())?;
    let username = match take(&map.username) {
        Some(u) => Some(
            Username::parse(u.trim()).map_err(|e| IntakeError::InvalidField {
                field: "username",
                reason: e.reason.to_string(),
            })?,
        ),
        None => None,
    };
    Ok(SignupRequest {
        email,
        first_name,
        last_name,
        username,
        organization,
        pool,
        attributes: fields,
    })
}

/// Compares a presented static secret (token, header value) with the
/// configured ones in constant time. An empty configuration accepts nothing.
pub fn static_secret_matches(presented: &str, configured: &[crate::config::Secret]) -> bool {
    use subtle::ConstantTimeEq as _;
    !presented.is_empty()
        && configured
            .iter()
            .filter(|s| !s.expose().is_empty())
            .any(|s| bool::from(s.expose().as_bytes().ct_eq(presented.as_bytes())))
}

/// Checks that a delivery id from a payload is usable as a key.
pub fn delivery_key(
    source: &str,
    id: &str,
    field: &'static str,
) -> Result<DeliveryKey, IntakeError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(IntakeError::MissingField(field));
    }
    if id.len() > DeliveryKey::MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(IntakeError::InvalidField {
            field,
            reason: "not a usable delivery id".to_string(),
        });
    }
    Ok(DeliveryKey {
        source: source.to_string(),
        id: id.to_string(),
    })
}

/// A sender-supplied id or type as it may be reported back (logs, per-item
/// errors): the value if it is short and free of control characters,
/// otherwise empty, so hostile payloads cannot flood or forge log lines.
pub(crate) fn reportable(raw: Option<&str>) -> String {
    match raw.map(str::trim) {
        Some(v) if v.len() <= DeliveryKey::MAX_ID_LEN && !v.chars().any(char::is_control) => {
            v.to_string()
        }
        _ => String::new(),
    }
}

/// A delivery body as a JSON object, within [`MAX_BODY_BYTES`].
pub(crate) fn json_object(
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, IntakeError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(IntakeError::BodyTooLarge);
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        // serde's message names line/column and the kind of error only.
        .map_err(|e| IntakeError::MalformedBody(e.to_string()))?;
    match value {
        serde_json::Value::Object(obj) => Ok(obj),
        _ => Err(IntakeError::MalformedBody(
            "expected a JSON object".to_string(),
        )),
    }
}

/// A required string member: absent or `null` is `MissingField`, another
/// type is `InvalidField`.
pub(crate) fn required_str<'a>(
    obj: &'a serde_json::Map<String, serde_json::Value>,
    field: &'static str,
) -> Result<&'a str, IntakeError> {
    match obj.get(field) {
        None | Some(serde_json::Value::Null) => Err(IntakeError::MissingField(field)),
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(_) => Err(IntakeError::InvalidField {
            field,
            reason: "must be a string".to_string(),
        }),
    }
}

/// A required object member: absent or `null` is `MissingField`, another
/// type is `InvalidField`.
pub(crate) fn required_object<'a>(
    obj: &'a serde_json::Map<String, serde_json::Value>,
    field: &'static str,
) -> Result<&'a serde_json::Map<String, serde_json::Value>, IntakeError> {
    match obj.get(field) {
        None | Some(serde_json::Value::Null) => Err(IntakeError::MissingField(field)),
        Some(serde_json::Value::Object(o)) => Ok(o),
        Some(_) => Err(IntakeError::InvalidField {
            field,
            reason: "must be an object".to_string(),
        }),
    }
}

/// Checks that the event-type member is the one sign-up event a sender has.
pub(crate) fn require_event(
    obj: &serde_json::Map<String, serde_json::Value>,
    field: &'static str,
    signup_event: &str,
) -> Result<(), IntakeError> {
    match obj.get(field) {
        None | Some(serde_json::Value::Null) => Err(IntakeError::MissingField(field)),
        Some(serde_json::Value::String(t)) if t == signup_event => Ok(()),
        Some(_) => Err(IntakeError::InvalidField {
            field,
            reason: format!("only {signup_event} is a sign-up"),
        }),
    }
}

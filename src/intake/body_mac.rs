//! The signature Typeform and Tally put on a delivery: HMAC-SHA256 of the
//! raw body with a shared secret, base64 in a header (Typeform prefixes it
//! `sha256=`). One verifier for both, so the order of the checks and the
//! constant-time comparison are written once.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{IntakeError, MAX_BODY_BYTES};
use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// The base64 HMAC-SHA256 of `body` with `secret` (no prefix).
pub fn sign(secret: &str, body: &[u8]) -> String {
    B64.encode(mac(secret.as_bytes(), body).finalize().into_bytes())
}

/// Checks a body signature header against every configured secret.
///
/// Order: a source with no (non-empty) secret is
/// [`IntakeError::SourceNotConfigured`]; then the body size; then the
/// header must be present (`header` names it in the error) and, once
/// `prefix` is stripped from it (after trimming), base64 of 32 bytes; then
/// some secret must produce it, compared in constant time with every
/// secret tried. Nothing is parsed from the body.
pub fn verify(
    header: &'static str,
    prefix: &str,
    signature: Option<&str>,
    body: &[u8],
    secrets: &[Secret],
) -> Result<(), IntakeError> {
    let keys: Vec<&[u8]> = secrets
        .iter()
        .map(|s| s.expose().as_bytes())
        .filter(|k| !k.is_empty())
        .collect();
    if keys.is_empty() {
        return Err(IntakeError::SourceNotConfigured);
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(IntakeError::BodyTooLarge);
    }
    let raw = signature.ok_or(IntakeError::MissingHeader(header))?;
    let sig = raw
        .trim()
        .strip_prefix(prefix)
        .and_then(|b64| B64.decode(b64).ok())
        .filter(|s| s.len() == 32)
        .ok_or(IntakeError::InvalidCredential(header))?;
    // verify_slice compares in constant time; every key is tried.
    let matched = keys.iter().fold(false, |ok, key| {
        mac(key, body).verify_slice(&sig).is_ok() | ok
    });
    if matched {
        Ok(())
    } else {
        Err(IntakeError::BadSignature)
    }
}

fn mac(key: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail; keep no panic path.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => HmacSha256::new(&Default::default()),
    };
    mac.update(body);
    mac
}

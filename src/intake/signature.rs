//! Standard Webhooks verification (spec 1.0): HMAC-SHA256 over
//! `{webhook-id}.{webhook-timestamp}.{raw body}`, keys `whsec_<base64>`,
//! several signatures per header and several configured keys for rotation,
//! a ±5 minute timestamp window, constant-time comparison.
//!
//! This module only decides whether bytes are authentic. It never parses the
//! body: verification happens before any parsing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::IntakeError;
use crate::domain::DeliveryKey;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of an HMAC-SHA256.
const MAC_LEN: usize = 32;

/// Default tolerance between the sender's clock and ours, both directions.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// Most signatures one `webhook-signature` header may carry (a sender
/// rotating keys sends two or three): more is refused before any MAC.
pub const MAX_SIGNATURES: usize = 8;

/// Whether `ts` lies within `tolerance_secs` of `now_secs`, either way;
/// arithmetic that would overflow is outside.
pub fn fresh(now_secs: i64, ts: i64, tolerance_secs: i64) -> bool {
    now_secs
        .checked_sub(ts)
        .and_then(i64::checked_abs)
        .is_some_and(|skew| skew <= tolerance_secs)
}

/// One configured signing key (the decoded bytes of a `whsec_` secret).
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// Parses a `whsec_<base64>` secret (the prefix is optional, as in the
    /// reference libraries). The error message never repeats the secret.
    pub fn parse(secret: &str) -> Result<Self, String> {
        let b64 = secret.trim();
        let b64 = b64.strip_prefix("whsec_").unwrap_or(b64);
        let bytes = B64
            .decode(b64)
            .map_err(|_| "a webhook secret is not valid base64 after 'whsec_'".to_string())?;
        if bytes.len() < 16 {
            return Err("a webhook secret decodes to fewer than 16 bytes".to_string());
        }
        Ok(SigningKey(bytes))
    }

    /// Signs `id.timestamp.body`, returning the `v1,<base64>` form. Used by
    /// the `send` command and tests to produce deliveries.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", B64.encode(self.mac(id, timestamp, body)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        self.keyed(id, timestamp, body)
            .finalize()
            .into_bytes()
            .to_vec()
    }

    /// The HMAC over the signed content `{id}.{timestamp}.{body}`.
    fn keyed(&self, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length, so new_from_slice cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("any key length"); // ok: see above
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The three Standard Webhooks headers, as received.
#[derive(Debug, Clone, Copy)]
pub struct WebhookHeaders<'a> {
    /// `webhook-id`.
    pub id: Option<&'a str>,
    /// `webhook-timestamp`.
    pub timestamp: Option<&'a str>,
    /// `webhook-signature`.
    pub signature: Option<&'a str>,
}

/// Verifies a delivery and returns its idempotency key.
///
/// Order matters: headers present → id sane → timestamp parses and is fresh →
/// some `v1` signature matches some key. Nothing is parsed from the body.
pub fn verify(
    headers: WebhookHeaders<'_>,
    body: &[u8],
    keys: &[SigningKey],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<DeliveryKey, IntakeError> {
    let id = headers.id.ok_or(IntakeError::MissingHeader("webhook-id"))?;
    let ts_raw = headers
        .timestamp
        .ok_or(IntakeError::MissingHeader("webhook-timestamp"))?;
    let sigs = headers
        .signature
        .ok_or(IntakeError::MissingHeader("webhook-signature"))?;
    if id.is_empty() || id.len() > DeliveryKey::MAX_ID_LEN || id.chars().any(|c| c.is_control()) {
        return Err(IntakeError::InvalidHeader("webhook-id"));
    }
    let ts: i64 = ts_raw
        .trim()
        .parse()
        .map_err(|_| IntakeError::InvalidCredential("webhook-timestamp"))?;
    if !fresh(now_secs, ts, tolerance_secs) {
        return Err(IntakeError::StaleTimestamp);
    }
    if keys.is_empty() {
        return Err(IntakeError::SourceNotConfigured);
    }
    let entries: Vec<&str> = sigs.split_whitespace().take(MAX_SIGNATURES + 1).collect();
    if entries.is_empty() || entries.len() > MAX_SIGNATURES {
        return Err(IntakeError::InvalidCredential("webhook-signature"));
    }
    let presented: Vec<Vec<u8>> = entries
        .iter()
        .filter_map(|s| s.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, b64)| B64.decode(b64).ok())
        .filter(|sig| sig.len() == MAC_LEN)
        .collect();
    // One MAC per key, however many signatures were presented; each
    // comparison in constant time (CtOutput's equality).
    let matched = keys.iter().any(|k| {
        let expected = k.keyed(id, ts, body).finalize();
        presented.iter().any(|sig| {
            expected
                == hmac::digest::CtOutput::new(*hmac::digest::Output::<HmacSha256>::from_slice(sig))
        })
    });
    if !matched {
        return Err(IntakeError::BadSignature);
    }
    Ok(DeliveryKey {
        source: "standard".to_string(),
        id: id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks spec's test vector (webhook-sources.md §7).
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1649367553;
    const BODY: &str = r#"{"email":"test@example.com","username":"test_user"}"#;
    const SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn headers(sig: &str) -> WebhookHeaders<'_> {
        WebhookHeaders {
            id: Some(ID),
            timestamp: Some("1649367553"),
            signature: Some(sig),
        }
    }

    #[test]
    fn signing_reproduces_the_spec_test_vector() {
        let key = SigningKey::parse(SECRET).unwrap();
        assert_eq!(key.sign(ID, TS, BODY.as_bytes()), SIG);
    }

    #[test]
    fn the_spec_test_vector_verifies() {
        let key = SigningKey::parse(SECRET).unwrap();
        let got = verify(headers(SIG), BODY.as_bytes(), &[key], TS, 300).unwrap();
        assert_eq!(got.id, ID);
        assert_eq!(got.source, "standard");
    }

    #[test]
    fn any_of_several_signatures_and_keys_may_match() {
        let other = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let key = SigningKey::parse(SECRET).unwrap();
        let sig = format!("v1,Zm9vYmFyYmF6 v1a,ignored {SIG}");
        assert!(verify(headers(&sig), BODY.as_bytes(), &[other, key], TS, 300).is_ok());
    }

    #[test]
    fn a_changed_body_or_old_timestamp_is_refused() {
        let key = SigningKey::parse(SECRET).unwrap();
        let tampered = BODY.replace("test_user", "admin");
        assert!(matches!(
            verify(
                headers(SIG),
                tampered.as_bytes(),
                std::slice::from_ref(&key),
                TS,
                300
            ),
            Err(IntakeError::BadSignature)
        ));
        assert!(matches!(
            verify(
                headers(SIG),
                BODY.as_bytes(),
                std::slice::from_ref(&key),
                TS + 301,
                300
            ),
            Err(IntakeError::StaleTimestamp)
        ));
        assert!(matches!(
            verify(headers(SIG), BODY.as_bytes(), &[key], TS - 301, 300),
            Err(IntakeError::StaleTimestamp)
        ));
    }

    #[test]
    fn missing_headers_and_unknown_keys_are_refused() {
        let key = SigningKey::parse(SECRET).unwrap();
        let mut h = headers(SIG);
        h.signature = None;
        assert!(matches!(
            verify(h, BODY.as_bytes(), std::slice::from_ref(&key), TS, 300),
            Err(IntakeError::MissingHeader("webhook-signature"))
        ));
        let stranger = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert!(matches!(
            verify(headers(SIG), BODY.as_bytes(), &[stranger], TS, 300),
            Err(IntakeError::BadSignature)
        ));
    }

    /// The pins a mutation run asks for (issue 13): each rule of the
    /// module has a test on both sides of its boundary.
    #[test]
    fn a_key_needs_16_bytes() {
        let b64 = |n: usize| format!("whsec_{}", B64.encode(vec![7u8; n]));
        assert!(SigningKey::parse(&b64(15)).is_err());
        assert!(SigningKey::parse(&b64(16)).is_ok());
        // The prefix is optional.
        assert!(SigningKey::parse(&B64.encode([7u8; 16])).is_ok());
    }

    #[test]
    fn the_webhook_id_must_be_present_short_and_printable() {
        let key = SigningKey::parse(SECRET).unwrap();
        let check = |id: &str| {
            let h = WebhookHeaders {
                id: Some(id),
                timestamp: Some("1649367553"),
                signature: Some(SIG),
            };
            verify(h, BODY.as_bytes(), std::slice::from_ref(&key), TS, 300)
        };
        let longest = "m".repeat(DeliveryKey::MAX_ID_LEN);
        let too_long = "m".repeat(DeliveryKey::MAX_ID_LEN + 1);
        for bad in ["", too_long.as_str(), "msg\u{7}x", "msg\nx"] {
            assert_eq!(
                check(bad),
                Err(IntakeError::InvalidHeader("webhook-id")),
                "{bad:?}"
            );
        }
        // Within the rules, the id reaches the signature check (which it
        // fails: the vector signs another id).
        assert_eq!(check(&longest), Err(IntakeError::BadSignature));
        assert!(check(ID).is_ok());
        let mut h = headers(SIG);
        h.id = None;
        assert_eq!(
            verify(h, BODY.as_bytes(), &[key], TS, 300),
            Err(IntakeError::MissingHeader("webhook-id"))
        );
    }

    #[test]
    fn the_window_includes_its_edges_and_nothing_beyond() {
        let key = SigningKey::parse(SECRET).unwrap();
        let at = |now: i64| {
            verify(
                headers(SIG),
                BODY.as_bytes(),
                std::slice::from_ref(&key),
                now,
                300,
            )
        };
        assert!(at(TS + 300).is_ok());
        assert!(at(TS - 300).is_ok());
        assert_eq!(at(TS + 301), Err(IntakeError::StaleTimestamp));
        assert_eq!(at(TS - 301), Err(IntakeError::StaleTimestamp));
        assert!(fresh(0, 0, 0));
        assert!(!fresh(i64::MAX, i64::MIN, i64::MAX), "overflow is outside");
        assert!(!fresh(i64::MIN, 1, i64::MAX), "overflow is outside");
        let mut h = headers(SIG);
        h.timestamp = Some(" 1649367553 ");
        assert!(verify(h, BODY.as_bytes(), std::slice::from_ref(&key), TS, 300).is_ok());
        h.timestamp = Some("16493675x3");
        assert_eq!(
            verify(h, BODY.as_bytes(), &[key], TS, 300),
            Err(IntakeError::InvalidCredential("webhook-timestamp"))
        );
    }

    #[test]
    fn at_most_eight_signatures_and_only_well_formed_v1_ones_count() {
        let key = SigningKey::parse(SECRET).unwrap();
        let at = |sig: &str| {
            verify(
                headers(sig),
                BODY.as_bytes(),
                std::slice::from_ref(&key),
                TS,
                300,
            )
        };
        let filler = "v1,Zm9vYmFyYmF6";
        let eight = format!("{} {SIG}", [filler; MAX_SIGNATURES - 1].join(" "));
        assert!(at(&eight).is_ok());
        let nine = format!("{filler} {eight}");
        assert_eq!(
            at(&nine),
            Err(IntakeError::InvalidCredential("webhook-signature"))
        );
        assert_eq!(
            at("   "),
            Err(IntakeError::InvalidCredential("webhook-signature"))
        );
        // Another version, or no version, never matches.
        let b64 = SIG.trim_start_matches("v1,");
        assert_eq!(at(&format!("v2,{b64}")), Err(IntakeError::BadSignature));
        assert_eq!(at(b64), Err(IntakeError::BadSignature));
        // A truncated signature never matches.
        let short = B64.encode(&B64.decode(b64).unwrap()[..31]);
        assert_eq!(at(&format!("v1,{short}")), Err(IntakeError::BadSignature));
        assert_eq!(
            verify(headers(SIG), BODY.as_bytes(), &[], TS, 300),
            Err(IntakeError::SourceNotConfigured)
        );
    }

    #[test]
    fn secrets_never_appear_in_debug_or_errors() {
        let key = SigningKey::parse(SECRET).unwrap();
        // Says what it is and nothing of the key (a mutation run found
        // that printing nothing went unnoticed).
        assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
        let err = SigningKey::parse("whsec_!!!notbase64").unwrap_err();
        assert!(!err.contains("notbase64"));
    }
}

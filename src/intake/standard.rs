//! The Standard Webhooks intake adapter: the canonical format for senders we
//! control (Auth0 Actions, Google Apps Script, Power Automate, scripts).
//!
//! The body is a JSON object with `email` (required), `first_name`,
//! `last_name`, `username`, `organization`, `pool`, plus free attributes. A
//! `{"type": …, "data": {…}}` envelope is accepted too (the body then is
//! `data`), and the spellings common in IdP payloads are understood
//! (`given_name`/`firstName`, `family_name`/`lastName`, `organisation`,
//! `company`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{IntakeError, SignupRequest, clean_text};
use crate::domain::{Email, Username};

/// Field names understood for each normalised field, first match wins.
const EMAIL: &[&str] = &["email", "mail"];
const FIRST: &[&str] = &["first_name", "given_name", "firstName", "givenName"];
const LAST: &[&str] = &[
    "last_name",
    "family_name",
    "lastName",
    "surname",
    "familyName",
];
const ORG: &[&str] = &["organization", "organisation", "company", "companyName"];
const USERNAME: &[&str] = &["username"];
const POOL: &[&str] = &["pool"];

/// Parses a verified Standard Webhooks body into a [`SignupRequest`].
pub fn parse(body: &[u8]) -> Result<SignupRequest, IntakeError> {
    if body.len() > super::MAX_BODY_BYTES {
        return Err(IntakeError::BodyTooLarge);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        // serde's message names line/column and the kind of error, never the
        // content, so it is safe to return.
        IntakeError::MalformedBody(e.to_string())
    })?;
    let Value::Object(mut obj) = value else {
        return Err(IntakeError::MalformedBody(
            "expected a JSON object".to_string(),
        ));
    };
    // A `{type, data:{…}}` envelope: the sign-up is in `data`.
    if obj.contains_key("type")
        && let Some(Value::Object(_)) = obj.get("data")
        && let Some(Value::Object(data)) = obj.remove("data")
    {
        obj = data;
    }
    normalise(obj)
}

fn normalise(mut obj: Map<String, Value>) -> Result<SignupRequest, IntakeError> {
    let email_raw =
        take_string(&mut obj, "email", EMAIL)?.ok_or(IntakeError::MissingField("email"))?;
    let email = Email::parse(&email_raw).map_err(|e| IntakeError::InvalidField {
        field: "email",
        reason: e.to_string(),
    })?;
    let first_name = clean_text(
        "first_name",
        take_string(&mut obj, "first_name", FIRST)?.as_deref(),
    )?;
    let last_name = clean_text(
        "last_name",
        take_string(&mut obj, "last_name", LAST)?.as_deref(),
    )?;
    let organization = clean_text(
        "organization",
        take_string(&mut obj, "organization", ORG)?.as_deref(),
    )?;
    let pool = clean_text("pool", take_string(&mut obj, "pool", POOL)?.as_deref())?;
    let username = match take_string(&mut obj, "username", USERNAME)? {
        Some(u) if !u.trim().is_empty() => {
            Some(
                Username::parse(u.trim()).map_err(|e| IntakeError::InvalidField {
                    field: "username",
                    reason: e.reason.to_string(),
                })?,
            )
        }
        _ => None,
    };
    let attributes: BTreeMap<String, Value> = obj.into_iter().collect();
    Ok(SignupRequest {
        email,
        first_name,
        last_name,
        username,
        organization,
        pool,
        attributes,
    })
}

/// Removes the first present alias of a field and returns it as a string.
/// `null` counts as absent; any other non-string is an error naming the field.
fn take_string(
    obj: &mut Map<String, Value>,
    field: &'static str,
    aliases: &[&str],
) -> Result<Option<String>, IntakeError> {
    let mut found = None;
    for alias in aliases {
        if let Some(v) = obj.remove(*alias)
            && found.is_none()
        {
            found = Some(v);
        }
    }
    match found {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(IntakeError::InvalidField {
            field,
            reason: "must be a string".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_signup_is_normalised() {
        let body = br#"{"email":" Ana.Lopez@Example.ORG ","first_name":" Ana ","last_name":"Lopez",
            "organization":"Example   Water Board","pool":"water","department":"GIS"}"#;
        let r = parse(body).unwrap();
        assert_eq!(r.email.as_str(), "Ana.Lopez@example.org");
        assert_eq!(r.first_name.as_deref(), Some("Ana"));
        assert_eq!(r.organization.as_deref(), Some("Example Water Board"));
        assert_eq!(r.pool.as_deref(), Some("water"));
        assert_eq!(r.attributes.get("department"), Some(&Value::from("GIS")));
        assert!(r.username.is_none());
    }

    #[test]
    fn an_envelope_with_idp_spellings_is_understood() {
        let body = br#"{"type":"auth0.user.first_login","timestamp":"2026-03-02T09:30:00Z",
            "data":{"user_id":"auth0|65f","email":"ana.lopez@example.org","given_name":"Ana",
            "family_name":"Lopez","organisation":"Example Water Board","logins_count":1}}"#;
        let r = parse(body).unwrap();
        assert_eq!(r.first_name.as_deref(), Some("Ana"));
        assert_eq!(r.last_name.as_deref(), Some("Lopez"));
        assert_eq!(r.organization.as_deref(), Some("Example Water Board"));
        assert_eq!(r.attributes.get("user_id"), Some(&Value::from("auth0|65f")));
    }

    #[test]
    fn bad_bodies_get_stable_codes() {
        let cases: &[(&[u8], &str)] = &[
            (b"not json", "malformed_body"),
            (b"[1,2]", "malformed_body"),
            (b"{}", "missing_field"),
            (br#"{"email":"   "}"#, "invalid_field"),
            (br#"{"email":"nobody"}"#, "invalid_field"),
            (br#"{"email":42}"#, "invalid_field"),
            (
                br#"{"email":"a@b.org","first_name":{"x":1}}"#,
                "invalid_field",
            ),
            (br#"{"email":"a@b.org","username":"_bad"}"#, "invalid_field"),
            (
                br#"{"email":"a@b.org","last_name":"a\u0007b"}"#,
                "invalid_field",
            ),
        ];
        for (body, code) in cases {
            let err = parse(body).unwrap_err();
            assert_eq!(err.code(), *code, "{}", String::from_utf8_lossy(body));
        }
        let big = vec![b' '; super::super::MAX_BODY_BYTES + 1];
        assert_eq!(parse(&big).unwrap_err().code(), "payload_too_large");
    }
}

#[cfg(test)]
mod random_inputs {
    use super::*;
    use crate::intake::signature::{SigningKey, WebhookHeaders, verify};
    use rand::{Rng as _, SeedableRng as _};

    /// Random bodies and headers never panic; every refusal has a 4xx code.
    #[test]
    fn random_bodies_and_headers_are_refused_cleanly() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let key = SigningKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let pieces: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"email\"",
            b":",
            b",",
            b"\"a@b.org\"",
            b"null",
            b"1e999",
            b"\"\\u0000\"",
            b"\"first_name\"",
            b"{\"type\":\"x\",\"data\":",
            b"\xff",
            b" ",
        ];
        for _ in 0..20_000 {
            let mut body = Vec::new();
            for _ in 0..rng.random_range(0..12) {
                body.extend_from_slice(pieces[rng.random_range(0..pieces.len())]);
            }
            if let Err(e) = parse(&body) {
                assert!((400..500).contains(&e.status()), "{e:?}");
            }
            let junk: String = (0..rng.random_range(0..40))
                .map(|_| char::from(rng.random_range(32u8..127)))
                .collect();
            let h = WebhookHeaders {
                id: Some(&junk),
                timestamp: Some(&junk),
                signature: Some(&junk),
            };
            if let Err(e) = verify(h, &body, std::slice::from_ref(&key), 0, 300) {
                assert!((400..500).contains(&e.status()), "{e:?}");
            }
        }
    }
}

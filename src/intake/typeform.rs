//! The Typeform intake adapter (webhook-sources.md §6).
//!
//! Typeform signs each delivery with `Typeform-Signature: sha256=<base64
//! HMAC-SHA256(secret, raw body)>`; several configured secrets are accepted so
//! a secret can be rotated. The body is
//! `{event_id, event_type: "form_response", form_response: {hidden, answers[]}}`.
//! Each answer is keyed by its author-set `field.ref` (or `field.id` when the
//! ref is empty) and its value is read according to its `type`; hidden fields
//! fill in names no answer uses. When none of the map's e-mail names is
//! found, the form's `email`-type answer is the e-mail.
//!
//! The idempotency key is `typeform:<event_id>`: Typeform's retries of one
//! delivery carry the same `event_id`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::body_mac;
use super::{
    FieldMap, IntakeError, Signup, delivery_key, from_fields, json_object, require_event,
    required_object, required_str,
};
use crate::config::Secret;

/// The source name in delivery keys (`typeform:<event_id>`).
pub const SOURCE: &str = "typeform";

/// The signature header, lower-cased as it is named in errors.
pub const SIGNATURE_HEADER: &str = "typeform-signature";

/// The only `event_type` that is a sign-up.
pub const SIGNUP_EVENT: &str = "form_response";

/// The field map used when the source configures none: `field.ref`s or
/// hidden-field names.
pub fn default_fields() -> FieldMap {
    FieldMap::of(
        &["email"],
        &["first_name", "firstname"],
        &["last_name", "lastname"],
        &["organization", "organisation", "company"],
        &["pool"],
    )
}

/// The `Typeform-Signature` value for `body` signed with `secret`
/// (`sha256=<base64>`), for tests and tools that produce deliveries.
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", body_mac::sign(secret, body))
}

/// Checks the `Typeform-Signature` header against every configured secret.
///
/// Order: a source with no (non-empty) secret is [`IntakeError::SourceNotConfigured`];
/// then the body size; then the header must be present and of the form
/// `sha256=<base64>`; then some secret must produce it (compared in constant
/// time). Nothing is parsed from the body.
pub fn verify(signature: Option<&str>, body: &[u8], secrets: &[Secret]) -> Result<(), IntakeError> {
    body_mac::verify(SIGNATURE_HEADER, "sha256=", signature, body, secrets)
}

/// Parses a verified Typeform delivery into a [`Signup`] keyed
/// `typeform:<event_id>`.
///
/// Any `event_type` other than `form_response` is an
/// [`IntakeError::InvalidField`] (422) on `event_type`.
pub fn parse(body: &[u8], fields: &FieldMap) -> Result<Signup, IntakeError> {
    let obj = json_object(body)?;
    require_event(&obj, "event_type", SIGNUP_EVENT)?;
    let key = delivery_key(SOURCE, required_str(&obj, "event_id")?, "event_id")?;
    let response = required_object(&obj, "form_response")?;
    let (flat, email_answer) = flatten(response)?;
    let mut map = fields.clone();
    let configured_found = map.email.iter().any(|n| match flat.get(n) {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Number(_) | Value::Bool(_)) => true,
        _ => false,
    });
    if !configured_found && let Some(name) = email_answer {
        // Only when no configured name is found, so otherwise the e-mail
        // answer stays among the attributes.
        map.email.push(name);
    }
    let request = from_fields(flat, &map)?;
    Ok(Signup { key, request })
}

/// The answers and hidden fields as one name → value map, plus the name of
/// the first `email`-type answer.
fn flatten(
    response: &Map<String, Value>,
) -> Result<(BTreeMap<String, Value>, Option<String>), IntakeError> {
    let mut flat = BTreeMap::new();
    let mut email_answer = None;
    match response.get("answers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(answers)) => {
            for answer in answers {
                let Value::Object(answer) = answer else {
                    return Err(IntakeError::InvalidField {
                        field: "answers",
                        reason: "every answer must be an object".to_string(),
                    });
                };
                let Some(name) = answer_name(answer) else {
                    continue;
                };
                let kind = answer.get("type").and_then(Value::as_str).unwrap_or("");
                let Some(value) = answer_value(kind, answer) else {
                    continue;
                };
                if kind == "email" && email_answer.is_none() {
                    email_answer = Some(name.clone());
                }
                flat.entry(name).or_insert(value);
            }
        }
        Some(_) => {
            return Err(IntakeError::InvalidField {
                field: "answers",
                reason: "must be an array".to_string(),
            });
        }
    }
    match response.get("hidden") {
        None | Some(Value::Null) => {}
        Some(Value::Object(hidden)) => {
            for (name, value) in hidden {
                if !name.is_empty() && !value.is_null() {
                    flat.entry(name.clone()).or_insert_with(|| value.clone());
                }
            }
        }
        Some(_) => {
            return Err(IntakeError::InvalidField {
                field: "hidden",
                reason: "must be an object".to_string(),
            });
        }
    }
    Ok((flat, email_answer))
}

/// `field.ref`, or `field.id` when the ref is absent or empty.
fn answer_name(answer: &Map<String, Value>) -> Option<String> {
    let field = answer.get("field")?.as_object()?;
    ["ref", "id"]
        .iter()
        .filter_map(|k| field.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

/// The answer's value by its `type`: `choice.label` (or `choice.other`),
/// `choices.labels` (plus `choices.other`) as an array, otherwise the
/// member named like the type (`email`, `text`, `number`, `boolean`,
/// `phone_number`, `url`, `date`, `file_url`, …).
fn answer_value(kind: &str, answer: &Map<String, Value>) -> Option<Value> {
    let value = match kind {
        "choice" => {
            let choice = answer.get("choice")?.as_object()?;
            ["label", "other"]
                .iter()
                .filter_map(|k| choice.get(*k))
                .find(|v| v.as_str().is_some_and(|s| !s.trim().is_empty()))?
                .clone()
        }
        "choices" => {
            let choices = answer.get("choices")?.as_object()?;
            let mut labels: Vec<Value> = choices
                .get("labels")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter(|v| v.is_string()).cloned().collect())
                .unwrap_or_default();
            if let Some(other) = choices.get("other").filter(|v| v.is_string()) {
                labels.push(other.clone());
            }
            Value::Array(labels)
        }
        "" => return None,
        other => answer.get(other)?.clone(),
    };
    (!value.is_null()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::MAX_BODY_BYTES;

    const VECTOR_SECRET: &str = "tf-test-secret";
    const VECTOR_BODY: &str = r#"{"event_id":"01HZZTEST","event_type":"form_response"}"#;
    const VECTOR_SIG: &str = "sha256=Aves0s1ZKrEx88kFDI6UghGVrua792GRZ1LzJkyUPRo=";

    fn secrets(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|s| Secret::new(*s)).collect()
    }

    pub(super) const DELIVERY: &str = r#"{
      "event_id": "01HQ7X3T9Z0000000000000001",
      "event_type": "form_response",
      "form_response": {
        "form_id": "lT4Z3j",
        "token": "a3a12ec67a1365927098a606107fac15",
        "submitted_at": "2026-03-02T09:30:00Z",
        "hidden": {"pool": "water-board", "utm_source": "newsletter"},
        "definition": {"id": "lT4Z3j", "title": "ArcGIS access", "fields": []},
        "answers": [
          {"type": "text", "text": "Ana", "field": {"id": "Fa1", "ref": "first_name", "type": "short_text"}},
          {"type": "text", "text": "Lopez", "field": {"id": "Fa2", "ref": "last_name", "type": "short_text"}},
          {"type": "email", "email": "ana.lopez@example.org", "field": {"id": "Fa3", "ref": "work_email", "type": "email"}},
          {"type": "choice", "choice": {"id": "c1", "label": "Example Water Board"}, "field": {"id": "Fa4", "ref": "organisation", "type": "multiple_choice"}},
          {"type": "number", "number": 12, "field": {"id": "Fa5", "ref": "years", "type": "number"}},
          {"type": "boolean", "boolean": true, "field": {"id": "Fa6", "ref": "", "type": "yes_no"}},
          {"type": "phone_number", "phone_number": "+34600000000", "field": {"id": "Fa7", "type": "phone_number"}},
          {"type": "choices", "choices": {"labels": ["Maps", "Apps"], "other": "Notebooks"}, "field": {"id": "Fa8", "ref": "interests", "type": "multiple_choice"}},
          {"type": "url", "url": "https://example.org", "field": {"id": "Fa9", "ref": "site", "type": "website"}},
          {"type": "date", "date": "2026-03-01", "field": {"id": "Fb1", "ref": "start", "type": "date"}}
        ]
      }
    }"#;

    /// Pins a mutation run found missing (issue 13): the size limit's
    /// edge (exactly {MAX_BODY_BYTES} bytes is checked, one more is too
    /// large), and a secret listed twice still verifies.
    #[test]
    fn the_size_edge_and_a_secret_listed_twice_are_pinned() {
        let secret = Secret::new("pin-test-typeform-secret");
        let exact = vec![b' '; MAX_BODY_BYTES];
        let sig = sign(secret.expose(), &exact);
        assert_eq!(
            verify(Some(&sig), &exact, std::slice::from_ref(&secret)),
            Ok(())
        );
        let over = vec![b' '; MAX_BODY_BYTES + 1];
        let sig_over = sign(secret.expose(), &over);
        assert_eq!(
            verify(Some(&sig_over), &over, std::slice::from_ref(&secret)),
            Err(IntakeError::BodyTooLarge)
        );
        let body = br#"{"a":1}"#;
        let sig = sign(secret.expose(), body);
        assert_eq!(
            verify(Some(&sig), body, &[secret.clone(), secret.clone()]),
            Ok(())
        );
    }

    #[test]
    fn signing_reproduces_the_published_test_vector() {
        assert_eq!(sign(VECTOR_SECRET, VECTOR_BODY.as_bytes()), VECTOR_SIG);
    }

    #[test]
    fn the_test_vector_verifies_with_any_configured_secret() {
        let one = secrets(&[VECTOR_SECRET]);
        assert_eq!(
            verify(Some(VECTOR_SIG), VECTOR_BODY.as_bytes(), &one),
            Ok(())
        );
        let rotated = secrets(&["", "tf-new-secret", VECTOR_SECRET]);
        assert_eq!(
            verify(Some(VECTOR_SIG), VECTOR_BODY.as_bytes(), &rotated),
            Ok(())
        );
    }

    #[test]
    fn a_changed_body_or_unknown_secret_is_refused() {
        let s = secrets(&[VECTOR_SECRET]);
        let tampered = VECTOR_BODY.replace("01HZZTEST", "01HZZEVIL");
        assert_eq!(
            verify(Some(VECTOR_SIG), tampered.as_bytes(), &s),
            Err(IntakeError::BadSignature)
        );
        assert_eq!(
            verify(
                Some(VECTOR_SIG),
                VECTOR_BODY.as_bytes(),
                &secrets(&["someone-else"])
            ),
            Err(IntakeError::BadSignature)
        );
    }

    #[test]
    fn missing_or_malformed_headers_and_empty_config_are_refused() {
        let s = secrets(&[VECTOR_SECRET]);
        let body = VECTOR_BODY.as_bytes();
        assert_eq!(
            verify(None, body, &s),
            Err(IntakeError::MissingHeader(SIGNATURE_HEADER))
        );
        for bad in [
            "",
            "Aves0s1ZKrEx88kFDI6UghGVrua792GRZ1LzJkyUPRo=",
            "sha1=Aves0s1ZKrEx88kFDI6UghGVrua792GRZ1LzJkyUPRo=",
            "sha256=!!!",
            "sha256=QUJD",
        ] {
            assert_eq!(
                verify(Some(bad), body, &s),
                Err(IntakeError::InvalidCredential(SIGNATURE_HEADER)),
                "{bad}"
            );
        }
        assert_eq!(
            verify(Some(VECTOR_SIG), body, &[]),
            Err(IntakeError::SourceNotConfigured)
        );
        assert_eq!(
            verify(Some(VECTOR_SIG), body, &secrets(&[""])),
            Err(IntakeError::SourceNotConfigured)
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            verify(Some(VECTOR_SIG), &big, &s),
            Err(IntakeError::BodyTooLarge)
        );
    }

    #[test]
    fn errors_never_carry_the_secret() {
        let s = secrets(&[VECTOR_SECRET]);
        for sig in [None, Some("sha256=x"), Some(VECTOR_SIG)] {
            if let Err(e) = verify(sig, b"{}", &s) {
                assert!(!e.to_string().contains(VECTOR_SECRET));
                assert!(!format!("{e:?}").contains(VECTOR_SECRET));
            }
        }
    }

    #[test]
    fn a_full_response_is_normalised_through_refs_and_hidden_fields() {
        let s = parse(DELIVERY.as_bytes(), &default_fields()).unwrap();
        assert_eq!(s.key.source, "typeform");
        assert_eq!(s.key.id, "01HQ7X3T9Z0000000000000001");
        let r = s.request;
        // No answer is ref'd "email": the email-type answer is used.
        assert_eq!(r.email.as_str(), "ana.lopez@example.org");
        assert_eq!(r.first_name.as_deref(), Some("Ana"));
        assert_eq!(r.last_name.as_deref(), Some("Lopez"));
        assert_eq!(r.organization.as_deref(), Some("Example Water Board"));
        assert_eq!(r.pool.as_deref(), Some("water-board"));
        let a = &r.attributes;
        assert!(!a.contains_key("work_email"));
        assert_eq!(a.get("years"), Some(&Value::from(12)));
        assert_eq!(a.get("Fa6"), Some(&Value::from(true)));
        assert_eq!(a.get("Fa7"), Some(&Value::from("+34600000000")));
        assert_eq!(
            a.get("interests"),
            Some(&serde_json::json!(["Maps", "Apps", "Notebooks"]))
        );
        assert_eq!(a.get("site"), Some(&Value::from("https://example.org")));
        assert_eq!(a.get("start"), Some(&Value::from("2026-03-01")));
        assert_eq!(a.get("utm_source"), Some(&Value::from("newsletter")));
    }

    #[test]
    fn a_mapped_email_name_wins_over_the_email_answer() {
        let body = DELIVERY.replace(
            r#""hidden": {"#,
            r#""hidden": {"email": "ana@city.example", "#,
        );
        let r = parse(body.as_bytes(), &default_fields()).unwrap().request;
        assert_eq!(r.email.as_str(), "ana@city.example");
        assert_eq!(
            r.attributes.get("work_email"),
            Some(&Value::from("ana.lopez@example.org"))
        );
    }

    #[test]
    fn a_configured_map_picks_other_refs() {
        let map = FieldMap {
            organization: vec!["employer".to_string()],
            ..FieldMap::default()
        }
        .or(&default_fields());
        let body = DELIVERY.replace(r#""ref": "organisation""#, r#""ref": "employer""#);
        let r = parse(body.as_bytes(), &map).unwrap().request;
        assert_eq!(r.organization.as_deref(), Some("Example Water Board"));
    }

    #[test]
    fn other_event_types_are_a_clear_invalid_field() {
        let body = DELIVERY.replace(r#""form_response","#, r#""form_partial","#);
        let err = parse(body.as_bytes(), &default_fields()).unwrap_err();
        assert_eq!(err.code(), "invalid_field");
        assert_eq!(err.status(), 422);
        assert!(err.to_string().contains("event_type"), "{err}");
    }

    #[test]
    fn bad_bodies_get_stable_codes() {
        let cases: &[(&str, &str)] = &[
            ("not json", "malformed_body"),
            ("[]", "malformed_body"),
            (r#"{"event_id":"x"}"#, "missing_field"),
            (r#"{"event_type":"form_response"}"#, "missing_field"),
            (
                r#"{"event_type":"form_response","event_id":7}"#,
                "invalid_field",
            ),
            (
                r#"{"event_type":"form_response","event_id":"  "}"#,
                "missing_field",
            ),
            (
                r#"{"event_type":"form_response","event_id":"a"}"#,
                "missing_field",
            ),
            (
                r#"{"event_type":"form_response","event_id":"a","form_response":{}}"#,
                "missing_field",
            ),
            (
                r#"{"event_type":"form_response","event_id":"a","form_response":{"answers":{}}}"#,
                "invalid_field",
            ),
            (
                r#"{"event_type":"form_response","event_id":"a","form_response":{"answers":[1]}}"#,
                "invalid_field",
            ),
            (
                r#"{"event_type":"form_response","event_id":"a","form_response":{"hidden":{"email":"nobody"}}}"#,
                "invalid_field",
            ),
            (
                r#"{"event_type":"form_response","event_id":"a","form_response":{"hidden":{"email":"a@b.org","first_name":"x\u0007"}}}"#,
                "invalid_field",
            ),
        ];
        for (body, code) in cases {
            let err = parse(body.as_bytes(), &default_fields()).unwrap_err();
            assert_eq!(err.code(), *code, "{body}: {err}");
        }
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            parse(&big, &default_fields()).unwrap_err().code(),
            "payload_too_large"
        );
    }

    #[test]
    fn a_missing_email_names_what_was_looked_for() {
        let body = r#"{"event_type":"form_response","event_id":"a",
            "form_response":{"answers":[{"type":"text","text":"Ana","field":{"id":"x","ref":"first_name"}}]}}"#;
        let err = parse(body.as_bytes(), &default_fields()).unwrap_err();
        assert_eq!(err.code(), "missing_field");
        assert!(err.to_string().contains("email"), "{err}");
    }

    /// A recorded event from `events/`: (headers, raw body, path parameters).
    fn fixture(name: &str) -> (Value, Vec<u8>, Value) {
        let path = format!("{}/events/{name}.apigw.json", env!("CARGO_MANIFEST_DIR"));
        let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(event["isBase64Encoded"], false);
        let body = event["body"].as_str().unwrap().as_bytes().to_vec();
        (
            event["headers"].clone(),
            body,
            event["pathParameters"].clone(),
        )
    }

    #[test]
    fn the_recorded_events_verify_parse_and_refuse_as_documented() {
        let s = secrets(&["tf-test-secret"]);
        let mut keys = Vec::new();
        for name in ["typeform-signup", "typeform-replay"] {
            let (h, body, _) = fixture(name);
            verify(h[SIGNATURE_HEADER].as_str(), &body, &s).unwrap();
            let got = parse(&body, &default_fields()).unwrap();
            assert_eq!(got.request.email.as_str(), "ana.lopez@example.org");
            assert_eq!(got.request.pool.as_deref(), Some("water-board"));
            keys.push(got.key);
        }
        assert_eq!(keys[0], keys[1]);
        let (h, body, _) = fixture("typeform-bad-signature");
        assert_eq!(
            verify(h[SIGNATURE_HEADER].as_str(), &body, &s),
            Err(IntakeError::BadSignature)
        );
    }
}

#[cfg(test)]
mod random_inputs {
    use super::*;
    use crate::intake::fuzz_support::mutate_and_parse;
    use rand::{Rng as _, SeedableRng as _};

    /// Random bodies and headers never panic; every refusal is a 4xx.
    #[test]
    fn random_bodies_and_headers_are_refused_cleanly() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(21);
        let secrets = [Secret::new("tf-test-secret")];
        let pieces: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b":",
            b",",
            b"\"event_type\":\"form_response\"",
            b"\"event_id\":\"01H\"",
            b"\"form_response\":",
            b"\"answers\":",
            b"\"hidden\":",
            b"{\"type\":\"email\",\"email\":\"a@b.org\",\"field\":{\"ref\":\"e\"}}",
            b"{\"type\":\"choice\",\"choice\":{\"label\":null},\"field\":{\"id\":\"c\"}}",
            b"\"type\"",
            b"\"field\"",
            b"\"email\"",
            b"\"a@b.org\"",
            b"null",
            b"1e999",
            b"\"\\u0000\"",
            b"\xff",
            b" ",
        ];
        for _ in 0..20_000 {
            let mut body = Vec::new();
            for _ in 0..rng.random_range(0..16) {
                body.extend_from_slice(pieces[rng.random_range(0..pieces.len())]);
            }
            if let Err(e) = parse(&body, &default_fields()) {
                assert!((400..500).contains(&e.status()), "{e:?}");
            }
            let junk: String = (0..rng.random_range(0..60))
                .map(|_| char::from(rng.random_range(32u8..127)))
                .collect();
            let header = if rng.random_range(0..2) == 0 {
                format!("sha256={junk}")
            } else {
                junk
            };
            match verify(Some(&header), &body, &secrets) {
                Err(e) => assert!((400..500).contains(&e.status()), "{e:?}"),
                Ok(()) => panic!("a random signature verified"),
            }
        }
    }

    #[test]
    fn mutated_deliveries_are_parsed_or_refused_cleanly() {
        mutate_and_parse(super::tests::DELIVERY, 23, |body| {
            if let Err(e) = parse(body, &default_fields()) {
                assert!((400..500).contains(&e.status()), "{e:?}");
            }
        });
    }
}

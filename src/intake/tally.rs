//! The Tally (tally.so) intake adapter (webhook-sources.md §6).
//!
//! Tally signs each delivery with `Tally-Signature: <base64 HMAC-SHA256(secret,
//! raw body)>` when a signing secret is set; this adapter requires one, and
//! accepts several for rotation. The body is
//! `{eventId, eventType: "FORM_RESPONSE", data: {fields: [{key, label, type,
//! value, options?}]}}`. A configured name matches a field's `label` first,
//! then its `key`. Values may be strings, numbers, booleans, arrays of option
//! ids (turned into the options' texts) or `null` (absent).
//!
//! The idempotency key is `tally:<eventId>`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::body_mac;
use super::{
    FieldMap, IntakeError, Signup, delivery_key, from_fields, json_object, require_event,
    required_object, required_str,
};
use crate::config::Secret;

/// The source name in delivery keys (`tally:<eventId>`).
pub const SOURCE: &str = "tally";

/// The signature header, lower-cased as it is named in errors.
pub const SIGNATURE_HEADER: &str = "tally-signature";

/// The only `eventType` that is a sign-up.
pub const SIGNUP_EVENT: &str = "FORM_RESPONSE";

/// Field types whose value is one chosen option: a one-element array of
/// option ids becomes that option's text rather than a list.
const SINGLE_CHOICE_TYPES: &[&str] = &["MULTIPLE_CHOICE", "DROPDOWN"];

/// The field map used when the source configures none: common labels and
/// keys.
pub fn default_fields() -> FieldMap {
    FieldMap::of(
        &["Email", "email", "E-mail"],
        &["First name", "first_name"],
        &["Last name", "last_name"],
        &["Organization", "Organisation", "Company"],
        &["Pool", "pool"],
    )
}

/// The `Tally-Signature` value for `body` signed with `secret` (base64), for
/// tests and tools that produce deliveries.
pub fn sign(secret: &str, body: &[u8]) -> String {
    body_mac::sign(secret, body)
}

/// Checks the `Tally-Signature` header against every configured secret.
///
/// Order: a source with no (non-empty) secret is [`IntakeError::SourceNotConfigured`];
/// then the body size; then the header must be present and base64 of 32
/// bytes; then some secret must produce it (compared in constant time).
/// Nothing is parsed from the body.
pub fn verify(signature: Option<&str>, body: &[u8], secrets: &[Secret]) -> Result<(), IntakeError> {
    body_mac::verify(SIGNATURE_HEADER, "", signature, body, secrets)
}

/// One Tally field after reading: where it goes and what it holds.
struct Field {
    label: String,
    key: String,
    value: Value,
}

/// Parses a verified Tally delivery into a [`Signup`] keyed `tally:<eventId>`.
///
/// Any `eventType` other than `FORM_RESPONSE` is an
/// [`IntakeError::InvalidField`] (422) on `eventType`.
pub fn parse(body: &[u8], fields: &FieldMap) -> Result<Signup, IntakeError> {
    let obj = json_object(body)?;
    require_event(&obj, "eventType", SIGNUP_EVENT)?;
    let key = delivery_key(SOURCE, required_str(&obj, "eventId")?, "eventId")?;
    let data = required_object(&obj, "data")?;
    let read = read_fields(data)?;
    let (flat, map) = by_label_then_key(read, fields);
    let request = from_fields(flat, &map)?;
    Ok(Signup { key, request })
}

/// Reads `data.fields[]`, skipping fields with no name or a `null` value.
fn read_fields(data: &Map<String, Value>) -> Result<Vec<Field>, IntakeError> {
    let list = match data.get("fields") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(IntakeError::InvalidField {
                field: "fields",
                reason: "must be an array".to_string(),
            });
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for field in list {
        let Value::Object(field) = field else {
            return Err(IntakeError::InvalidField {
                field: "fields",
                reason: "every field must be an object".to_string(),
            });
        };
        let text = |k: &str| {
            field
                .get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or("")
                .to_string()
        };
        let (label, key) = (text("label"), text("key"));
        if label.is_empty() && key.is_empty() {
            continue;
        }
        let value = match field.get("value") {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => {
                let texts = resolve_options(items, field.get("options"));
                let single = SINGLE_CHOICE_TYPES.contains(&text("type").as_str());
                match texts.as_slice() {
                    [] => continue,
                    [one] if single => one.clone(),
                    _ => Value::Array(texts),
                }
            }
            Some(v) => v.clone(),
        };
        out.push(Field { label, key, value });
    }
    Ok(out)
}

/// Replaces option ids by the texts of the field's `options[]` when known;
/// other items (unknown ids, file objects) are kept as they are.
fn resolve_options(items: &[Value], options: Option<&Value>) -> Vec<Value> {
    let texts: BTreeMap<&str, &Value> = options
        .and_then(Value::as_array)
        .map(|opts| {
            opts.iter()
                .filter_map(|o| Some((o.get("id")?.as_str()?, o.get("text")?)))
                .collect()
        })
        .unwrap_or_default();
    items
        .iter()
        .filter(|v| !v.is_null())
        .map(|item| {
            item.as_str()
                .and_then(|id| texts.get(id))
                .map(|t| (*t).clone())
                .unwrap_or_else(|| item.clone())
        })
        .collect()
}

/// Names each field by its label (its key when the label is empty or already
/// used), and rewrites the map so a configured name that is no field's label
/// but some field's key points at that field. So each name is tried as a
/// label first, then as a key; a field appears once in the attributes.
fn by_label_then_key(read: Vec<Field>, fields: &FieldMap) -> (BTreeMap<String, Value>, FieldMap) {
    let mut flat = BTreeMap::new();
    let mut key_to_name: BTreeMap<String, String> = BTreeMap::new();
    let labels: BTreeSet<String> = read.iter().map(|f| f.label.clone()).collect();
    for f in read {
        let name = if !f.label.is_empty() && !flat.contains_key(&f.label) {
            f.label
        } else if !f.key.is_empty() && !flat.contains_key(&f.key) {
            f.key.clone()
        } else {
            continue;
        };
        if !f.key.is_empty() {
            key_to_name.entry(f.key).or_insert_with(|| name.clone());
        }
        flat.insert(name, f.value);
    }
    let resolve = |names: &Vec<String>| -> Vec<String> {
        names
            .iter()
            .map(|n| match key_to_name.get(n) {
                Some(target) if !labels.contains(n) => target.clone(),
                _ => n.clone(),
            })
            .collect()
    };
    let map = FieldMap {
        email: resolve(&fields.email),
        first_name: resolve(&fields.first_name),
        last_name: resolve(&fields.last_name),
        organization: resolve(&fields.organization),
        pool: resolve(&fields.pool),
        username: resolve(&fields.username),
    };
    (flat, map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::MAX_BODY_BYTES;

    const SECRET: &str = "tally-test-secret";

    pub(super) const DELIVERY: &str = r#"{
      "eventId": "a4cb511e-d513-4fa5-baee-b815d718dfd1",
      "eventType": "FORM_RESPONSE",
      "createdAt": "2026-03-02T09:30:00.000Z",
      "data": {
        "responseId": "2wgx4n", "submissionId": "2wgx4n", "respondentId": "dwQKYm",
        "formId": "VwbNEw", "formName": "ArcGIS access", "createdAt": "2026-03-02T09:29:58.000Z",
        "fields": [
          {"key": "question_mVGEg3", "label": "First name", "type": "INPUT_TEXT", "value": "Ana"},
          {"key": "question_nPxyz1", "label": "Last name", "type": "INPUT_TEXT", "value": "Lopez"},
          {"key": "question_3EKz4n", "label": "Email", "type": "INPUT_EMAIL", "value": "ana.lopez@example.org"},
          {"key": "question_w4Q9ae", "label": "Organisation", "type": "DROPDOWN",
           "value": ["8a1e6e71-0000-4000-8000-000000000001"],
           "options": [{"id": "8a1e6e71-0000-4000-8000-000000000001", "text": "Example Water Board"},
                       {"id": "8a1e6e71-0000-4000-8000-000000000002", "text": "City GIS"}]},
          {"key": "question_xyz123", "label": "Interests", "type": "CHECKBOXES",
           "value": ["o1", "o3"],
           "options": [{"id": "o1", "text": "Maps"}, {"id": "o2", "text": "Apps"}, {"id": "o3", "text": "Notebooks"}]},
          {"key": "question_num001", "label": "Team size", "type": "INPUT_NUMBER", "value": 12},
          {"key": "question_empty1", "label": "Phone", "type": "INPUT_PHONE_NUMBER", "value": null},
          {"key": "pool", "label": "", "type": "HIDDEN_FIELDS", "value": "water-board"}
        ]
      }
    }"#;

    fn secrets(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|s| Secret::new(*s)).collect()
    }

    /// Pins a mutation run found missing (issue 13): the size limit's
    /// edge (exactly {MAX_BODY_BYTES} bytes is checked, one more is too
    /// large), and a secret listed twice still verifies.
    #[test]
    fn the_size_edge_and_a_secret_listed_twice_are_pinned() {
        let secret = Secret::new("pin-test-tally-secret");
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
    fn a_signature_from_any_configured_secret_verifies() {
        let body = DELIVERY.as_bytes();
        let sig = sign(SECRET, body);
        assert_eq!(verify(Some(&sig), body, &secrets(&[SECRET])), Ok(()));
        assert_eq!(
            verify(Some(&sig), body, &secrets(&["tally-next", SECRET])),
            Ok(())
        );
    }

    #[test]
    fn the_signature_is_base64_hmac_sha256_of_the_raw_body() {
        // Computed independently: printf '%s' '{"eventId":"x"}' |
        //   openssl dgst -sha256 -hmac tally-test-secret -binary | base64
        assert_eq!(
            sign(SECRET, br#"{"eventId":"x"}"#),
            "ygsMpWm+/GnYuvxIanjXUS+3tWo2e0dOGFq5QLb04cg="
        );
    }

    #[test]
    fn a_changed_body_or_unknown_secret_is_refused() {
        let body = DELIVERY.as_bytes();
        let sig = sign(SECRET, body);
        let tampered = DELIVERY.replace("Ana", "Eve");
        assert_eq!(
            verify(Some(&sig), tampered.as_bytes(), &secrets(&[SECRET])),
            Err(IntakeError::BadSignature)
        );
        assert_eq!(
            verify(Some(&sig), body, &secrets(&["other"])),
            Err(IntakeError::BadSignature)
        );
    }

    #[test]
    fn missing_or_malformed_headers_and_empty_config_are_refused() {
        let body = DELIVERY.as_bytes();
        let s = secrets(&[SECRET]);
        assert_eq!(
            verify(None, body, &s),
            Err(IntakeError::MissingHeader(SIGNATURE_HEADER))
        );
        for bad in [
            "",
            "!!!",
            "QUJD",
            "sha256=ygsMpWm+/GnYuvxIanjXUS+3tWo2e0dOGFq5QLb04cg=",
        ] {
            assert_eq!(
                verify(Some(bad), body, &s),
                Err(IntakeError::InvalidCredential(SIGNATURE_HEADER)),
                "{bad}"
            );
        }
        let sig = sign(SECRET, body);
        assert_eq!(
            verify(Some(&sig), body, &[]),
            Err(IntakeError::SourceNotConfigured)
        );
        assert_eq!(
            verify(Some(&sig), body, &secrets(&[""])),
            Err(IntakeError::SourceNotConfigured)
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(verify(Some(&sig), &big, &s), Err(IntakeError::BodyTooLarge));
    }

    #[test]
    fn a_full_response_is_normalised_by_label_then_key() {
        let s = parse(DELIVERY.as_bytes(), &default_fields()).unwrap();
        assert_eq!(
            s.key.as_string(),
            "tally:a4cb511e-d513-4fa5-baee-b815d718dfd1"
        );
        let r = s.request;
        assert_eq!(r.email.as_str(), "ana.lopez@example.org");
        assert_eq!(r.first_name.as_deref(), Some("Ana"));
        assert_eq!(r.last_name.as_deref(), Some("Lopez"));
        // A dropdown's option id is turned into its text.
        assert_eq!(r.organization.as_deref(), Some("Example Water Board"));
        // A hidden field with no label is found by its key.
        assert_eq!(r.pool.as_deref(), Some("water-board"));
        let a = &r.attributes;
        assert_eq!(
            a.get("Interests"),
            Some(&serde_json::json!(["Maps", "Notebooks"]))
        );
        assert_eq!(a.get("Team size"), Some(&Value::from(12)));
        assert!(!a.contains_key("Phone"));
        assert_eq!(a.len(), 2, "{a:?}");
    }

    #[test]
    fn a_configured_key_finds_a_labelled_field() {
        let map = FieldMap {
            email: vec!["question_3EKz4n".to_string()],
            ..FieldMap::default()
        }
        .or(&default_fields());
        let body = DELIVERY.replace(r#""label": "Email""#, r#""label": "Your work e-mail""#);
        let r = parse(body.as_bytes(), &map).unwrap().request;
        assert_eq!(r.email.as_str(), "ana.lopez@example.org");
        assert!(!r.attributes.contains_key("Your work e-mail"));
    }

    #[test]
    fn a_label_wins_over_a_key_of_the_same_name() {
        let body = r#"{"eventId":"e1","eventType":"FORM_RESPONSE","data":{"fields":[
            {"key":"Email","label":"Backup address","type":"INPUT_EMAIL","value":"old@example.org"},
            {"key":"question_a","label":"Email","type":"INPUT_EMAIL","value":"new@example.org"}]}}"#;
        let r = parse(body.as_bytes(), &default_fields()).unwrap().request;
        assert_eq!(r.email.as_str(), "new@example.org");
    }

    #[test]
    fn unknown_option_ids_and_file_uploads_are_kept_as_they_are() {
        let body = r#"{"eventId":"e1","eventType":"FORM_RESPONSE","data":{"fields":[
            {"key":"k1","label":"Email","type":"INPUT_EMAIL","value":"a@example.org"},
            {"key":"k2","label":"Choice","type":"MULTIPLE_CHOICE","value":["zz"],"options":[{"id":"o1","text":"A"}]},
            {"key":"k3","label":"CV","type":"FILE_UPLOAD","value":[{"id":"f","name":"cv.pdf","url":"https://x"}]}]}}"#;
        let r = parse(body.as_bytes(), &default_fields()).unwrap().request;
        assert_eq!(r.attributes.get("Choice"), Some(&Value::from("zz")));
        assert_eq!(
            r.attributes.get("CV"),
            Some(&serde_json::json!([{"id":"f","name":"cv.pdf","url":"https://x"}]))
        );
    }

    #[test]
    fn other_event_types_are_a_clear_invalid_field() {
        let body = DELIVERY.replace("FORM_RESPONSE", "FORM_DELETED");
        let err = parse(body.as_bytes(), &default_fields()).unwrap_err();
        assert_eq!(err.code(), "invalid_field");
        assert_eq!(err.status(), 422);
        assert!(err.to_string().contains("eventType"), "{err}");
    }

    #[test]
    fn bad_bodies_get_stable_codes() {
        let cases: &[(&str, &str)] = &[
            ("not json", "malformed_body"),
            ("\"FORM_RESPONSE\"", "malformed_body"),
            (r#"{"eventId":"x"}"#, "missing_field"),
            (r#"{"eventType":"FORM_RESPONSE"}"#, "missing_field"),
            (
                r#"{"eventType":"FORM_RESPONSE","eventId":[]}"#,
                "invalid_field",
            ),
            (
                r#"{"eventType":"FORM_RESPONSE","eventId":"x"}"#,
                "missing_field",
            ),
            (
                r#"{"eventType":"FORM_RESPONSE","eventId":"x","data":[]}"#,
                "invalid_field",
            ),
            (
                r#"{"eventType":"FORM_RESPONSE","eventId":"x","data":{"fields":{}}}"#,
                "invalid_field",
            ),
            (
                r#"{"eventType":"FORM_RESPONSE","eventId":"x","data":{"fields":["a"]}}"#,
                "invalid_field",
            ),
            (
                r#"{"eventType":"FORM_RESPONSE","eventId":"x","data":{"fields":[]}}"#,
                "missing_field",
            ),
            (
                r#"{"eventType":"FORM_RESPONSE","eventId":"x","data":{"fields":[{"label":"Email","value":"nobody"}]}}"#,
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
        let s = secrets(&[SECRET]);
        let mut keys = Vec::new();
        for name in ["tally-signup", "tally-replay"] {
            let (h, body, _) = fixture(name);
            verify(h[SIGNATURE_HEADER].as_str(), &body, &s).unwrap();
            let got = parse(&body, &default_fields()).unwrap();
            assert_eq!(got.request.email.as_str(), "bo.chen@city.example");
            assert_eq!(
                got.request.organization.as_deref(),
                Some("City of Example GIS")
            );
            keys.push(got.key);
        }
        assert_eq!(keys[0], keys[1]);
        let (h, body, _) = fixture("tally-bad-signature");
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
        let mut rng = rand::rngs::StdRng::seed_from_u64(31);
        let secrets = [Secret::new("tally-test-secret")];
        let pieces: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b":",
            b",",
            b"\"eventType\":\"FORM_RESPONSE\"",
            b"\"eventId\":\"e1\"",
            b"\"data\":",
            b"\"fields\":",
            b"{\"label\":\"Email\",\"value\":\"a@b.org\"}",
            b"{\"key\":\"k\",\"type\":\"DROPDOWN\",\"value\":[\"o\"],\"options\":[{\"id\":\"o\",\"text\":null}]}",
            b"\"options\":",
            b"\"value\"",
            b"\"label\"",
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
            match verify(Some(&junk), &body, &secrets) {
                Err(e) => assert!((400..500).contains(&e.status()), "{e:?}"),
                Ok(()) => panic!("a random signature verified"),
            }
        }
    }

    #[test]
    fn mutated_deliveries_are_parsed_or_refused_cleanly() {
        mutate_and_parse(super::tests::DELIVERY, 33, |body| {
            if let Err(e) = parse(body, &default_fields()) {
                assert!((400..500).contains(&e.status()), "{e:?}");
            }
        });
    }
}

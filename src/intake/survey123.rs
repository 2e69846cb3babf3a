//! The ArcGIS Survey123 intake adapter (webhook-sources.md §1).
//!
//! Survey123 webhooks cannot be signed and carry no secret header, so the
//! route is `/webhooks/survey123/{token}` with a long, unguessable token per
//! source, checked by [`verify_token`] in constant time. The body is
//! `{eventType, feature: {attributes, result, …}, surveyInfo: {serviceUrl},
//! …}`; applicant data are `feature.attributes.<question name>`.
//!
//! Only `addData` is a sign-up. `editData` (an edited record, e.g. an
//! approver changing a status field) is [`Survey123Event::Ignored`] so the
//! route can answer 2xx without acting. The idempotency key is
//! `survey123:<globalid>`, braces stripped and lower-cased.
//!
//! Because the token is the only proof, a route may re-read the record by
//! `globalid` from the survey's feature layer with its own credentials
//! (`layer_url` in the source's settings): [`record_ref`] extracts which
//! record and which service the payload claims, and [`signup_from_record`]
//! maps the re-read record like [`parse`] maps the payload. This module does
//! no network I/O, and never turns a payload URL into a place to send a
//! token: the payload's service URL is only compared with the configured one.

use serde_json::{Map, Value};

use super::{
    FieldMap, IntakeError, Signup, delivery_key, from_fields, json_object, required_object,
    static_secret_matches,
};
use crate::config::Secret;
use crate::domain::layer_url::globalid_literal;

/// The source name in delivery keys (`survey123:<globalid>`).
pub const SOURCE: &str = "survey123";

/// The only `eventType` that is a sign-up.
pub const SIGNUP_EVENT: &str = "addData";

/// The `eventType` of an edited record: acknowledged, not acted on.
pub const EDIT_EVENT: &str = "editData";

/// The field map used when the source configures none: common question
/// names.
pub fn default_fields() -> FieldMap {
    FieldMap::of(
        &["email", "e_mail", "email_address"],
        &["first_name", "firstname", "given_name"],
        &["last_name", "lastname", "surname"],
        &["organization", "organisation", "org"],
        &["pool"],
    )
}

/// Checks the token from the route's path against the configured ones, in
/// constant time. No (non-empty) token configured is
/// [`IntakeError::SourceNotConfigured`]; a wrong or empty token is
/// [`IntakeError::BadSignature`] (401).
pub fn verify_token(path_token: &str, configured: &[Secret]) -> Result<(), IntakeError> {
    if configured.iter().all(|s| s.expose().is_empty()) {
        return Err(IntakeError::SourceNotConfigured);
    }
    if static_secret_matches(path_token, configured) {
        Ok(())
    } else {
        Err(IntakeError::BadSignature)
    }
}

/// What a verified Survey123 delivery asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Survey123Event {
    /// A new record (`addData`): a sign-up to process.
    Signup(Signup),
    /// A delivery that is not a sign-up (`editData`); answer 2xx and do
    /// nothing, so Survey123 does not retry it.
    Ignored {
        /// Why, for the log and the answer (fixed text, no payload content).
        reason: &'static str,
    },
}

/// The kind of a Survey123 delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// `addData`: a new record.
    Add,
    /// `editData`: an edited record.
    Edit,
}

/// The `eventType` of a delivery: `addData` or `editData`; absent is
/// [`IntakeError::MissingField`], anything else [`IntakeError::InvalidField`]
/// (422).
pub fn event_type(body: &[u8]) -> Result<EventType, IntakeError> {
    event_type_of(&json_object(body)?)
}

fn event_type_of(obj: &Map<String, Value>) -> Result<EventType, IntakeError> {
    match obj.get("eventType") {
        None | Some(Value::Null) => Err(IntakeError::MissingField("eventType")),
        Some(Value::String(t)) if t == SIGNUP_EVENT => Ok(EventType::Add),
        Some(Value::String(t)) if t == EDIT_EVENT => Ok(EventType::Edit),
        Some(_) => Err(IntakeError::InvalidField {
            field: "eventType",
            reason: format!("only {SIGNUP_EVENT} is a sign-up ({EDIT_EVENT} is ignored)"),
        }),
    }
}

/// What an `editData` is answered with on the sign-up route.
const EDIT_IGNORED: Survey123Event = Survey123Event::Ignored {
    reason: "editData: an edited record is not a sign-up",
};

/// Parses a verified Survey123 delivery.
///
/// `addData` yields [`Survey123Event::Signup`] keyed `survey123:<globalid>`;
/// `editData` yields [`Survey123Event::Ignored`]; any other `eventType` is an
/// [`IntakeError::InvalidField`] (422).
pub fn parse(body: &[u8], fields: &FieldMap) -> Result<Survey123Event, IntakeError> {
    let obj = json_object(body)?;
    if event_type_of(&obj)? == EventType::Edit {
        return Ok(EDIT_IGNORED);
    }
    let feature = required_object(&obj, "feature")?;
    let mut attributes = required_object(feature, "attributes")?.clone();
    let raw_id = take_globalid(&mut attributes)
        .or_else(|| result_globalid(feature))
        .ok_or(IntakeError::MissingField("globalid"))?;
    let id = checked_globalid(&raw_id)?;
    let key = delivery_key(SOURCE, &id, "globalid")?;
    let request = from_fields(attributes.into_iter().collect(), fields)?;
    Ok(Survey123Event::Signup(Signup { key, request }))
}

/// The record a delivery names, for re-reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRef {
    /// The record's globalid, normalised as in the key (lower case, no
    /// braces): always a GUID.
    pub globalid: String,
    /// `surveyInfo.serviceUrl` as sent (trimmed), when present. Not trusted:
    /// only ever compared with the configured layer's service.
    pub service_url: Option<String>,
}

/// Which record a verified delivery (`addData` or `editData`) names:
/// `feature.attributes.globalid` (any letter case) or
/// `feature.result.globalId`, and the claimed `surveyInfo.serviceUrl`.
/// The payload's other attributes are not read.
pub fn record_ref(body: &[u8]) -> Result<RecordRef, IntakeError> {
    let obj = json_object(body)?;
    let feature = required_object(&obj, "feature")?;
    let mut attributes = match feature.get("attributes") {
        Some(Value::Object(a)) => a.clone(),
        _ => Map::new(),
    };
    let raw_id = take_globalid(&mut attributes)
        .or_else(|| result_globalid(feature))
        .ok_or(IntakeError::MissingField("globalid"))?;
    let globalid = checked_globalid(&raw_id)?;
    let service_url = match obj.get("surveyInfo").and_then(|i| i.get("serviceUrl")) {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => Some(u.trim().to_string()),
        Some(_) => {
            return Err(IntakeError::InvalidField {
                field: "surveyInfo.serviceUrl",
                reason: "must be a string".to_string(),
            });
        }
    };
    Ok(RecordRef {
        globalid,
        service_url,
    })
}

/// A sign-up from a record re-read from the survey's layer (its attributes
/// by field name), mapped with the same [`FieldMap`] as [`parse`] and keyed
/// `survey123:<globalid>` like the delivery that named it. `globalid` is
/// the [`RecordRef::globalid`] the record was read by.
pub fn signup_from_record(
    globalid: &str,
    mut record: Map<String, Value>,
    fields: &FieldMap,
) -> Result<Signup, IntakeError> {
    let id = checked_globalid(globalid)?;
    // The layer's own id field is not an applicant attribute.
    let _ = take_globalid(&mut record);
    // Why: who edited the record last, and when, changes with every edit
    // (an approver's, a correction's); kept, it would make Survey123's
    // retry of an answered delivery look like another body.
    record.retain(|k, _| {
        !EDIT_TRACKING_FIELDS
            .iter()
            .any(|f| k.eq_ignore_ascii_case(f))
    });
    let key = delivery_key(SOURCE, &id, "globalid")?;
    let request = from_fields(record.into_iter().collect(), fields)?;
    Ok(Signup { key, request })
}

/// The editor-tracking fields of a hosted layer that change with every
/// edit; not part of a re-read sign-up.
const EDIT_TRACKING_FIELDS: &[&str] = &["EditDate", "Editor"];

/// [`normalise_globalid`] or the `invalid_field` refusal.
fn checked_globalid(raw: &str) -> Result<String, IntakeError> {
    normalise_globalid(raw).ok_or_else(|| IntakeError::InvalidField {
        field: "globalid",
        reason: "not a GUID".to_string(),
    })
}

/// Removes the `globalid` attribute (any letter case: layers differ) and
/// returns it when it is a string.
fn take_globalid(attributes: &mut Map<String, Value>) -> Option<String> {
    let name = attributes
        .keys()
        .find(|k| k.eq_ignore_ascii_case("globalid"))?
        .clone();
    match attributes.remove(&name)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// `feature.result.globalId`, the applyEdits result, when attributes lack it.
fn result_globalid(feature: &Map<String, Value>) -> Option<String> {
    let result = feature.get("result")?.as_object()?;
    result
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("globalid"))?
        .1
        .as_str()
        .map(str::to_string)
}

/// `{7D1E0C5A-…}` → `7d1e0c5a-…`; `None` unless the result is a GUID
/// (8-4-4-4-12 hex digits), so it is safe in a query's `where` clause. The
/// shape check is the one the layer query uses ([`globalid_literal`]).
fn normalise_globalid(raw: &str) -> Option<String> {
    globalid_literal(raw).map(|braced| {
        braced
            .trim_start_matches('{')
            .trim_end_matches('}')
            .to_ascii_lowercase()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s123-test-token-0000-not-a-real-secret";

    // The sample payload of webhook-sources.md §1.
    pub(super) const DELIVERY: &str = r#"{
      "eventType": "addData",
      "feature": {
        "attributes": {"objectid": 42, "globalid": "{7D1E0C5A-1111-4222-8333-944455566677}",
                       "first_name": "Ana", "last_name": "Lopez", "email": "ana.lopez@example.org",
                       "organisation": "Example Water Board", "requested_role": "viewer"},
        "geometry": null, "layerInfo": {"id": 0, "name": "survey", "type": "Feature Layer"},
        "result": {"objectId": 42, "globalId": "{7D1E0C5A-1111-4222-8333-944455566677}", "success": true}
      },
      "surveyInfo": {"formItemId": "0123456789abcdef0123456789abcdef", "formTitle": "GIS access request",
                     "serviceItemId": "fedcba9876543210fedcba9876543210",
                     "serviceUrl": "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer"},
      "portalInfo": {"url": "https://www.arcgis.com", "token": "<submitter token, redacted>"},
      "userInfo": {"username": "jsmith_exorg", "firstName": "Jo", "lastName": "Smith",
                   "fullName": "Jo Smith", "email": "jo.smith@example.org"}
    }"#;

    fn secrets(list: &[&str]) -> Vec<Secret> {
        list.iter().map(|s| Secret::new(*s)).collect()
    }

    fn signup(body: &str) -> Signup {
        match parse(body.as_bytes(), &default_fields()).unwrap() {
            Survey123Event::Signup(s) => s,
            other => panic!("expected a sign-up, got {other:?}"),
        }
    }

    #[test]
    fn the_configured_token_is_accepted_and_others_refused() {
        assert_eq!(verify_token(TOKEN, &secrets(&[TOKEN])), Ok(()));
        assert_eq!(verify_token(TOKEN, &secrets(&["old-token", TOKEN])), Ok(()));
        for bad in [
            "",
            "s123-test-token",
            "S123-TEST-TOKEN-0000-NOT-A-REAL-SECRET",
        ] {
            let err = verify_token(bad, &secrets(&[TOKEN])).unwrap_err();
            assert_eq!(err, IntakeError::BadSignature);
            assert_eq!(err.status(), 401);
        }
    }

    #[test]
    fn no_configured_token_means_the_source_is_off() {
        assert_eq!(
            verify_token(TOKEN, &[]),
            Err(IntakeError::SourceNotConfigured)
        );
        assert_eq!(
            verify_token("", &secrets(&[""])),
            Err(IntakeError::SourceNotConfigured)
        );
    }

    #[test]
    fn the_documented_sample_is_normalised() {
        let s = signup(DELIVERY);
        assert_eq!(
            s.key.as_string(),
            "survey123:7d1e0c5a-1111-4222-8333-944455566677"
        );
        let r = s.request;
        assert_eq!(r.email.as_str(), "ana.lopez@example.org");
        assert_eq!(r.first_name.as_deref(), Some("Ana"));
        assert_eq!(r.last_name.as_deref(), Some("Lopez"));
        assert_eq!(r.organization.as_deref(), Some("Example Water Board"));
        assert_eq!(r.pool, None);
        assert_eq!(
            r.attributes.get("requested_role"),
            Some(&Value::from("viewer"))
        );
        assert_eq!(r.attributes.get("objectid"), Some(&Value::from(42)));
        assert!(!r.attributes.contains_key("globalid"));
        // userInfo (the submitter) is not the applicant.
        assert!(!r.attributes.values().any(|v| v == "jo.smith@example.org"));
    }

    #[test]
    fn a_configured_map_reads_other_question_names() {
        let map = FieldMap {
            email: vec!["contact_mail".to_string()],
            pool: vec!["seat_pool".to_string()],
            ..FieldMap::default()
        }
        .or(&default_fields());
        let body = DELIVERY
            .replace(r#""email":"#, r#""contact_mail":"#)
            .replace(r#""requested_role""#, r#""seat_pool""#);
        let Survey123Event::Signup(s) = parse(body.as_bytes(), &map).unwrap() else {
            panic!("expected a sign-up");
        };
        assert_eq!(s.request.email.as_str(), "ana.lopez@example.org");
        assert_eq!(s.request.pool.as_deref(), Some("viewer"));
        // The default names find nothing under the new question name.
        let err = parse(body.as_bytes(), &default_fields()).unwrap_err();
        assert_eq!(err.code(), "missing_field");
    }

    #[test]
    fn the_key_comes_from_the_result_when_attributes_lack_it() {
        let body = DELIVERY.replacen(
            r#""globalid": "{7D1E0C5A-1111-4222-8333-944455566677}","#,
            "",
            1,
        );
        assert_eq!(signup(&body).key.id, "7d1e0c5a-1111-4222-8333-944455566677");
        let upper = DELIVERY.replace(r#""globalid":"#, r#""GlobalID":"#);
        assert_eq!(
            signup(&upper).key.id,
            "7d1e0c5a-1111-4222-8333-944455566677"
        );
    }

    #[test]
    fn an_edit_is_ignored_not_refused() {
        let body = DELIVERY.replace("addData", "editData");
        let got = parse(body.as_bytes(), &default_fields()).unwrap();
        assert!(matches!(got, Survey123Event::Ignored { reason } if reason.contains("editData")));
        // Even an edit with no usable record is only ignored.
        let bare = parse(br#"{"eventType":"editData"}"#, &default_fields()).unwrap();
        assert!(matches!(bare, Survey123Event::Ignored { .. }));
    }

    #[test]
    fn other_event_types_are_a_clear_invalid_field() {
        let body = DELIVERY.replace("addData", "deleteData");
        let err = parse(body.as_bytes(), &default_fields()).unwrap_err();
        assert_eq!(err.code(), "invalid_field");
        assert_eq!(err.status(), 422);
        assert!(err.to_string().contains("eventType"), "{err}");
    }

    #[test]
    fn a_globalid_that_is_no_guid_is_refused() {
        for bad in [
            "{7D1E0C5A-1111-4222-8333-94445556667}",
            "7d1e0c5a' OR 1=1 --",
            "{}",
            "7d1e0c5a111142228333944455566677",
        ] {
            let body = DELIVERY.replace("{7D1E0C5A-1111-4222-8333-944455566677}", bad);
            let err = parse(body.as_bytes(), &default_fields()).unwrap_err();
            assert_eq!(err.code(), "invalid_field", "{bad}");
            assert!(!err.to_string().contains("OR 1=1"));
            let err = record_ref(body.as_bytes()).unwrap_err();
            assert_eq!(err.code(), "invalid_field", "{bad}");
        }
    }

    #[test]
    fn bad_bodies_get_stable_codes() {
        let cases: &[(&str, &str)] = &[
            ("not json", "malformed_body"),
            ("[]", "malformed_body"),
            ("{}", "missing_field"),
            (r#"{"eventType":7}"#, "invalid_field"),
            (r#"{"eventType":"addData"}"#, "missing_field"),
            (r#"{"eventType":"addData","feature":[]}"#, "invalid_field"),
            (r#"{"eventType":"addData","feature":{}}"#, "missing_field"),
            (
                r#"{"eventType":"addData","feature":{"attributes":"x"}}"#,
                "invalid_field",
            ),
            (
                r#"{"eventType":"addData","feature":{"attributes":{"email":"a@b.org"}}}"#,
                "missing_field",
            ),
            (
                r#"{"eventType":"addData","feature":{"attributes":{"globalid":7,"email":"a@b.org"}}}"#,
                "missing_field",
            ),
            (
                r#"{"eventType":"addData","feature":{"attributes":{"globalid":"{7D1E0C5A-1111-4222-8333-944455566677}"}}}"#,
                "missing_field",
            ),
            (
                r#"{"eventType":"addData","feature":{"attributes":{"globalid":"{7D1E0C5A-1111-4222-8333-944455566677}","email":"x"}}}"#,
                "invalid_field",
            ),
        ];
        for (body, code) in cases {
            let err = parse(body.as_bytes(), &default_fields()).unwrap_err();
            assert_eq!(err.code(), *code, "{body}: {err}");
        }
        let big = vec![b' '; crate::intake::MAX_BODY_BYTES + 1];
        assert_eq!(
            parse(&big, &default_fields()).unwrap_err().code(),
            "payload_too_large"
        );
    }

    #[test]
    fn the_record_reference_names_the_service_and_globalid() {
        assert_eq!(
            record_ref(DELIVERY.as_bytes()),
            Ok(RecordRef {
                globalid: "7d1e0c5a-1111-4222-8333-944455566677".to_string(),
                service_url: Some(
                    "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer"
                        .to_string()
                ),
            })
        );
        // Present for an edit too: an approval flow re-reads edited records.
        let edit = DELIVERY.replace("addData", "editData");
        assert!(record_ref(edit.as_bytes()).is_ok());
        assert_eq!(event_type(edit.as_bytes()), Ok(EventType::Edit));
        assert_eq!(event_type(DELIVERY.as_bytes()), Ok(EventType::Add));
    }

    #[test]
    fn the_service_url_is_carried_as_sent_and_a_globalid_is_required() {
        let url = "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer";
        // Whatever it says, it is only compared with the configured layer.
        let body = DELIVERY.replace(url, " http://evil.example/FeatureServer ");
        assert_eq!(
            record_ref(body.as_bytes()).unwrap().service_url.as_deref(),
            Some("http://evil.example/FeatureServer")
        );
        let body = DELIVERY.replace(&format!("\"{url}\""), "7");
        assert_eq!(
            record_ref(body.as_bytes()).unwrap_err().code(),
            "invalid_field"
        );
        let no_survey_info = r#"{"eventType":"addData","feature":{"attributes":{"globalid":"{7D1E0C5A-1111-4222-8333-944455566677}"}}}"#;
        assert_eq!(
            record_ref(no_survey_info.as_bytes()).unwrap().service_url,
            None
        );
        // The payload's attributes are not needed: no e-mail, still a reference.
        let from_result = r#"{"eventType":"addData","feature":{"result":{"globalId":"{7D1E0C5A-1111-4222-8333-944455566677}"}}}"#;
        assert!(record_ref(from_result.as_bytes()).is_ok());
        assert_eq!(record_ref(b"{}").unwrap_err().code(), "missing_field");
        assert_eq!(
            record_ref(br#"{"feature":{"attributes":{}}}"#)
                .unwrap_err()
                .code(),
            "missing_field"
        );
        assert_eq!(record_ref(b"\xff").unwrap_err().code(), "malformed_body");
    }

    #[test]
    fn a_re_read_record_is_mapped_like_a_payload_and_keyed_by_its_globalid() {
        let record: Map<String, Value> = serde_json::from_str(
            r#"{"objectid": 42, "globalid": "{7D1E0C5A-1111-4222-8333-944455566677}",
                "email": "ana.lopez@example.org", "first_name": "Ana", "pool": "field",
                "Editor": "jsmith_exorg", "EditDate": 1767225600000}"#,
        )
        .unwrap();
        let s = signup_from_record(
            "7d1e0c5a-1111-4222-8333-944455566677",
            record.clone(),
            &default_fields(),
        )
        .unwrap();
        assert_eq!(
            s.key.as_string(),
            "survey123:7d1e0c5a-1111-4222-8333-944455566677"
        );
        assert_eq!(s.request.email.as_str(), "ana.lopez@example.org");
        assert_eq!(s.request.pool.as_deref(), Some("field"));
        assert!(!s.request.attributes.contains_key("globalid"));
        assert!(!s.request.attributes.contains_key("Editor"));
        assert!(!s.request.attributes.contains_key("EditDate"));
        assert_eq!(s.request.attributes.get("objectid"), Some(&Value::from(42)));
        let mut no_mail = record;
        no_mail.remove("email");
        let err = signup_from_record(
            "7d1e0c5a-1111-4222-8333-944455566677",
            no_mail,
            &default_fields(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "missing_field");
        assert_eq!(
            signup_from_record("x' OR 1=1", Map::new(), &default_fields())
                .unwrap_err()
                .code(),
            "invalid_field"
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
        let s = secrets(&[TOKEN]);
        let mut keys = Vec::new();
        for name in ["survey123-signup", "survey123-replay"] {
            let (_, body, params) = fixture(name);
            verify_token(params["token"].as_str().unwrap(), &s).unwrap();
            let Survey123Event::Signup(got) = parse(&body, &default_fields()).unwrap() else {
                panic!("expected a sign-up");
            };
            assert_eq!(got.request.email.as_str(), "cai.moreno@contractors.example");
            assert_eq!(got.request.pool.as_deref(), Some("field"));
            keys.push(got.key);
        }
        assert_eq!(keys[0], keys[1]);
        let (_, body, params) = fixture("survey123-bad-token");
        assert_eq!(
            verify_token(params["token"].as_str().unwrap(), &s),
            Err(IntakeError::BadSignature)
        );
        assert!(record_ref(&body).is_ok());
        let (_, body, params) = fixture("survey123-edit");
        verify_token(params["token"].as_str().unwrap(), &s).unwrap();
        assert!(matches!(
            parse(&body, &default_fields()),
            Ok(Survey123Event::Ignored { .. })
        ));
    }
}

#[cfg(test)]
mod random_inputs {
    use super::*;
    use crate::intake::fuzz_support::mutate_and_parse;
    use rand::{Rng as _, SeedableRng as _};

    /// Random bodies and tokens never panic; every refusal is a 4xx.
    #[test]
    fn random_bodies_and_tokens_are_refused_cleanly() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(41);
        let configured = [Secret::new("s123-test-token-0000-not-a-real-secret")];
        let pieces: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b":",
            b",",
            b"\"eventType\":\"addData\"",
            b"\"eventType\":\"editData\"",
            b"\"feature\":",
            b"\"attributes\":",
            b"\"result\":",
            b"\"globalid\":\"{7D1E0C5A-1111-4222-8333-944455566677}\"",
            b"\"globalId\":\"{\"",
            b"\"email\":\"a@b.org\"",
            b"\"surveyInfo\":{\"serviceUrl\":\"https://x.example/FeatureServer\"}",
            b"\"serviceUrl\"",
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
            if let Err(e) = record_ref(&body) {
                assert!((400..500).contains(&e.status()), "{e:?}");
            }
            let junk: String = (0..rng.random_range(0..60))
                .map(|_| char::from(rng.random_range(32u8..127)))
                .collect();
            match verify_token(&junk, &configured) {
                Err(e) => assert!((400..500).contains(&e.status()), "{e:?}"),
                Ok(()) => panic!("a random token verified"),
            }
        }
    }

    #[test]
    fn mutated_deliveries_are_parsed_or_refused_cleanly() {
        mutate_and_parse(super::tests::DELIVERY, 43, |body| {
            if let Err(e) = parse(body, &default_fields()) {
                assert!((400..500).contains(&e.status()), "{e:?}");
            }
            match record_ref(body) {
                Ok(r) => assert_eq!(r.globalid.len(), 36),
                Err(e) => assert!((400..500).contains(&e.status()), "{e:?}"),
            }
        });
    }
}

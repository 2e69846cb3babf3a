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
//! `globalid` from the survey's feature service with its own credentials:
//! [`record_ref`] extracts where to look (this module does no network I/O).

use serde_json::{Map, Value};

use super::{
    FieldMap, IntakeError, Signup, delivery_key, from_fields, json_object, required_object,
    static_secret_matches,
};
use crate::config::Secret;

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

/// Parses a verified Survey123 delivery.
///
/// `addData` yields [`Survey123Event::Signup`] keyed `survey123:<globalid>`;
/// `editData` yields [`Survey123Event::Ignored`]; any other `eventType` is an
/// [`IntakeError::InvalidField`] (422).
pub fn parse(body: &[u8], fields: &FieldMap) -> Result<Survey123Event, IntakeError> {
    let obj = json_object(body)?;
    match obj.get("eventType") {
        None | Some(Value::Null) => return Err(IntakeError::MissingField("eventType")),
        Some(Value::String(t)) if t == SIGNUP_EVENT => {}
        Some(Value::String(t)) if t == EDIT_EVENT => {
            return Ok(Survey123Event::Ignored {
                reason: "editData: an edited record is not a sign-up",
            });
        }
        Some(_) => {
            return Err(IntakeError::InvalidField {
                field: "eventType",
                reason: format!("only {SIGNUP_EVENT} is a sign-up ({EDIT_EVENT} is ignored)"),
            });
        }
    }
    let feature = required_object(&obj, "feature")?;
    let mut attributes = required_object(feature, "attributes")?.clone();
    let raw_id = take_globalid(&mut attributes)
        .or_else(|| result_globalid(feature))
        .ok_or(IntakeError::MissingField("globalid"))?;
    let id = normalise_globalid(&raw_id).ok_or_else(|| IntakeError::InvalidField {
        field: "globalid",
        reason: "not a GUID".to_string(),
    })?;
    let key = delivery_key(SOURCE, &id, "globalid")?;
    let request = from_fields(attributes.into_iter().collect(), fields)?;
    Ok(Survey123Event::Signup(Signup { key, request }))
}

/// Where the submitted record can be re-read: `(surveyInfo.serviceUrl,
/// globalid)`, the URL an `https` feature-service URL without credentials,
/// query or trailing slash, and the globalid normalised as in the key.
/// `None` when the body lacks either or they are unusable. The route still
/// must check the host against the portal it trusts before sending a token.
pub fn record_ref(body: &[u8]) -> Option<(String, String)> {
    let obj = json_object(body).ok()?;
    let raw_url = obj.get("surveyInfo")?.get("serviceUrl")?.as_str()?.trim();
    let url = url::Url::parse(raw_url).ok()?;
    if url.scheme() != "https"
        || url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return None;
    }
    let service_url = url.as_str().trim_end_matches('/').to_string();
    let feature = obj.get("feature")?.as_object()?;
    let mut attributes = feature
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let raw_id = take_globalid(&mut attributes).or_else(|| result_globalid(feature))?;
    Some((service_url, normalise_globalid(&raw_id)?))
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
/// (8-4-4-4-12 hex digits), so it is safe in a query's `where` clause.
fn normalise_globalid(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(trimmed);
    let id = inner.to_ascii_lowercase();
    let groups: Vec<&str> = id.split('-').collect();
    let shape_ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    shape_ok.then_some(id)
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
            assert_eq!(record_ref(body.as_bytes()), None, "{bad}");
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
            Some((
                "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer"
                    .to_string(),
                "7d1e0c5a-1111-4222-8333-944455566677".to_string()
            ))
        );
        // Present for an edit too: an approval flow re-reads edited records.
        let edit = DELIVERY.replace("addData", "editData");
        assert!(record_ref(edit.as_bytes()).is_some());
    }

    #[test]
    fn unsafe_or_missing_service_urls_give_no_record_reference() {
        let url = "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer";
        for bad in [
            "http://services9.arcgis.com/x/FeatureServer",
            "https://user:pw@evil.example/FeatureServer",
            "https://services9.arcgis.com/x/FeatureServer?token=abc",
            "file:///etc/passwd",
            "not a url",
        ] {
            let body = DELIVERY.replace(url, bad);
            assert_eq!(record_ref(body.as_bytes()), None, "{bad}");
        }
        assert_eq!(record_ref(b"{}"), None);
        assert_eq!(record_ref(b"\xff"), None);
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
        assert!(record_ref(&body).is_some());
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
            let _ = record_ref(&body);
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
            if let Some((url, id)) = record_ref(body) {
                assert!(url.starts_with("https://"));
                assert_eq!(id.len(), 36);
            }
        });
    }
}

//! The Entra `OnAttributeCollectionSubmit` adapter over real HTTP: a test
//! JWKS server on 127.0.0.1:0 serves TEST-ONLY RSA keys
//! (`tests/fixtures/entra/`), tokens are minted here, and the verifier
//! fetches, caches and refreshes keys as in production.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use agol_seat_broker::intake::entra::{
    self, Claims, ENTRA_SERVICE_APP_ID, EntraConfig, EntraVerifier, JwksPolicy, SubmitAction,
    TokenRejection,
};
use agol_seat_broker::intake::{FieldMap, IntakeError, MAX_BODY_BYTES};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// 2026-03-02T09:30:00Z, in milliseconds.
const NOW: i64 = 1_772_443_800_000;
const NOW_S: i64 = NOW / 1000;

#[path = "support/entra_keys.rs"]
mod entra_keys;
use entra_keys::{AUDIENCE, ISSUER, JwksServer, TENANT_ID, bearer, jwk, jwks, mint};

/// Claims as Entra puts them in a v2 custom-extension token.
fn good_claims() -> Value {
    entra_keys::claims_at(NOW_S)
}

/// A token with an arbitrary JOSE header and signature bytes.
fn forge(header: &Value, claims: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string()),
        B64URL.encode(sig)
    )
}

trait Verifiers {
    fn verifier(&self) -> EntraVerifier;
    fn verifier_with(&self, policy: JwksPolicy) -> EntraVerifier;
}

impl Verifiers for JwksServer {
    fn verifier(&self) -> EntraVerifier {
        self.verifier_with(JwksPolicy::default())
    }

    fn verifier_with(&self, policy: JwksPolicy) -> EntraVerifier {
        EntraVerifier::with_policy(EntraConfig::new(&self.url, ISSUER, AUDIENCE), policy).unwrap()
    }
}

async fn key1_server() -> JwksServer {
    JwksServer::start(jwks(&[(1, "k1")])).await
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

// ---------- validation ----------

#[tokio::test]
async fn a_valid_token_yields_its_claims() {
    let server = key1_server().await;
    let token = mint(1, "k1", &good_claims());
    let claims: Claims = server
        .verifier()
        .verify(Some(&bearer(&token)), NOW)
        .await
        .unwrap();
    assert_eq!(claims.issuer, ISSUER);
    assert_eq!(claims.audience, AUDIENCE);
    assert_eq!(claims.authorized_party, ENTRA_SERVICE_APP_ID);
    assert_eq!(claims.tenant_id.as_deref(), Some(TENANT_ID));
    assert_eq!(claims.expires_at, NOW_S + 300);
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_v1_token_with_appid_and_a_lowercase_scheme_is_accepted() {
    let server = key1_server().await;
    let claims = with(
        without(good_claims(), "azp"),
        "appid",
        ENTRA_SERVICE_APP_ID.into(),
    );
    let token = mint(1, "k1", &with(claims, "ver", "1.0".into()));
    let got = server
        .verifier()
        .check(Some(&format!("bearer  {token} ")), NOW)
        .await
        .unwrap();
    assert_eq!(got.authorized_party, ENTRA_SERVICE_APP_ID);
}

#[tokio::test]
async fn wrong_claims_are_refused_each_for_its_reason() {
    let server = key1_server().await;
    let verifier = server.verifier();
    let cases = [
        (
            "wrong audience",
            with(good_claims(), "aud", "api://someone-else".into()),
            TokenRejection::Audience,
        ),
        (
            "wrong issuer",
            with(
                good_claims(),
                "iss",
                "https://login.microsoftonline.com/other/v2.0".into(),
            ),
            TokenRejection::Issuer,
        ),
        (
            "wrong azp",
            with(
                good_claims(),
                "azp",
                "00000000-0000-0000-0000-000000000000".into(),
            ),
            TokenRejection::AuthorizedParty,
        ),
        (
            "expired",
            with(good_claims(), "exp", (NOW_S - 61).into()),
            TokenRejection::Expired,
        ),
        (
            "not yet valid",
            with(good_claims(), "nbf", (NOW_S + 61).into()),
            TokenRejection::NotYetValid,
        ),
        (
            "no exp",
            without(good_claims(), "exp"),
            TokenRejection::MissingClaim("exp"),
        ),
        (
            "no nbf",
            without(good_claims(), "nbf"),
            TokenRejection::MissingClaim("nbf"),
        ),
        (
            "no iss",
            without(good_claims(), "iss"),
            TokenRejection::MissingClaim("iss"),
        ),
        (
            "no aud",
            without(good_claims(), "aud"),
            TokenRejection::MissingClaim("aud"),
        ),
        (
            "no azp or appid",
            without(good_claims(), "azp"),
            TokenRejection::MissingClaim("azp"),
        ),
    ];
    for (what, claims, reason) in cases {
        let token = bearer(&mint(1, "k1", &claims));
        assert_eq!(
            verifier.check(Some(&token), NOW).await,
            Err(reason),
            "{what}"
        );
        let err = verifier.verify(Some(&token), NOW).await.unwrap_err();
        assert_eq!(err, IntakeError::BadSignature, "{what}");
        assert_eq!(err.status(), 401);
    }
    // Within the 60 s leeway both ends still pass.
    let edge = with(
        with(good_claims(), "exp", (NOW_S - 59).into()),
        "nbf",
        (NOW_S + 59).into(),
    );
    assert!(
        verifier
            .check(Some(&bearer(&mint(1, "k1", &edge))), NOW)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_token_signed_with_another_key_under_a_known_kid_is_refused() {
    let server = key1_server().await;
    let token = bearer(&mint(2, "k1", &good_claims()));
    assert_eq!(
        server.verifier().check(Some(&token), NOW).await,
        Err(TokenRejection::Signature)
    );
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let server = key1_server().await;
    let token = mint(1, "k1", &good_claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = B64URL.encode(with(good_claims(), "aud", "x".into()).to_string());
    let forged = bearer(&parts.join("."));
    let verifier = server.verifier();
    assert_eq!(
        verifier.check(Some(&forged), NOW).await,
        Err(TokenRejection::Signature)
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let server = key1_server().await;
    let verifier = server.verifier();
    for header in [
        json!({"alg": "none", "kid": "k1", "typ": "JWT"}),
        json!({"alg": "None", "kid": "k1"}),
        json!({"kid": "k1"}),
    ] {
        let token = bearer(&forge(&header, &good_claims(), b""));
        assert_eq!(
            verifier.check(Some(&token), NOW).await,
            Err(TokenRejection::Algorithm)
        );
        let token = format!("{}.", token.trim_end_matches('.'));
        assert!(verifier.verify(Some(&token), NOW).await.is_err());
    }
    assert_eq!(server.hits(), 0, "refused before any key was fetched");
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_as_secret_is_refused() {
    let server = key1_server().await;
    let public = jwk(1, "k1");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    for secret in [
        public.to_string().into_bytes(),
        B64URL.decode(public["n"].as_str().unwrap()).unwrap(),
    ] {
        let token =
            jsonwebtoken::encode(&header, &good_claims(), &EncodingKey::from_secret(&secret))
                .unwrap();
        assert_eq!(
            server.verifier().check(Some(&bearer(&token)), NOW).await,
            Err(TokenRejection::Algorithm)
        );
    }
}

#[tokio::test]
async fn missing_or_non_bearer_authorization_is_refused() {
    let server = key1_server().await;
    let verifier = server.verifier();
    let err = verifier.verify(None, NOW).await.unwrap_err();
    assert_eq!(err, IntakeError::MissingHeader("authorization"));
    assert_eq!(err.status(), 401);
    assert_eq!(
        verifier.check(Some("  "), NOW).await,
        Err(TokenRejection::MissingHeader)
    );
    let token = mint(1, "k1", &good_claims());
    for h in [
        format!("Basic {token}"),
        token.clone(),
        "Bearer".to_string(),
    ] {
        assert_eq!(
            verifier.check(Some(&h), NOW).await,
            Err(TokenRejection::NotBearer)
        );
    }
    assert_eq!(
        verifier.check(Some("Bearer a.b"), NOW).await,
        Err(TokenRejection::Malformed)
    );
    let huge = format!("Bearer {}", "a".repeat(20_000));
    assert_eq!(
        verifier.check(Some(&huge), NOW).await,
        Err(TokenRejection::Malformed)
    );
}

#[tokio::test]
async fn errors_never_contain_the_token() {
    let server = key1_server().await;
    let token = mint(2, "k1", &good_claims());
    let err = server
        .verifier()
        .verify(Some(&bearer(&token)), NOW)
        .await
        .unwrap_err();
    let sig = token.rsplit('.').next().unwrap();
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(sig) && !text.contains("eyJ"), "{text}");
    }
}

// ---------- the key cache ----------

#[tokio::test]
async fn many_verifications_cost_one_jwks_fetch() {
    let server = key1_server().await;
    let verifier = Arc::new(server.verifier());
    let token = bearer(&mint(1, "k1", &good_claims()));
    // Concurrent cold start: the refresh gate lets one request through.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (v, t) = (verifier.clone(), token.clone());
            tokio::spawn(async move { v.check(Some(&t), NOW + i).await })
        })
        .collect();
    for t in tasks {
        let got = t.await.unwrap();
        assert!(got.is_ok(), "{got:?}");
    }
    for i in 0..100 {
        assert!(verifier.check(Some(&token), NOW + 1000 * i).await.is_ok());
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_by_one_refresh() {
    let server = key1_server().await;
    let verifier = server.verifier();
    let old = bearer(&mint(1, "k1", &good_claims()));
    assert!(verifier.check(Some(&old), NOW).await.is_ok());
    // Entra rotates: k2 is published and starts signing.
    server.publish(jwks(&[(1, "k1"), (2, "k2")]));
    let new = bearer(&mint(2, "k2", &good_claims()));
    let later = NOW + 31_000; // past the 30 s minimum refresh interval
    let claims = verifier.check(Some(&new), later).await.unwrap();
    assert_eq!(claims.audience, AUDIENCE);
    assert_eq!(server.hits(), 2);
    // Both keys now come from the cache.
    assert!(verifier.check(Some(&old), later).await.is_ok());
    assert!(verifier.check(Some(&new), later + 1).await.is_ok());
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_retired_key_stops_working_after_the_next_refresh() {
    let server = key1_server().await;
    let verifier = server.verifier();
    let old = bearer(&mint(1, "k1", &good_claims()));
    assert!(verifier.check(Some(&old), NOW).await.is_ok());
    server.publish(jwks(&[(2, "k2")]));
    // A k2 token triggers the refresh, which drops k1.
    let new = bearer(&mint(2, "k2", &good_claims()));
    assert!(verifier.check(Some(&new), NOW + 31_000).await.is_ok());
    assert_eq!(
        verifier.check(Some(&old), NOW + 31_001).await,
        Err(TokenRejection::UnknownKey)
    );
}

#[tokio::test]
async fn unknown_kids_refresh_at_most_once_per_interval() {
    let server = key1_server().await;
    let verifier = server.verifier();
    assert!(
        verifier
            .check(Some(&bearer(&mint(1, "k1", &good_claims()))), NOW)
            .await
            .is_ok()
    );
    // A flood of tokens with made-up kids, spread over 29 s: no new fetch.
    for i in 0..200 {
        let t = bearer(&mint(2, &format!("bogus-{i}"), &good_claims()));
        assert_eq!(
            verifier.check(Some(&t), NOW + i * 145).await,
            Err(TokenRejection::UnknownKey)
        );
    }
    assert_eq!(server.hits(), 1);
    // Once the interval has passed, one refresh, then quiet again.
    for i in 0..50 {
        let t = bearer(&mint(2, &format!("later-{i}"), &good_claims()));
        assert!(verifier.check(Some(&t), NOW + 30_000 + i).await.is_err());
    }
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn keys_are_refetched_after_the_ttl() {
    let server = key1_server().await;
    let policy = JwksPolicy {
        cache_ttl: Duration::from_secs(600),
        ..JwksPolicy::default()
    };
    let verifier = server.verifier_with(policy);
    let claims = with(good_claims(), "exp", (NOW_S + 3600).into());
    let token = bearer(&mint(1, "k1", &claims));
    assert!(verifier.check(Some(&token), NOW).await.is_ok());
    assert!(verifier.check(Some(&token), NOW + 599_000).await.is_ok());
    assert_eq!(server.hits(), 1);
    assert!(verifier.check(Some(&token), NOW + 600_000).await.is_ok());
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_failing_jwks_endpoint_is_not_hammered_and_stale_keys_still_serve() {
    let server = JwksServer::start(jwks(&[(1, "k1")])).await;
    server.fail_with(StatusCode::INTERNAL_SERVER_ERROR);
    let verifier = server.verifier_with(JwksPolicy {
        cache_ttl: Duration::from_secs(60),
        ..JwksPolicy::default()
    });
    let claims = with(good_claims(), "exp", (NOW_S + 3600).into());
    let token = bearer(&mint(1, "k1", &claims));
    for i in 0..50 {
        assert_eq!(
            verifier.check(Some(&token), NOW + i).await,
            Err(TokenRejection::KeysUnavailable)
        );
    }
    assert_eq!(server.hits(), 1);
    // The endpoint recovers; the next allowed attempt fetches.
    server.fail_with(StatusCode::OK);
    assert!(verifier.check(Some(&token), NOW + 30_000).await.is_ok());
    // It fails again after the TTL: the cached key keeps serving.
    server.fail_with(StatusCode::SERVICE_UNAVAILABLE);
    assert!(verifier.check(Some(&token), NOW + 100_000).await.is_ok());
    assert!(verifier.check(Some(&token), NOW + 101_000).await.is_ok());
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn an_unreachable_jwks_url_refuses_quickly() {
    // A port nothing listens on (bound, then released).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/keys", listener.local_addr().unwrap());
    drop(listener);
    let verifier = EntraVerifier::new(EntraConfig::new(url, ISSUER, AUDIENCE)).unwrap();
    let token = bearer(&mint(1, "k1", &good_claims()));
    let started = std::time::Instant::now();
    let err = verifier.verify(Some(&token), NOW).await.unwrap_err();
    assert_eq!(err.status(), 401);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_plain_http_jwks_url_is_refused_at_construction() {
    let cfg = EntraConfig::new("http://login.example.com/keys", ISSUER, AUDIENCE);
    assert!(EntraVerifier::new(cfg).is_err());
}

// ---------- parsing ----------

/// webhook-sources.md §5.
const EXAMPLE: &str = r#"{"type": "microsoft.graph.authenticationEvent.attributeCollectionSubmit",
 "data": {"@odata.type": "microsoft.graph.onAttributeCollectionSubmitCalloutData",
  "tenantId": "11111111-2222-3333-4444-555555555555",
  "authenticationContext": {"correlationId": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "client": {"ip": "203.0.113.9"}},
  "userSignUpInfo": {"attributes": {
     "givenName": {"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": "Ana", "attributeType": "builtIn"},
     "surname": {"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": "Lopez", "attributeType": "builtIn"},
     "companyName": {"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": "Example Water Board", "attributeType": "builtIn"}},
   "identities": [{"signInType": "email", "issuer": "example.onmicrosoft.com", "issuerAssignedId": "ana.lopez@example.org"}]}}}"#;

fn example() -> Value {
    serde_json::from_str(EXAMPLE).unwrap()
}

fn attr(value: Value) -> Value {
    json!({"@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "value": value,
           "attributeType": "directorySchemaExtension"})
}

fn parse(v: &Value) -> Result<agol_seat_broker::intake::Signup, IntakeError> {
    entra::parse(v.to_string().as_bytes(), &entra::default_fields())
}

#[test]
fn the_documented_example_parses() {
    let s = entra::parse(EXAMPLE.as_bytes(), &entra::default_fields()).unwrap();
    assert_eq!(s.key.source, "entra");
    assert_eq!(s.key.id, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    assert_eq!(s.request.email.as_str(), "ana.lopez@example.org");
    assert_eq!(s.request.first_name.as_deref(), Some("Ana"));
    assert_eq!(s.request.last_name.as_deref(), Some("Lopez"));
    assert_eq!(
        s.request.organization.as_deref(),
        Some("Example Water Board")
    );
    assert_eq!(s.request.pool, None);
}

#[test]
fn extension_attributes_match_by_their_short_name() {
    let mut v = example();
    let attrs = &mut v["data"]["userSignUpInfo"]["attributes"];
    attrs["extension_0123456789abcdef0123456789abcdef_Pool"] = attr("water".into());
    attrs["extension_0123456789abcdef0123456789abcdef_department"] = attr("Hydrology".into());
    attrs["extension_0123456789abcdef0123456789abcdef_newsletter"] = json!({
        "@odata.type": "microsoft.graph.booleanDirectoryAttributeValue", "value": true});
    let s = parse(&v).unwrap();
    assert_eq!(s.request.pool.as_deref(), Some("water"));
    let a = &s.request.attributes;
    assert_eq!(
        a.get("extension_0123456789abcdef0123456789abcdef_department"),
        Some(&Value::from("Hydrology"))
    );
    assert_eq!(
        a.get("extension_0123456789abcdef0123456789abcdef_newsletter"),
        Some(&Value::from(true))
    );
    // A configured map can name an extension attribute by its short name.
    let map = FieldMap {
        organization: vec!["department".into()],
        ..FieldMap::default()
    }
    .or(&entra::default_fields());
    let s = entra::parse(v.to_string().as_bytes(), &map).unwrap();
    assert_eq!(s.request.organization.as_deref(), Some("Hydrology"));
}

#[test]
fn the_sign_in_identity_wins_over_an_email_attribute() {
    let mut v = example();
    v["data"]["userSignUpInfo"]["attributes"]["email"] = attr("typed@example.org".into());
    assert_eq!(
        parse(&v).unwrap().request.email.as_str(),
        "ana.lopez@example.org"
    );
    // Without an email identity, the attribute is used.
    v["data"]["userSignUpInfo"]["identities"] = json!([
        {"signInType": "federated", "issuer": "google.com", "issuerAssignedId": "1234"}]);
    assert_eq!(
        parse(&v).unwrap().request.email.as_str(),
        "typed@example.org"
    );
}

#[test]
fn bad_bodies_are_refused_with_stable_codes() {
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = example();
        f(&mut v);
        parse(&v).unwrap_err()
    };
    let cases = [
        (
            edit(&|v| v["type"] = "microsoft.graph.authenticationEvent.tokenIssuanceStart".into()),
            "invalid_field",
        ),
        (
            edit(&|v| {
                v.as_object_mut().unwrap().remove("type");
            }),
            "missing_field",
        ),
        (
            edit(&|v| v["data"]["authenticationContext"]["correlationId"] = " ".into()),
            "missing_field",
        ),
        (
            edit(&|v| v["data"]["authenticationContext"] = json!({})),
            "missing_field",
        ),
        (
            edit(&|v| v["data"]["userSignUpInfo"]["identities"] = json!([])),
            "missing_field",
        ),
        (
            edit(&|v| {
                v["data"]["userSignUpInfo"]["identities"][0]["issuerAssignedId"] = "nobody".into()
            }),
            "invalid_field",
        ),
        (
            edit(&|v| v["data"]["userSignUpInfo"]["attributes"] = json!([1])),
            "invalid_field",
        ),
        (
            edit(&|v| {
                v["data"]["userSignUpInfo"]["attributes"]["givenName"] = attr("a\u{7}".into())
            }),
            "invalid_field",
        ),
        (
            edit(&|v| v["data"]["authenticationContext"]["correlationId"] = "x".repeat(300).into()),
            "invalid_field",
        ),
    ];
    for (i, (err, code)) in cases.iter().enumerate() {
        assert_eq!(err.code(), *code, "case {i}: {err:?}");
        assert_eq!(err.status(), 422, "case {i}");
    }
    let fields = entra::default_fields();
    assert_eq!(
        entra::parse(b"[]", &fields).unwrap_err().code(),
        "malformed_body"
    );
    assert_eq!(
        entra::parse(b"{\"type\":", &fields).unwrap_err().code(),
        "malformed_body"
    );
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(
        entra::parse(&big, &fields).unwrap_err().code(),
        "payload_too_large"
    );
}

#[test]
fn a_body_from_another_tenant_than_the_token_is_refused() {
    let claims = Claims {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        authorized_party: ENTRA_SERVICE_APP_ID.into(),
        subject: None,
        tenant_id: Some(TENANT_ID.into()),
        version: Some("2.0".into()),
        issued_at: None,
        not_before: NOW_S,
        expires_at: NOW_S + 300,
    };
    let fields = entra::default_fields();
    assert!(entra::parse_verified(EXAMPLE.as_bytes(), &fields, &claims).is_ok());
    let mut v = example();
    v["data"]["tenantId"] = "99999999-2222-3333-4444-555555555555".into();
    let err = entra::parse_verified(v.to_string().as_bytes(), &fields, &claims).unwrap_err();
    assert_eq!(err.status(), 401);
    // Without a tid in the token there is nothing to compare.
    let no_tid = Claims {
        tenant_id: None,
        ..claims
    };
    assert!(entra::parse_verified(v.to_string().as_bytes(), &fields, &no_tid).is_ok());
}

#[test]
fn replies_have_one_action_with_the_documented_types() {
    let v = entra::show_block_page("Thanks: your request is pending approval.");
    assert_eq!(
        v,
        json!({"data": {"@odata.type": "microsoft.graph.onAttributeCollectionSubmitResponseData",
            "actions": [{"@odata.type": "microsoft.graph.attributeCollectionSubmit.showBlockPage",
                         "message": "Thanks: your request is pending approval."}]}})
    );
    assert_eq!(
        SubmitAction::Continue.to_json(),
        entra::continue_with_default()
    );
    let errors = BTreeMap::from([("companyName".to_string(), "Not a member".to_string())]);
    let v = entra::show_validation_error("Check the form", &errors);
    assert_eq!(
        v["data"]["actions"][0]["@odata.type"],
        "microsoft.graph.attributeCollectionSubmit.showValidationError"
    );
    assert_eq!(
        v["data"]["actions"][0]["attributeErrors"]["companyName"],
        "Not a member"
    );
}

// ---------- the events/ fixtures ----------

fn event(case: &str) -> (Option<String>, Vec<u8>) {
    let path = format!(
        "{}/events/entra-attribute-collection-{case}.apigw.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(v["rawPath"], "/hooks/entra/attribute-collection");
    let auth = v["headers"]["authorization"].as_str().map(str::to_string);
    let body = v["body"].as_str().unwrap();
    let body = if v["isBase64Encoded"] == true {
        B64.decode(body).unwrap()
    } else {
        body.as_bytes().to_vec()
    };
    (auth, body)
}

#[tokio::test]
async fn the_event_fixtures_verify_replay_and_tamper_as_documented() {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/events/entra-jwks.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let server = JwksServer::start(doc).await;
    let verifier = server.verifier();
    let fields = entra::default_fields();

    let (auth, body) = event("signup");
    verifier.verify(auth.as_deref(), NOW).await.unwrap();
    let first = entra::parse(&body, &fields).unwrap();
    assert_eq!(first.request.pool.as_deref(), Some("water"));

    let (auth, body) = event("replay");
    verifier.verify(auth.as_deref(), NOW + 2_000).await.unwrap();
    assert_eq!(entra::parse(&body, &fields).unwrap().key, first.key);

    let (auth, _) = event("bad-token");
    assert_eq!(
        verifier.check(auth.as_deref(), NOW).await,
        Err(TokenRejection::Signature)
    );
}

// ---------- random inputs ----------

/// Random bodies never panic the parser; every refusal is a 4xx.
#[test]
fn random_bodies_are_refused_cleanly() {
    use rand::{Rng as _, SeedableRng as _};
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let pieces: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "null",
        "1e999",
        "true",
        "\"\\u0000\"",
        "\"type\"",
        "\"microsoft.graph.authenticationEvent.attributeCollectionSubmit\"",
        "\"data\"",
        "\"authenticationContext\"",
        "\"correlationId\"",
        "\"userSignUpInfo\"",
        "\"attributes\"",
        "\"identities\"",
        "\"signInType\"",
        "\"email\"",
        "\"issuerAssignedId\"",
        "\"a@b.org\"",
        "\"value\"",
        "\"extension_0123456789abcdef0123456789abcdef_pool\"",
        " ",
    ];
    let fields = entra::default_fields();
    for _ in 0..20_000 {
        let body: String = (0..rng.random_range(0..24))
            .map(|_| pieces[rng.random_range(0..pieces.len())])
            .collect();
        if let Err(e) = entra::parse(body.as_bytes(), &fields) {
            assert!((400..500).contains(&e.status()), "{e:?}");
        }
    }
    // Mutations of the valid example: flip one byte at a time.
    let base = EXAMPLE.as_bytes();
    for _ in 0..5_000 {
        let mut body = base.to_vec();
        let i = rng.random_range(0..body.len());
        body[i] = rng.random_range(0..=255u8);
        if let Err(e) = entra::parse(&body, &fields) {
            assert!((400..500).contains(&e.status()), "{e:?}");
        }
    }
}

/// Random Authorization headers never panic the verifier; every refusal is
/// a 401 and the JWKS endpoint is barely touched.
#[tokio::test]
async fn random_authorization_headers_are_refused_cleanly() {
    use rand::{Rng as _, SeedableRng as _};
    let server = key1_server().await;
    let verifier = server.verifier();
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let valid = mint(1, "k1", &good_claims());
    let parts: Vec<&str> = valid.split('.').collect();
    let header_variants = [
        B64URL.encode(r#"{"alg":"RS256","kid":"k1"}"#),
        B64URL.encode(r#"{"alg":"RS256","kid":"zz"}"#),
        B64URL.encode(r#"{"alg":"none"}"#),
        parts[0].to_string(),
        "e30".to_string(),
        "!!".to_string(),
    ];
    for i in 0..3_000 {
        let junk: String = (0..rng.random_range(0..60))
            .map(|_| char::from(rng.random_range(32u8..127)))
            .collect();
        let h = match rng.random_range(0..4) {
            0 => junk,
            1 => format!("Bearer {junk}"),
            2 => format!(
                "Bearer {}.{}.{}",
                header_variants[rng.random_range(0..header_variants.len())],
                if rng.random_bool(0.5) {
                    parts[1]
                } else {
                    &junk
                },
                if rng.random_bool(0.5) {
                    parts[2]
                } else {
                    "c2ln"
                }
            ),
            _ => {
                let mut t = valid.clone().into_bytes();
                let at = rng.random_range(0..t.len());
                t[at] = rng.random_range(33u8..127);
                format!("Bearer {}", String::from_utf8_lossy(&t))
            }
        };
        match verifier.verify(Some(&h), NOW + i).await {
            Ok(_) => assert!(h.contains(&valid), "only the intact token may pass"),
            Err(e) => assert_eq!(e.status(), 401, "{e:?}"),
        }
    }
    assert!(server.hits() <= 2, "hits: {}", server.hits());
}

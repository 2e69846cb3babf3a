//! The identity providers' hooks end to end over real HTTP (DynamoDB Local +
//! portal simulator): Okta event hook, Okta registration inline hook, Entra
//! attribute collection. They answer after verify, decide and reserve; the
//! in-process worker creates the members afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agol_seat_broker::config::Secret;
use agol_seat_broker::domain::PoolId;
use agol_seat_broker::entrypoints::local_worker::LocalWorkerSettings;
use agol_seat_broker::intake::FieldMap;
use agol_seat_broker::intake::entra::EntraConfig;
use agol_seat_broker::intake::sources::{Source, Sources};
use agol_seat_broker::portal::simulator::{Fault, FaultKind};
use agol_seat_broker::seats::FailureLog;
use serde_json::Value;

use crate::helpers::{Options, QueueMode, STATUS_TOKEN, TestApp, spawn_app};

use crate::entra_keys;

const OKTA_SECRET: &str = "test-only-okta-event-hook-secret";
const OKTA_REGISTRATION_SECRET: &str = "test-only-okta-registration-secret";

/// `partners` takes example.org (two seats); `city` one seat.
const RULES: &str = r#"
    [defaults]
    username = "{email_local}_{pool}"
    [[pools]]
    name = "partners"
    seats = 2
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    [pools.match]
    email_domains = ["example.org"]
    pool_field = ["water"]
    [[pools]]
    name = "city"
    seats = 1
    role = "publisher"
    user_type = "creatorUT"
    groups = ["Partners"]
    [pools.match]
    email_domains = ["city.example"]
"#;

fn source(secret: &str) -> Source {
    Source {
        secrets: vec![Secret::new(secret)],
        fields: FieldMap::default(),
        header: None,
        ..Default::default()
    }
}

fn fast_worker() -> LocalWorkerSettings {
    LocalWorkerSettings {
        attempts: 3,
        first_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        concurrency: 4,
    }
}

async fn app_with(jwks_url: Option<&str>, deadline: Duration) -> TestApp {
    app_opts(jwks_url, deadline, None).await
}

async fn app_opts(
    jwks_url: Option<&str>,
    deadline: Duration,
    request_timeout: Option<Duration>,
) -> TestApp {
    let mut sources = Sources::default();
    sources.insert("okta", source(OKTA_SECRET));
    sources.insert("okta_registration", source(OKTA_REGISTRATION_SECRET));
    if let Some(url) = jwks_url {
        let config = EntraConfig::new(url, entra_keys::ISSUER, entra_keys::AUDIENCE);
        let mut s = source("unused");
        s.secrets.clear();
        s.entra = Some(config);
        sources.insert("entra", s);
    }
    let mut o = Options {
        rules: RULES,
        sources,
        queue: QueueMode::Local(fast_worker()),
        deadline,
        request_timeout,
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    spawn_app(o).await
}

async fn app() -> TestApp {
    app_with(None, Duration::from_secs(5)).await
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("events/{name}.body.json")).expect("fixture exists")
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method, format!("{}{path}", app.url))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let res = req.send().await.expect("sent");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, path: &str, secret: &str, body: Vec<u8>) -> (u16, Value) {
    send(
        app,
        reqwest::Method::POST,
        path,
        &[("authorization", secret.to_string())],
        body,
    )
    .await
}

/// Polls until `f` holds or `within` passes.
async fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

/// Active claims of a pool, waiting up to 5 s for `want` (a confirm follows
/// the member's creation by a moment).
async fn active_soon(app: &TestApp, pool: &str, want: usize) -> usize {
    for _ in 0..100 {
        let n = app.active_claims(pool).await;
        if n == want {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.active_claims(pool).await
}

fn registration(email: &str, event_id: &str) -> Vec<u8> {
    String::from_utf8(fixture("okta-registration-signup"))
        .unwrap()
        .replace("ana.lopez@example.org", email)
        .replace("RgT9xA1b2C", event_id)
        .into_bytes()
}

fn command(v: &Value) -> Option<&str> {
    v["commands"][0]["value"]["registration"].as_str()
}

#[tokio::test]
async fn okta_event_hook_answers_the_challenge_and_creates_each_person_once_from_the_queue() {
    let app = app().await;

    // The one-time verification GET.
    let (status, v) = send(
        &app,
        reqwest::Method::GET,
        "/webhooks/okta",
        &[
            ("authorization", OKTA_SECRET.into()),
            ("x-okta-verification-challenge", "abc-123_XYZ".into()),
        ],
        vec![],
    )
    .await;
    assert_eq!(
        (status, v["verification"].as_str()),
        (200, Some("abc-123_XYZ"))
    );
    let (status, _) = send(
        &app,
        reqwest::Method::GET,
        "/webhooks/okta",
        &[
            ("authorization", "wrong".into()),
            ("x-okta-verification-challenge", "abc".into()),
        ],
        vec![],
    )
    .await;
    assert_eq!(status, 401);

    // A batch: Ana created and assigned (two events, one seat), Ben signs in
    // without a seat (gets one), Eve's failed sign-in (ignored).
    let (status, v) = post(
        &app,
        "/webhooks/okta",
        OKTA_SECRET,
        fixture("okta-events-signup"),
    )
    .await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("accepted")),
        "{v}"
    );
    assert!(
        eventually(Duration::from_secs(10), || app.sim.members().len() == 2).await,
        "members: {:?}",
        app.sim.members()
    );
    let ana = app.sim.member("ana.lopez_partners").expect("Ana created");
    assert_eq!(
        (ana.role.as_str(), ana.user_type.as_str()),
        ("iAAAAAAAAAAAAAAA", "viewerUT")
    );
    assert_eq!(ana.first_name, "Ana");
    assert_eq!(ana.group_ids, vec![app.sim.group_id("Partners").unwrap()]);
    assert!(app.sim.member("ben.okafor_partners").is_some());
    assert_eq!(app.used("partners").await, 2);
    assert_eq!(active_soon(&app, "partners", 2).await, 2);

    // Okta's retry of the whole batch: nothing new.
    assert!(app.members_recorded(2).await);
    let items = app.item_count().await;
    let (status, _) = post(
        &app,
        "/webhooks/okta",
        OKTA_SECRET,
        fixture("okta-events-replay"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(app.sim.members().len(), 2);
    assert_eq!(app.used("partners").await, 2);

    // Ben signs in again (a new event): he has a seat, so nothing is written.
    let again = String::from_utf8(fixture("okta-events-signup"))
        .unwrap()
        .replace(
            "a1b2c3d4-0000-4000-8000-000000000003",
            "a1b2c3d4-0000-4000-8000-0000000000ff",
        );
    let (status, v) = post(&app, "/webhooks/okta", OKTA_SECRET, again.into_bytes()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        app.item_count().await,
        items,
        "a sign-in of a seat holder writes nothing new"
    );

    // The wrong secret: 401, nothing written.
    let (status, v) = post(
        &app,
        "/webhooks/okta",
        "not-the-secret",
        fixture("okta-events-bad-secret"),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (401, Some("invalid_signature")),
        "{v}"
    );
    assert_eq!(app.item_count().await, items);
}

#[tokio::test]
async fn okta_registration_allows_with_a_seat_and_denies_with_the_reason() {
    let app = app().await;
    let path = "/hooks/okta/registration";

    let (status, v) = post(
        &app,
        path,
        OKTA_REGISTRATION_SECRET,
        fixture("okta-registration-signup"),
    )
    .await;
    assert_eq!((status, command(&v)), (200, Some("ALLOW")), "{v}");
    assert!(
        eventually(Duration::from_secs(10), || app
            .sim
            .member("ana.lopez_partners")
            .is_some())
        .await
    );

    // Okta's retry of the same call: the same answer, no second seat.
    let (status, v) = post(
        &app,
        path,
        OKTA_REGISTRATION_SECRET,
        fixture("okta-registration-replay"),
    )
    .await;
    assert_eq!((status, command(&v)), (200, Some("ALLOW")), "{v}");
    assert_eq!(app.used("partners").await, 1);

    // The city pool has one seat: the second person is told why.
    let (_, v) = post(
        &app,
        path,
        OKTA_REGISTRATION_SECRET,
        registration("cy@city.example", "evt-cy"),
    )
    .await;
    assert_eq!(command(&v), Some("ALLOW"), "{v}");
    let (status, v) = post(
        &app,
        path,
        OKTA_REGISTRATION_SECRET,
        registration("di@city.example", "evt-di"),
    )
    .await;
    assert_eq!((status, command(&v)), (200, Some("DENY")), "{v}");
    assert_eq!(v["error"]["errorCauses"][0]["reason"], "QUOTA_EXCEEDED");
    assert!(
        v["error"]["errorSummary"]
            .as_str()
            .unwrap()
            .contains("No seats left")
    );

    // Nobody's pool.
    let (_, v) = post(
        &app,
        path,
        OKTA_REGISTRATION_SECRET,
        registration("eve@elsewhere.test", "evt-eve"),
    )
    .await;
    assert_eq!(command(&v), Some("DENY"));
    assert_eq!(v["error"]["errorCauses"][0]["reason"], "NOT_ELIGIBLE");

    // A forged call: 401, nothing written.
    assert!(eventually(Duration::from_secs(10), || app.sim.members().len() == 2).await);
    assert!(app.members_recorded(2).await);
    let items = app.item_count().await;
    let (status, _) = post(
        &app,
        path,
        "forged",
        fixture("okta-registration-bad-secret"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(app.item_count().await, items);
    assert_eq!(app.used("city").await, 1);
}

#[tokio::test]
async fn a_portal_slower_than_the_hook_deadline_does_not_delay_the_answer() {
    // The worker's own budget is generous: only the hook must be fast.
    let app = app_opts(None, Duration::from_secs(15), Some(Duration::from_secs(10))).await;
    app.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::Delay(Duration::from_secs(4)),
        times: None,
    });
    let started = Instant::now();
    let (status, v) = post(
        &app,
        "/hooks/okta/registration",
        OKTA_REGISTRATION_SECRET,
        fixture("okta-registration-signup"),
    )
    .await;
    let answered_in = started.elapsed();
    assert_eq!((status, command(&v)), (200, Some("ALLOW")), "{v}");
    // Okta gives 3 s; the invite alone takes 4 s.
    assert!(
        answered_in < Duration::from_secs(3),
        "answered in {answered_in:?}"
    );
    assert!(app.sim.member("ana.lopez_partners").is_none());
    assert!(
        eventually(Duration::from_secs(20), || app
            .sim
            .member("ana.lopez_partners")
            .is_some())
        .await,
        "the member appears once the slow invite is through"
    );
    assert_eq!(active_soon(&app, "partners", 1).await, 1);
    assert_eq!(app.used("partners").await, 1);
}

#[tokio::test]
async fn a_portal_failing_for_good_releases_the_seat_and_shows_the_failure() {
    let app = app_with(None, Duration::from_secs(2)).await;
    app.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::HttpStatus(500),
        times: None,
    });
    let (status, v) = post(
        &app,
        "/hooks/okta/registration",
        OKTA_REGISTRATION_SECRET,
        fixture("okta-registration-signup"),
    )
    .await;
    assert_eq!((status, command(&v)), (200, Some("ALLOW")), "{v}");

    // Every attempt fails; after the last one the seat is given back and the
    // failure recorded.
    let pool = PoolId::parse("partners").unwrap();
    let mut failures = vec![];
    for _ in 0..200 {
        failures = app
            .ledger
            .failures(&pool, agol_seat_broker::clock::now_millis())
            .await
            .unwrap();
        if !failures.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(failures.len(), 1, "a failure is recorded");
    assert_eq!(failures[0].key.person, "ana.lopez@example.org");
    assert_eq!(failures[0].code, "portal_unavailable");
    assert_eq!(app.used("partners").await, 0, "the seat is released");
    assert!(app.claims("partners").await.is_empty());
    assert!(app.sim.members().is_empty());

    // The status shows it.
    let v: Value = app
        .http
        .get(format!("{}/status", app.url))
        .bearer_auth(STATUS_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let partners = v["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pool"] == "partners")
        .unwrap();
    assert_eq!(
        partners["failed"][0]["person"], "ana.lopez@example.org",
        "{v}"
    );
    assert_eq!(partners["failed"][0]["code"], "portal_unavailable");
}

#[tokio::test]
async fn entra_continues_with_a_seat_blocks_a_full_pool_and_refuses_bad_tokens() {
    let jwks = entra_keys::JwksServer::start(entra_keys::jwks(&[(1, "k1")])).await;
    let app = app_with(Some(&jwks.url), Duration::from_secs(5)).await;
    let now_s = agol_seat_broker::clock::now_millis() / 1000;
    let token = |claims: &Value| entra_keys::bearer(&entra_keys::mint(1, "k1", claims));
    let path = "/hooks/entra/attribute-collection";
    let action = |v: &Value| {
        v["data"]["actions"][0]["@odata.type"]
            .as_str()
            .unwrap_or_default()
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_string()
    };

    let body = fixture("entra-attribute-collection-signup");
    let (status, v) = post(
        &app,
        path,
        &token(&entra_keys::claims_at(now_s)),
        body.clone(),
    )
    .await;
    assert_eq!(
        (status, action(&v).as_str()),
        (200, "continueWithDefaultBehavior"),
        "{v}"
    );
    assert!(
        eventually(Duration::from_secs(10), || app
            .sim
            .member("ana.lopez_partners")
            .is_some())
        .await
    );

    // Entra's retry (same correlationId, a fresh token): no second seat.
    let (status, v) = post(
        &app,
        path,
        &token(&entra_keys::claims_at(now_s + 2)),
        body.clone(),
    )
    .await;
    assert_eq!(
        (status, action(&v).as_str()),
        (200, "continueWithDefaultBehavior"),
        "{v}"
    );
    assert_eq!(app.used("partners").await, 1);

    // Wrong audience, or signed with another key: 401, nothing written.
    assert!(app.members_recorded(1).await);
    let items = app.item_count().await;
    let mut wrong_aud = entra_keys::claims_at(now_s);
    wrong_aud["aud"] = "api://attacker.example/other".into();
    let (status, _) = post(&app, path, &token(&wrong_aud), body.clone()).await;
    assert_eq!(status, 401);
    let other_key = entra_keys::bearer(&entra_keys::mint(2, "k1", &entra_keys::claims_at(now_s)));
    let (status, _) = post(&app, path, &other_key, body.clone()).await;
    assert_eq!(status, 401);
    let (status, _) = post(&app, path, "", body.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(app.item_count().await, items);

    // Fill the pool, then a third person is shown a block page.
    let person = |email: &str, correlation: &str| {
        String::from_utf8(body.clone())
            .unwrap()
            .replace("ana.lopez@example.org", email)
            .replace("d2c1f0e3-7a44-4b8e-9c55-3f1e2a6b7c80", correlation)
            .into_bytes()
    };
    let (_, v) = post(
        &app,
        path,
        &token(&entra_keys::claims_at(now_s)),
        person("bo@example.org", "c-bo"),
    )
    .await;
    assert_eq!(action(&v), "continueWithDefaultBehavior", "{v}");
    let (status, v) = post(
        &app,
        path,
        &token(&entra_keys::claims_at(now_s)),
        person("cy@example.org", "c-cy"),
    )
    .await;
    assert_eq!((status, action(&v).as_str()), (200, "showBlockPage"), "{v}");
    let message = v["data"]["actions"][0]["message"].as_str().unwrap();
    assert!(message.contains("No seats"), "{message}");
    assert!(eventually(Duration::from_secs(10), || app.sim.members().len() == 2).await);
    assert_eq!(app.used("partners").await, 2);
}

/// A stand-in for Okta's users API: `GET /api/v1/users/{id}` with an SSWS
/// token, answering the profile Okta would.
async fn okta_users_api(token: &'static str) -> String {
    use axum::extract::Path;
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new().route(
        "/api/v1/users/{id}",
        axum::routing::get(
            move |Path(id): Path<String>, headers: HeaderMap| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                if auth != Some(&format!("SSWS {token}")) {
                    return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({})));
                }
                (
                    StatusCode::OK,
                    axum::Json(serde_json::json!({
                        "id": id, "status": "ACTIVE",
                        "profile": {"login": "ana.l", "email": "ana.lopez@example.org",
                                    "firstName": "Ana María", "lastName": "López Ruiz",
                                    "organization": "Example Water Board"}
                    })),
                )
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn okta_events_take_names_and_e_mail_from_the_users_api_when_configured() {
    const API_TOKEN: &str = "test-only-okta-api-token";
    let api = okta_users_api(API_TOKEN).await;
    let mut sources = Sources::default();
    let mut okta = source(OKTA_SECRET);
    okta.api = Some(agol_seat_broker::intake::sources::ProviderApi {
        base: api,
        token: Secret::new(API_TOKEN),
    });
    sources.insert("okta", okta);
    let mut o = Options {
        rules: RULES,
        sources,
        queue: QueueMode::Local(fast_worker()),
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    let app = spawn_app(o).await;

    // The created user's login is not an e-mail: only the API knows it.
    let body = String::from_utf8(fixture("okta-events-signup"))
        .unwrap()
        .replace(
            r#""alternateId": "ana.lopez@example.org""#,
            r#""alternateId": "ana.l""#,
        );
    let (status, v) = post(&app, "/webhooks/okta", OKTA_SECRET, body.into_bytes()).await;
    assert_eq!(status, 200, "{v}");
    assert!(
        eventually(Duration::from_secs(10), || app
            .sim
            .member("ana.lopez_partners")
            .is_some())
        .await
    );
    let ana = app.sim.member("ana.lopez_partners").unwrap();
    assert_eq!(
        (ana.first_name.as_str(), ana.last_name.as_str()),
        ("Ana María", "López Ruiz")
    );
}

/// A provider secret store for the re-read after a refusal: answers
/// `value` for `name` and counts the reads.
fn secret_store(
    name: &'static str,
    value: &'static str,
) -> (
    agol_seat_broker::intake::profiles::ProviderSecretRefresh,
    Arc<std::sync::atomic::AtomicU32>,
) {
    let reads = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = reads.clone();
    let refresh: agol_seat_broker::intake::profiles::ProviderSecretRefresh =
        Arc::new(move |asked: &'static str| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let found = (asked == name).then(|| Secret::new(value));
            Box::pin(async move { Ok(found) })
        });
    (refresh, reads)
}

/// Issue 13: an Okta API token rotated after the start is refused (401);
/// the token is read again from the secret store, the look-up is tried
/// once more with the new one, and later look-ups use it without reading
/// the store again.
#[tokio::test]
async fn a_rotated_okta_api_token_is_read_again_after_a_refusal() {
    const NEW_TOKEN: &str = "test-only-okta-api-token-rotated";
    let api = okta_users_api(NEW_TOKEN).await;
    let mut sources = Sources::default();
    let mut okta = source(OKTA_SECRET);
    okta.api = Some(agol_seat_broker::intake::sources::ProviderApi {
        base: api,
        token: Secret::new("test-only-okta-api-token-before"),
    });
    sources.insert("okta", okta);
    let (refresh, reads) = secret_store("okta_api", NEW_TOKEN);
    let mut o = Options {
        rules: RULES,
        sources,
        queue: QueueMode::Local(fast_worker()),
        provider_secrets: Some(refresh),
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    let app = spawn_app(o).await;

    let body = String::from_utf8(fixture("okta-events-signup"))
        .unwrap()
        .replace(
            r#""alternateId": "ana.lopez@example.org""#,
            r#""alternateId": "ana.l""#,
        );
    let (status, v) = post(&app, "/webhooks/okta", OKTA_SECRET, body.into_bytes()).await;
    assert_eq!(status, 200, "{v}");
    assert!(
        eventually(Duration::from_secs(10), || app
            .sim
            .member("ana.lopez_partners")
            .is_some())
        .await,
        "the e-mail only the users API knows was used"
    );
    let ana = app.sim.member("ana.lopez_partners").unwrap();
    assert_eq!(ana.first_name, "Ana María");
    assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Issue 13: when the secret store holds the same token Okta refused,
/// nothing is tried again, the event's own data is used, and the store is
/// not read again for every later delivery (once a minute at most).
#[tokio::test]
async fn a_refused_okta_token_the_store_still_holds_is_read_once_and_not_retried() {
    const HELD: &str = "test-only-okta-api-token-revoked";
    let api = okta_users_api("test-only-okta-api-token-other").await;
    let mut sources = Sources::default();
    let mut okta = source(OKTA_SECRET);
    okta.api = Some(agol_seat_broker::intake::sources::ProviderApi {
        base: api,
        token: Secret::new(HELD),
    });
    sources.insert("okta", okta);
    let (refresh, reads) = secret_store("okta_api", HELD);
    // Room for the fixture's three people (its session event signs Ben
    // up too).
    const ROOMY: &str = r#"
    [defaults]
    username = "{email_local}_{pool}"
    [[pools]]
    name = "partners"
    seats = 10
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    [pools.match]
    email_domains = ["example.org"]
"#;
    let mut o = Options {
        rules: ROOMY,
        sources,
        queue: QueueMode::Local(fast_worker()),
        provider_secrets: Some(refresh),
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    let app = spawn_app(o).await;

    let body = fixture("okta-events-signup");
    let (status, v) = post(&app, "/webhooks/okta", OKTA_SECRET, body).await;
    assert_eq!(status, 200, "{v}");
    assert!(
        eventually(Duration::from_secs(10), || app
            .sim
            .member("ana.lopez_partners")
            .is_some())
        .await,
        "the event's own e-mail was used"
    );
    let other = String::from_utf8(fixture("okta-events-signup"))
        .unwrap()
        .replace("ana.lopez@example.org", "bo.ruiz@example.org")
        .replace("Ana Lopez", "Bo Ruiz")
        .replace("00uNEW4567", "00uNEW9999")
        .replace("a1b2c3d4-0000", "b1b2c3d4-0000")
        .replace("3f0c9a52-0000", "4f0c9a52-0000");
    let (status, v) = post(&app, "/webhooks/okta", OKTA_SECRET, other.into_bytes()).await;
    assert_eq!(status, 200, "{v}");
    assert!(
        eventually(Duration::from_secs(10), || app
            .sim
            .member("bo.ruiz_partners")
            .is_some())
        .await
    );
    assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// Issue 13: an Auth0 Management API client secret rotated after the start
/// is refused at the token endpoint; the client is read again and the
/// profile comes with the new one.
#[tokio::test]
async fn a_rotated_auth0_client_secret_is_read_again_after_a_refusal() {
    const LOG_TOKEN: &str = "test-only-auth0-log-stream-token";
    let mut sources = Sources::default();
    let mut logs = source(LOG_TOKEN);
    logs.api = Some(agol_seat_broker::intake::sources::ProviderApi {
        base: auth0_api().await,
        token: Secret::new("test-client:the-secret-before-rotation"),
    });
    sources.insert("auth0_logs", logs);
    let (refresh, reads) = secret_store("auth0_api", "test-client:test-client-secret");
    let mut o = Options {
        rules: RULES,
        sources,
        provider_secrets: Some(refresh),
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    let app = spawn_app(o).await;

    let (status, v) = post(
        &app,
        "/webhooks/auth0-logs",
        LOG_TOKEN,
        fixture("auth0-logs-signup"),
    )
    .await;

    assert_eq!((status, v["signups"].as_u64()), (200, Some(1)), "{v}");
    let ana = app.sim.member("ana.lopez_partners").expect("created");
    assert_eq!(
        (ana.first_name.as_str(), ana.last_name.as_str()),
        ("Ana", "López")
    );
    assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// A stand-in for Auth0: the client-credentials token endpoint and the
/// Management API's `GET /api/v2/users/{id}`.
async fn auth0_api() -> String {
    use axum::extract::Path;
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new()
        .route(
            "/oauth/token",
            axum::routing::post(|axum::Json(body): axum::Json<Value>| async move {
                if body["grant_type"] == "client_credentials"
                    && body["client_id"] == "test-client"
                    && body["client_secret"] == "test-client-secret"
                {
                    (
                        StatusCode::OK,
                        axum::Json(serde_json::json!({"access_token": "mgmt-token", "expires_in": 86400, "token_type": "Bearer"})),
                    )
                } else {
                    (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({})))
                }
            }),
        )
        .route(
            "/api/v2/users/{id}",
            axum::routing::get(|Path(id): Path<String>, headers: HeaderMap| async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                if auth != Some("Bearer mgmt-token") || id != "auth0|65f0c0ffee0000000000abcd" {
                    return (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({})));
                }
                (
                    StatusCode::OK,
                    axum::Json(serde_json::json!({
                        "user_id": id, "email": "ana.lopez@example.org",
                        "given_name": "Ana", "family_name": "López",
                        "user_metadata": {"organization": "Example Water Board"}
                    })),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn auth0_sign_ups_take_names_from_the_management_api_when_configured() {
    const LOG_TOKEN: &str = "test-only-auth0-log-stream-token";
    let mut sources = Sources::default();
    let mut logs = source(LOG_TOKEN);
    logs.api = Some(agol_seat_broker::intake::sources::ProviderApi {
        base: auth0_api().await,
        token: Secret::new("test-client:test-client-secret"),
    });
    sources.insert("auth0_logs", logs);
    let mut o = Options {
        rules: RULES,
        sources,
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    let app = spawn_app(o).await;

    let body = fixture("auth0-logs-signup");
    let (status, v) = post(&app, "/webhooks/auth0-logs", LOG_TOKEN, body.clone()).await;
    assert_eq!((status, v["signups"].as_u64()), (200, Some(1)), "{v}");
    let ana = app.sim.member("ana.lopez_partners").expect("created");
    assert_eq!(
        (ana.first_name.as_str(), ana.last_name.as_str()),
        ("Ana", "López")
    );
    // The stream's retry replays: the fingerprint is the record's own.
    let (status, _) = post(&app, "/webhooks/auth0-logs", LOG_TOKEN, body).await;
    assert_eq!(status, 200);
    assert_eq!(app.used("partners").await, 1);
}

/// Random bodies and headers on every hook route, with and without the right
/// credentials: never a 5xx, never a panic, never a write; a refusal is a 4xx
/// (or, for the registration hook, Okta's DENY command).
#[tokio::test]
async fn random_deliveries_on_the_hook_routes_are_refused_without_writes() {
    use rand::{Rng, SeedableRng};
    let jwks = entra_keys::JwksServer::start(entra_keys::jwks(&[(1, "k1")])).await;
    let app = app_with(Some(&jwks.url), Duration::from_secs(2)).await;
    let items = app.item_count().await;
    let now_s = agol_seat_broker::clock::now_millis() / 1000;
    let good_jwt = entra_keys::bearer(&entra_keys::mint(1, "k1", &entra_keys::claims_at(now_s)));
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0c7a);
    let shapes = [
        r#"{"data":{"events":[{"uuid":1}]}}"#,
        r#"{"data":{"userProfile":{"email":"not-an-email"}},"eventId":"x"}"#,
        r#"{"type":"microsoft.graph.authenticationEvent.attributeCollectionSubmit","data":{}}"#,
        r#"[{"eventType":null}]"#,
        "null",
        "",
    ];
    for i in 0..300 {
        let body: Vec<u8> = match i % 3 {
            0 => (0..rng.random_range(0..300))
                .map(|_| rng.random())
                .collect(),
            1 => shapes[rng.random_range(0..shapes.len())]
                .as_bytes()
                .to_vec(),
            _ => {
                let mut b = shapes[rng.random_range(0..shapes.len())]
                    .as_bytes()
                    .to_vec();
                if !b.is_empty() {
                    let at = rng.random_range(0..b.len());
                    b[at] = rng.random();
                }
                b
            }
        };
        let (path, auth) = match i % 4 {
            0 => ("/webhooks/okta", OKTA_SECRET.to_string()),
            1 => (
                "/hooks/okta/registration",
                OKTA_REGISTRATION_SECRET.to_string(),
            ),
            2 => ("/hooks/entra/attribute-collection", good_jwt.clone()),
            _ => (
                "/hooks/entra/attribute-collection",
                "Bearer x.y.z".to_string(),
            ),
        };
        let auth = if rng.random_bool(0.2) {
            "wrong".to_string()
        } else {
            auth
        };
        let (status, v) = post(&app, path, &auth, body).await;
        let deny = status == 200 && command(&v) == Some("DENY");
        let block = status == 200
            && v["data"]["actions"][0]["@odata.type"]
                .as_str()
                .is_some_and(|t| t.ends_with("showBlockPage"));
        let empty_batch = status == 200 && v["signups"] == 0;
        assert!(
            (400..500).contains(&status) || deny || block || empty_batch,
            "{path}: {status} {v}"
        );
    }
    assert_eq!(app.item_count().await, items, "nothing written");
}

/// Issue 11, defect 8: a sender's `approval = "manual"` holds when the hooks
/// queue their members (every deployment has a queue). It used to be
/// dropped on the queued path, so the registration was allowed and the
/// member created without anyone approving it.
#[tokio::test]
async fn a_senders_manual_approval_holds_when_the_hooks_queue_their_members() {
    use agol_seat_broker::domain::ApprovalMode;
    use agol_seat_broker::intake::sources::PendingAnswer;
    let mut sources = Sources::default();
    let mut registration_source = source(OKTA_REGISTRATION_SECRET);
    registration_source.approval = Some(ApprovalMode::Manual);
    registration_source.pending_answer = PendingAnswer::Deny;
    sources.insert("okta_registration", registration_source);
    let mut o = Options {
        rules: RULES,
        sources,
        queue: QueueMode::Local(fast_worker()),
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    let app = spawn_app(o).await;

    let (status, v) = post(
        &app,
        "/hooks/okta/registration",
        OKTA_REGISTRATION_SECRET,
        fixture("okta-registration-signup"),
    )
    .await;
    assert_eq!((status, command(&v)), (200, Some("DENY")), "{v}");
    assert_eq!(
        v["error"]["errorCauses"][0]["reason"], "PENDING_APPROVAL",
        "{v}"
    );
    // Give a wrongly queued job time to run: still nobody is created.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(app.sim.member("ana.lopez_partners").is_none());
    assert_eq!(app.active_claims("partners").await, 0);
}

/// Issue 11, defect 10, locally: a seat the in-process worker gives back
/// admits the next in line from the waitlist, and that member is queued on
/// the worker's own queue, so a transient failure of its creation is retried
/// (it used to be created inline, once: the request ended APPROVED with no
/// member).
#[tokio::test]
async fn the_local_worker_retries_a_member_it_admitted_from_the_waitlist() {
    const RULES: &str = r#"
        [[pools]]
        name = "partners"
        seats = 1
        role = "viewer"
        user_type = "viewerUT"
        groups = ["Partners"]
        waitlist = true
        [pools.match]
        email_domains = ["example.org"]
    "#;
    let mut sources = Sources::default();
    sources.insert("okta_registration", source(OKTA_REGISTRATION_SECRET));
    let mut o = Options {
        rules: RULES,
        sources,
        // A wait between attempts long enough for Bo to join the line while
        // Ana's job waits for its second attempt.
        queue: QueueMode::Local(LocalWorkerSettings {
            attempts: 3,
            first_backoff: Duration::from_millis(1_500),
            max_backoff: Duration::from_secs(3),
            concurrency: 4,
        }),
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    let app = spawn_app(o).await;
    // Ana's first attempt fails (every try of the client's retry budget),
    // her second is refused for good; then Bo's first attempt fails.
    let unavailable = || Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::HttpStatus(503),
        times: Some(3),
    };
    app.sim.inject(unavailable());
    app.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::ErrorBody {
            code: 400,
            message_code: None,
            message: "Invalid user type".into(),
        },
        times: Some(1),
    });
    app.sim.inject(unavailable());

    let (status, v) = post(
        &app,
        "/hooks/okta/registration",
        OKTA_REGISTRATION_SECRET,
        registration("ana@example.org", "evt-ana"),
    )
    .await;
    assert_eq!((status, command(&v)), (200, Some("ALLOW")), "{v}");
    let res = app
        .post_signup("msg_bo", &crate::helpers::signup("bo@example.org"))
        .await;
    assert_eq!(res.status(), 202);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "waitlisted", "{v}");

    assert!(
        eventually(Duration::from_secs(20), || app
            .sim
            .member("bo_partners")
            .is_some())
        .await,
        "the admitted member is created by a retried job"
    );
    assert!(app.sim.member("ana_partners").is_none());
    assert_eq!(active_soon(&app, "partners", 1).await, 1);
    assert_eq!(app.used("partners").await, 1);
}

/// Issue 13, critical: a secret containing a space was split into
/// fragments and each fragment accepted. Okta's registration hook is
/// configured with `Authorization: Basic <base64>`: the real header was
/// refused while `Basic` alone, or the base64 alone, got ALLOW and a
/// member. The sources here are loaded the way the broker loads them
/// (`OKTA_SECRETS` through `secret_list`), then served over HTTP.
#[tokio::test]
async fn an_okta_secret_with_a_space_is_one_secret_and_neither_half_is_accepted() {
    use agol_seat_broker::config::secret_list;
    const HEADER: &str = "Basic b2t0YS1ob29rOnMzY3IzdC1wYXNzd29yZC0xMjM=";
    let rules = format!("{RULES}\n[sources.okta_registration]\nenabled = true\n");
    let sources = Sources::load(&rules, |_, _| {
        secret_list(&format!("{HEADER}\n")).map(|l| l.into_iter().map(Secret::new).collect())
    })
    .expect("the sources load");
    let mut o = Options {
        rules: RULES,
        sources,
        queue: QueueMode::Local(fast_worker()),
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    let app = spawn_app(o).await;
    let path = "/hooks/okta/registration";

    for half in ["Basic", "b2t0YS1ob29rOnMzY3IzdC1wYXNzd29yZC0xMjM="] {
        let (status, v) = post(&app, path, half, registration("eve@example.org", "evt-eve")).await;
        assert_eq!(status, 401, "{half:?} alone: {v}");
    }
    assert_eq!(app.used("partners").await, 0, "nothing reserved");

    let (status, v) = post(
        &app,
        path,
        HEADER,
        registration("ana@example.org", "evt-ana"),
    )
    .await;
    assert_eq!((status, command(&v)), (200, Some("ALLOW")), "{v}");
    assert_eq!(app.used("partners").await, 1);
}

/// Issue 13: Entra's attribute-collection route answered 200
/// `showBlockPage` to calls that are not attribute-collection events at
/// all; those are 400 (the block page is for what the person typed). A
/// valid token each time; nothing is written.
#[tokio::test]
async fn entra_answers_400_to_a_body_that_is_not_an_attribute_collection_event() {
    let jwks = entra_keys::JwksServer::start(entra_keys::jwks(&[(1, "k1")])).await;
    let app = app_with(Some(&jwks.url), Duration::from_secs(5)).await;
    let items = app.item_count().await;
    let now_s = agol_seat_broker::clock::now_millis() / 1000;
    let jwt = entra_keys::bearer(&entra_keys::mint(1, "k1", &entra_keys::claims_at(now_s)));
    let signup = fixture("entra-attribute-collection-signup");
    let truncated = signup[..signup.len() / 2].to_vec();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "malformed_body"),
        ("not JSON", b"{not json".to_vec(), "malformed_body"),
        ("not UTF-8", vec![0xff, 0xfe, b'{', b'}'], "malformed_body"),
        ("truncated", truncated, "malformed_body"),
        ("an array", b"[]".to_vec(), "malformed_body"),
        ("no type", br#"{"data":{}}"#.to_vec(), "missing_field"),
        (
            "another event",
            br#"{"type":"microsoft.graph.authenticationEvent.tokenIssuanceStart","data":{}}"#
                .to_vec(),
            "invalid_field",
        ),
        (
            "no correlation id",
            br#"{"type":"microsoft.graph.authenticationEvent.attributeCollectionSubmit","data":{}}"#
                .to_vec(),
            "missing_field",
        ),
    ];
    for (what, body, code) in cases {
        let (status, v) = post(&app, "/hooks/entra/attribute-collection", &jwt, body).await;
        let status_class = if status == 400 || status == 422 {
            400
        } else {
            status
        };
        assert_eq!(
            (status_class, v["code"].as_str()),
            (400, Some(code)),
            "{what}: {status} {v}"
        );
    }
    // What the person typed still gets the block page.
    let no_email = String::from_utf8(signup)
        .unwrap()
        .replace("ana.lopez@example.org", "not-an-email");
    let (status, v) = post(
        &app,
        "/hooks/entra/attribute-collection",
        &jwt,
        no_email.into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(
        v["data"]["actions"][0]["@odata.type"]
            .as_str()
            .is_some_and(|t| t.ends_with("showBlockPage")),
        "{v}"
    );
    assert_eq!(app.item_count().await, items, "nothing written");
}

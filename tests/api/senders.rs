//! The form and log-stream senders end to end over real HTTP: Typeform,
//! Tally, Survey123 and the Auth0 log stream, each with its own
//! authenticity check, field mapping and idempotency key, through the same
//! workflow (DynamoDB Local + portal simulator). Bodies are the realistic
//! recorded deliveries in `events/`.

use agol_seat_broker::config::Secret;
use agol_seat_broker::intake::sources::{Source, Sources};
use agol_seat_broker::intake::{FieldMap, tally, typeform};
use serde_json::Value;

use crate::helpers::{Options, TestApp, spawn_app};

const TYPEFORM_SECRET: &str = "tf-test-secret";
const TALLY_SECRET: &str = "tally-test-secret";
const SURVEY123_TOKEN: &str = "s123-test-token-0000-not-a-real-secret";
const AUTH0_TOKEN: &str = "test-only-auth0-log-stream-token";

/// The example rules' pools, one seat each, so the second person is refused.
const ONE_SEAT_EACH: &str = r#"
    [[pools]]
    name = "water-board"
    seats = 1
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Project Atlas partners"]
    [pools.match]
    email_domains = ["example.org"]
    [[pools]]
    name = "city-gis"
    seats = 1
    role = "publisher"
    user_type = "creatorUT"
    groups = ["Project Atlas partners", "Project Atlas editors"]
    invitation = "password"
    [pools.match]
    email_domains = ["city.example"]
    [[pools]]
    name = "field-crews"
    seats = 1
    role = "data editor"
    user_type = "fieldWorkerUT"
    groups = ["Field data collection"]
    username = "{first}.{last}_field"
    # The forms' pool field is trusted here (issue 13: otherwise such a
    # request waits for approval).
    trust_declared = true
    [pools.match]
    pool_field = ["field"]
"#;

fn source(secret: &str) -> Source {
    Source {
        secrets: vec![Secret::new(secret), Secret::new("an-older-rotated-secret")],
        fields: FieldMap::default(),
        header: None,
        ..Default::default()
    }
}

async fn app() -> TestApp {
    let mut sources = Sources::default();
    sources.insert("typeform", source(TYPEFORM_SECRET));
    sources.insert("tally", source(TALLY_SECRET));
    sources.insert("survey123", source(SURVEY123_TOKEN));
    sources.insert("auth0_logs", source(AUTH0_TOKEN));
    let mut o = Options {
        rules: ONE_SEAT_EACH,
        sources,
        ..Options::default()
    };
    o.sim.groups = vec![
        "Project Atlas partners".into(),
        "Project Atlas editors".into(),
        "Field data collection".into(),
    ];
    spawn_app(o).await
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("events/{name}.body.json")).expect("fixture exists")
}

async fn post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = app
        .http
        .post(format!("{}{path}", app.url))
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let res = req.send().await.expect("sent");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn groups_of(app: &TestApp, titles: &[&str]) -> Vec<String> {
    let mut g: Vec<String> = titles
        .iter()
        .map(|t| app.sim.group_id(t).unwrap())
        .collect();
    g.sort();
    g
}

#[tokio::test]
async fn typeform_creates_the_member_replays_refuses_forgeries_and_records_a_full_pool() {
    let app = app().await;
    let body = fixture("typeform-signup");
    let sig = |b: &[u8]| vec![("typeform-signature", typeform::sign(TYPEFORM_SECRET, b))];

    let (status, v) = post(&app, "/webhooks/typeform", &sig(&body), body.clone()).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("provisioned")),
        "{v}"
    );
    let m = app
        .sim
        .member("ana.lopez_water-board")
        .expect("member created");
    assert_eq!(
        (m.role.as_str(), m.user_type.as_str()),
        ("iAAAAAAAAAAAAAAA", "viewerUT")
    );
    let mut got = m.group_ids.clone();
    got.sort();
    assert_eq!(got, groups_of(&app, &["Project Atlas partners"]));

    // Typeform's retry: the same event_id. No second seat.
    let (status, v) = post(&app, "/webhooks/typeform", &sig(&body), body.clone()).await;
    assert_eq!((status, v["replayed"].as_bool()), (200, Some(true)), "{v}");

    // Tampered after signing: 401, nothing written.
    let items = app.item_count().await;
    let tampered = fixture("typeform-bad-signature");
    let (status, v) = post(&app, "/webhooks/typeform", &sig(&body), tampered).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (401, Some("invalid_signature"))
    );
    assert_eq!(app.item_count().await, items);

    // Another person while the pool's only seat is taken: a 2xx that says so,
    // so Typeform does not retry a refusal it cannot change.
    let other = String::from_utf8(body)
        .unwrap()
        .replace("ana.lopez@example.org", "ben@example.org")
        .replace("01JNHX3T9ZTYPEFORM0000001", "01JNHX3T9ZTYPEFORM0000002")
        .into_bytes();
    let (status, v) = post(&app, "/webhooks/typeform", &sig(&other), other).await;
    assert_eq!(
        (status, v["status"].as_str(), v["code"].as_str()),
        (200, Some("refused"), Some("pool_full"))
    );
    assert_eq!(app.sim.members().len(), 1);
    assert_eq!(app.used("water-board").await, 1);
}

#[tokio::test]
async fn tally_maps_labels_and_dropdown_options_to_a_password_account() {
    let app = app().await;
    let body = fixture("tally-signup");
    let sig = |b: &[u8]| vec![("tally-signature", tally::sign(TALLY_SECRET, b))];

    let (status, v) = post(&app, "/webhooks/tally", &sig(&body), body.clone()).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("provisioned")),
        "{v}"
    );
    let m = app.sim.member("bo.chen_city-gis").expect("member created");
    assert_eq!(
        (m.role.as_str(), m.user_type.as_str()),
        ("org_publisher", "creatorUT")
    );
    assert_eq!(m.first_name, "Bo");
    let mut got = m.group_ids.clone();
    got.sort();
    assert_eq!(
        got,
        groups_of(&app, &["Project Atlas partners", "Project Atlas editors"])
    );

    let (status, v) = post(&app, "/webhooks/tally", &sig(&body), body.clone()).await;
    assert_eq!((status, v["replayed"].as_bool()), (200, Some(true)));

    let (status, _) = post(
        &app,
        "/webhooks/tally",
        &sig(b"{}"),
        fixture("tally-bad-signature"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(app.sim.members().len(), 1);
    assert_eq!(app.used("city-gis").await, 1);
}

#[tokio::test]
async fn survey123_needs_its_path_token_and_ignores_edits() {
    let app = app().await;
    let body = fixture("survey123-signup");
    let url = format!("/webhooks/survey123/{SURVEY123_TOKEN}");

    let (status, v) = post(&app, &url, &[], body.clone()).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("provisioned")),
        "{v}"
    );
    let m = app
        .sim
        .member("cai.moreno_field")
        .expect("member created by the pool field");
    assert_eq!(
        (m.role.as_str(), m.user_type.as_str()),
        ("iBBBBBBBBBBBBBBB", "fieldWorkerUT")
    );

    let (status, v) = post(&app, &url, &[], body.clone()).await;
    assert_eq!((status, v["replayed"].as_bool()), (200, Some(true)));

    let (status, v) = post(&app, &url, &[], fixture("survey123-edit")).await;
    assert_eq!((status, v["status"].as_str()), (200, Some("ignored")));

    let items = app.item_count().await;
    let (status, v) = post(&app, "/webhooks/survey123/guessed-token-0000", &[], body).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (401, Some("invalid_signature"))
    );
    assert_eq!(app.item_count().await, items);
    assert_eq!(app.sim.members().len(), 1);
}

#[tokio::test]
async fn the_auth0_log_stream_handles_signup_records_and_skips_the_rest() {
    let app = app().await;
    let body = fixture("auth0-logs-signup");
    let auth = vec![("authorization", AUTH0_TOKEN.to_string())];

    let (status, v) = post(&app, "/webhooks/auth0-logs", &auth, body.clone()).await;
    assert_eq!((status, v["signups"].as_u64()), (200, Some(1)), "{v}");
    assert!(v["skipped"].as_u64().unwrap() >= 1, "{v}");
    assert!(app.sim.member("ana.lopez_water-board").is_some());

    // Auth0 resends the batch: no second seat.
    let (status, _) = post(&app, "/webhooks/auth0-logs", &auth, body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(app.used("water-board").await, 1);

    let wrong = vec![("authorization", "Bearer not-the-token".to_string())];
    let (status, _) = post(&app, "/webhooks/auth0-logs", &wrong, body).await;
    assert_eq!(status, 401);
    assert_eq!(app.sim.members().len(), 1);
}

#[tokio::test]
async fn a_sender_that_is_not_switched_on_answers_404_and_writes_nothing() {
    let app = spawn_app(Options::default()).await;
    let body = fixture("typeform-signup");
    let sig = vec![("typeform-signature", typeform::sign(TYPEFORM_SECRET, &body))];

    let (status, v) = post(&app, "/webhooks/typeform", &sig, body).await;

    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("source_not_configured"))
    );
    assert_eq!(app.item_count().await, 0);
}

/// Issue 13: the Auth0 log stream created a batch's members one after
/// another inside the request (each with the portal's deadline, in a 29 s
/// function). With a queue they are reserved and queued like the identity
/// providers' hooks: the batch is answered while the portal is down, and
/// the worker creates the member once it is back.
#[tokio::test]
async fn an_auth0_batch_is_reserved_and_queued_not_created_in_the_request() {
    use agol_seat_broker::entrypoints::local_worker::LocalWorkerSettings;
    use agol_seat_broker::portal::simulator::{Fault, FaultKind};
    use std::time::Duration;
    let mut sources = Sources::default();
    sources.insert("auth0_logs", source(AUTH0_TOKEN));
    let mut o = Options {
        rules: ONE_SEAT_EACH,
        sources,
        queue: crate::helpers::QueueMode::Local(LocalWorkerSettings {
            attempts: 20,
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            concurrency: 2,
        }),
        ..Options::default()
    };
    o.sim.groups = vec![
        "Project Atlas partners".into(),
        "Project Atlas editors".into(),
        "Field data collection".into(),
    ];
    let app = spawn_app(o).await;
    app.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::HttpStatus(503),
        times: Some(3),
    });
    let auth = vec![("authorization", AUTH0_TOKEN.to_string())];

    let (status, v) = post(
        &app,
        "/webhooks/auth0-logs",
        &auth,
        fixture("auth0-logs-signup"),
    )
    .await;

    assert_eq!((status, v["signups"].as_u64()), (200, Some(1)), "{v}");
    assert_eq!(app.used("water-board").await, 1, "the seat is reserved");
    let mut made = false;
    for _ in 0..200 {
        if app.sim.member("ana.lopez_water-board").is_some() {
            made = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        made,
        "the worker created the member once the portal answered"
    );
}

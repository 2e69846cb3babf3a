//! The recorded API Gateway v2 events in `events/` fed through the handler
//! exactly as Lambda delivers them (`lambda_http::request::from_str`), with
//! the clock set to the moment they were signed.

use std::sync::atomic::Ordering;

use agol_seat_broker::entrypoints::http::router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::helpers::{Options, spawn_app};

const SIGNED_AT_MS: i64 = 1_772_443_800_000;

async fn invoke(app: &crate::helpers::TestApp, file: &str) -> (u16, Value) {
    let text = std::fs::read_to_string(format!("events/{file}")).expect("fixture exists");
    let req = lambda_http::request::from_str(&text).expect("a valid API Gateway v2 event");
    let res = router(app.state.clone())
        .oneshot(req)
        .await
        .expect("infallible");
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

fn options() -> Options {
    let mut o = Options {
        rules: include_str!("../../config/rules.toml"),
        ..Options::default()
    };
    o.sim.groups = vec![
        "Project Atlas partners".into(),
        "Project Atlas editors".into(),
        "Field data collection".into(),
    ];
    o
}

#[tokio::test]
async fn the_recorded_events_get_the_documented_answers() {
    let app = spawn_app(options()).await;
    app.clock.store(SIGNED_AT_MS + 2_000, Ordering::SeqCst);

    let (status, body) = invoke(&app, "standard-signup.apigw.json").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["pool"], "water-board");
    assert_eq!(body["username"], "ana.lopez_water-board");
    let m = app
        .sim
        .member("ana.lopez_water-board")
        .expect("member created");
    assert_eq!(m.user_type, "viewerUT");

    // The sender's retry 40 s later: same delivery, replayed answer.
    app.clock.store(SIGNED_AT_MS + 41_000, Ordering::SeqCst);
    let (status, body) = invoke(&app, "standard-replay.apigw.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"], true);

    let (status, body) = invoke(&app, "standard-bad-signature.apigw.json").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_signature"))
    );

    let (status, body) = invoke(&app, "standard-malformed.apigw.json").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("malformed_body"))
    );

    assert_eq!(app.sim.members().len(), 1);
    assert_eq!(app.used("water-board").await, 1);
}

#[tokio::test]
async fn a_recorded_event_replayed_hours_later_is_refused_as_stale() {
    let app = spawn_app(options()).await;
    app.clock
        .store(SIGNED_AT_MS + 3 * 3600 * 1000, Ordering::SeqCst);

    let (status, body) = invoke(&app, "standard-signup.apigw.json").await;

    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("stale_timestamp"))
    );
    assert_eq!(app.item_count().await, 0);
}

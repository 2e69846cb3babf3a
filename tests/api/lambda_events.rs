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

#[tokio::test]
async fn the_recorded_identity_provider_events_get_the_documented_answers() {
    use crate::entra_keys;
    use agol_seat_broker::config::Secret;
    use agol_seat_broker::intake::FieldMap;
    use agol_seat_broker::intake::entra::EntraConfig;
    use agol_seat_broker::intake::sources::{Source, Sources};
    use std::time::Duration;

    let jwks: Value =
        serde_json::from_str(&std::fs::read_to_string("events/entra-jwks.json").unwrap()).unwrap();
    let jwks = entra_keys::JwksServer::start(jwks).await;
    let source = |secret: &str| Source {
        secrets: vec![Secret::new(secret)],
        fields: FieldMap::default(),
        header: None,
        ..Default::default()
    };
    let entra_config = EntraConfig::new(&jwks.url, entra_keys::ISSUER, entra_keys::AUDIENCE);
    let mut sources = Sources::default();
    // The secrets events/generate.py put in the recorded deliveries.
    sources.insert("okta", source("test-only-okta-event-hook-secret"));
    sources.insert(
        "okta_registration",
        source("Basic dGVzdC1vbmx5Om9rdGEtcmVnaXN0cmF0aW9u"),
    );
    let mut entra = source("");
    entra.secrets.clear();
    entra.entra = Some(entra_config.clone());
    sources.insert("entra", entra);
    let mut o = options();
    o.sources = sources;
    o.queue = crate::helpers::QueueMode::Local(Default::default());
    let app = spawn_app(o).await;
    app.clock.store(SIGNED_AT_MS + 2_000, Ordering::SeqCst);

    let (status, body) = invoke(&app, "okta-events-verify.apigw.json").await;
    assert_eq!(
        (status, body["verification"].as_str()),
        (200, Some("test-only-challenge-7Kq2mB9xZ4"))
    );
    let (status, body) = invoke(&app, "okta-events-signup.apigw.json").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("accepted")),
        "{body}"
    );
    let (status, _) = invoke(&app, "okta-events-replay.apigw.json").await;
    assert_eq!(status, 200);
    let (status, _) = invoke(&app, "okta-events-bad-secret.apigw.json").await;
    assert_eq!(status, 401);

    for (file, want) in [
        ("okta-registration-signup.apigw.json", "ALLOW"),
        ("okta-registration-replay.apigw.json", "ALLOW"),
    ] {
        let (status, body) = invoke(&app, file).await;
        assert_eq!(
            (
                status,
                body["commands"][0]["value"]["registration"].as_str()
            ),
            (200, Some(want)),
            "{file}: {body}"
        );
    }
    let (status, _) = invoke(&app, "okta-registration-bad-secret.apigw.json").await;
    assert_eq!(status, 401);

    for file in [
        "entra-attribute-collection-signup.apigw.json",
        "entra-attribute-collection-replay.apigw.json",
    ] {
        let (status, body) = invoke(&app, file).await;
        assert_eq!(status, 200, "{file}: {body}");
        assert_eq!(
            body["data"]["actions"][0]["@odata.type"],
            "microsoft.graph.attributeCollectionSubmit.continueWithDefaultBehavior",
            "{file}: {body}"
        );
    }
    let (status, _) = invoke(&app, "entra-attribute-collection-bad-token.apigw.json").await;
    assert_eq!(status, 401);

    // Ana (Okta events, registration and Entra: one person) and Ben hold
    // one seat each; the queue created both members.
    for _ in 0..100 {
        if app.sim.members().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.sim.members().len(), 2, "{:?}", app.sim.members());
    assert_eq!(app.used("water-board").await, 2);
}

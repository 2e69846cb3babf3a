//! The portal failing: the seat is released, the answer says what happened,
//! and the ledger's count always equals the members in the portal.

use std::time::Duration;

use agol_seat_broker::portal::simulator::{Fault, FaultKind};
use serde_json::Value;

use crate::helpers::{Options, signup, spawn_app};

async fn assert_consistent(app: &crate::helpers::TestApp) {
    let members = app.sim.members().len() as u32;
    assert_eq!(
        app.used("acme").await,
        members,
        "ledger used count == members in the portal"
    );
    assert_eq!(app.claims("acme").await.len() as u32, members);
}

#[tokio::test]
async fn server_errors_past_the_retry_budget_release_the_seat() {
    let app = spawn_app(Options::default()).await;
    app.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::HttpStatus(500),
        times: None,
    });

    let res = app.post_signup("msg_500", &signup("ana@acme.org")).await;

    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["code"], "portal_unavailable");
    assert_eq!(app.used("acme").await, 0);
    assert_consistent(&app).await;

    // When the portal recovers, the sender's retry succeeds.
    app.sim.clear_faults();
    let res = app.post_signup("msg_500", &signup("ana@acme.org")).await;
    assert_eq!(res.status(), 201);
    assert_consistent(&app).await;
}

#[tokio::test]
async fn slow_answers_past_the_deadline_release_the_seat() {
    let opts = Options {
        deadline: Duration::from_millis(700),
        ..Options::default()
    };
    let app = spawn_app(opts).await;
    app.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::Delay(Duration::from_secs(3)),
        times: None,
    });

    let res = app.post_signup("msg_slow", &signup("ana@acme.org")).await;

    assert_eq!(res.status(), 503);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["code"], "portal_unavailable");
    assert_consistent(&app).await;
}

#[tokio::test]
async fn not_invited_releases_the_seat_and_says_the_portal_refused() {
    let app = spawn_app(Options::default()).await;
    app.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::NotInvited,
        times: None,
    });

    let res = app.post_signup("msg_ni", &signup("ana@acme.org")).await;

    assert_eq!(res.status(), 502);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["code"], "portal_refused");
    assert_eq!(app.used("acme").await, 0);
    assert_consistent(&app).await;
}

#[tokio::test]
async fn the_portals_own_seat_limit_releases_the_seat() {
    let mut opts = Options::default();
    opts.sim.purchased.insert("viewerUT".into(), 2);
    let app = spawn_app(opts).await;

    let mut codes = Vec::new();
    for i in 0..3 {
        let r = app
            .post_signup(&format!("msg_lim_{i}"), &signup(&format!("p{i}@acme.org")))
            .await;
        codes.push(r.status().as_u16());
    }

    assert_eq!(codes, vec![201, 201, 502]);
    assert_eq!(app.sim.assigned("viewerUT"), 2);
    assert_consistent(&app).await;
}

#[tokio::test]
async fn rate_limiting_and_transient_errors_within_budget_are_absorbed() {
    let app = spawn_app(Options::default()).await;
    app.sim.inject(Fault {
        endpoint: Some("invite".into()),
        kind: FaultKind::TooManyRequests {
            retry_after_secs: 0,
        },
        times: Some(1),
    });
    app.sim.inject(Fault {
        endpoint: Some("checkUsernames".into()),
        kind: FaultKind::HttpStatus(503),
        times: Some(1),
    });

    let res = app.post_signup("msg_429", &signup("ana@acme.org")).await;

    assert_eq!(res.status(), 201);
    assert_consistent(&app).await;
}

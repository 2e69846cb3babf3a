//! Bad input: a clear 4xx with a stable code, and nothing written anywhere.

use serde_json::Value;

use crate::helpers::{Options, TestApp, spawn_app};

async fn assert_nothing_written(app: &TestApp) {
    assert_eq!(app.item_count().await, 0, "no item in the ledger table");
    assert!(app.sim.members().is_empty(), "no member in the portal");
    assert_eq!(app.sim.request_count("invite"), 0);
}

async fn code_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let v: Value = res.json().await.unwrap();
    (status, v["code"].as_str().unwrap_or_default().to_string())
}

#[tokio::test]
async fn forged_stale_and_unsigned_deliveries_are_refused() {
    let app = spawn_app(Options::default()).await;
    let body = br#"{"email":"ana@acme.org"}"#.to_vec();
    let ts = app.now_secs();
    let good = app.key.sign("msg_x", ts, &body);
    let stranger = agol_seat_broker::intake::signature::SigningKey::parse(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    .unwrap();

    // (headers, body, expected status, expected code)
    type Case = (Vec<(&'static str, String)>, Vec<u8>, u16, &'static str);
    let cases: Vec<Case> = vec![
        // Body changed after signing.
        (
            vec![
                ("webhook-id", "msg_x".into()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", good.clone()),
            ],
            br#"{"email":"eve@acme.org"}"#.to_vec(),
            401,
            "invalid_signature",
        ),
        // Signed with a key we do not know.
        (
            vec![
                ("webhook-id", "msg_x".into()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", stranger.sign("msg_x", ts, &body)),
            ],
            body.clone(),
            401,
            "invalid_signature",
        ),
        // Six minutes old.
        (
            vec![
                ("webhook-id", "msg_x".into()),
                ("webhook-timestamp", (ts - 360).to_string()),
                ("webhook-signature", app.key.sign("msg_x", ts - 360, &body)),
            ],
            body.clone(),
            401,
            "stale_timestamp",
        ),
        // No signature at all.
        (
            vec![
                ("webhook-id", "msg_x".into()),
                ("webhook-timestamp", ts.to_string()),
            ],
            body.clone(),
            401,
            "missing_header",
        ),
        // Garbage timestamp: an unusable credential is a failed
        // authentication (issue 13; was 400 invalid_header).
        (
            vec![
                ("webhook-id", "msg_x".into()),
                ("webhook-timestamp", "yesterday".into()),
                ("webhook-signature", good.clone()),
            ],
            body.clone(),
            401,
            "invalid_credential",
        ),
    ];
    for (headers, body, status, code) in cases {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let got = code_of(app.post_raw(&h, body).await).await;
        assert_eq!(got, (status, code.to_string()));
    }
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn malformed_or_incomplete_signups_are_refused() {
    let app = spawn_app(Options::default()).await;
    let cases: &[(&[u8], u16, &str)] = &[
        (b"{not json", 400, "malformed_body"),
        (b"[]", 400, "malformed_body"),
        (br#"{"first_name":"Ana"}"#, 422, "missing_field"),
        (br#"{"email":"ana-at-acme.org"}"#, 422, "invalid_field"),
        (
            br#"{"email":"ana@acme.org","username":"x"}"#,
            422,
            "invalid_field",
        ),
        (
            br#"{"email":"nobody@unknown.example"}"#,
            422,
            "no_matching_pool",
        ),
    ];
    for (i, (body, status, code)) in cases.iter().enumerate() {
        let id = format!("msg_bad_{i}");
        let ts = app.now_secs();
        let sig = app.key.sign(&id, ts, body);
        let res = app
            .post_raw(
                &[
                    ("webhook-id", &id),
                    ("webhook-timestamp", &ts.to_string()),
                    ("webhook-signature", &sig),
                ],
                body.to_vec(),
            )
            .await;
        assert_eq!(
            code_of(res).await,
            (*status, code.to_string()),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn an_oversize_body_is_refused_before_it_is_read() {
    let app = spawn_app(Options::default()).await;
    let big = format!(
        r#"{{"email":"ana@acme.org","pad":"{}"}}"#,
        "x".repeat(200 * 1024)
    )
    .into_bytes();
    let ts = app.now_secs();
    let sig = app.key.sign("msg_big", ts, &big);

    let res = app
        .post_raw(
            &[
                ("webhook-id", "msg_big"),
                ("webhook-timestamp", &ts.to_string()),
                ("webhook-signature", &sig),
            ],
            big,
        )
        .await;

    assert_eq!(code_of(res).await, (413, "payload_too_large".to_string()));
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn error_bodies_never_echo_secrets_or_internals() {
    let app = spawn_app(Options::default()).await;
    let res = app
        .post_raw(
            &[
                ("webhook-id", "m"),
                ("webhook-timestamp", "1"),
                ("webhook-signature", "v1,AAAA"),
            ],
            b"{}".to_vec(),
        )
        .await;
    let text = res.text().await.unwrap();
    assert!(!text.contains("whsec_"), "{text}");
    assert!(!text.contains("Sim-Admin"), "{text}");
    assert!(text.contains("\"code\""), "{text}");
}

//! Issue 13: every sender's status codes, route by route, in one table.
//! Each sender's retry logic relies on them: a missing or unusable
//! credential is 401 (Okta, Typeform and Standard Webhooks senders stop or
//! alert), a malformed call is 400/422 (not retried), a sender that is not
//! switched on is 404. Every row writes nothing.

use agol_seat_broker::config::Secret;
use agol_seat_broker::intake::sources::{Source, Sources};
use agol_seat_broker::intake::{FieldMap, tally, typeform};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{Options, spawn_app};

const TYPEFORM: &str = "contract-typeform-secret";
const TALLY: &str = "contract-tally-secret";
const SURVEY123: &str = "contract-survey123-path-token";
const AUTH0: &str = "contract-auth0-log-stream-token";
const OKTA: &str = "contract-okta-event-hook-secret";
const OKTA_REGISTRATION: &str = "contract-okta-registration-secret";

fn source(secret: &str) -> Source {
    Source {
        secrets: vec![Secret::new(secret)],
        fields: FieldMap::default(),
        ..Default::default()
    }
}

/// One row: what is sent, and the status and code it must get.
struct Row {
    what: &'static str,
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

fn row(
    what: &'static str,
    path: &str,
    headers: Vec<(&'static str, String)>,
    body: &[u8],
    status: u16,
    code: &'static str,
) -> Row {
    Row {
        what,
        method: Method::POST,
        path: path.to_string(),
        headers,
        body: body.to_vec(),
        status,
        code,
    }
}

#[tokio::test]
async fn every_sender_gets_the_status_its_contract_names_and_nothing_is_written() {
    let mut sources = Sources::default();
    sources.insert("typeform", source(TYPEFORM));
    sources.insert("tally", source(TALLY));
    sources.insert("survey123", source(SURVEY123));
    sources.insert("auth0_logs", source(AUTH0));
    sources.insert("okta", source(OKTA));
    sources.insert("okta_registration", source(OKTA_REGISTRATION));
    let app = spawn_app(Options {
        sources,
        ..Options::default()
    })
    .await;
    let signup = br#"{"email":"ana@acme.org","first_name":"Ana"}"#;
    let ts = app.now_secs();
    let good = app.key.sign("msg_c", ts, signup);
    let std_headers = |ts: String, sig: &str| {
        vec![
            ("webhook-id", "msg_c".to_string()),
            ("webhook-timestamp", ts),
            ("webhook-signature", sig.to_string()),
        ]
    };
    let tf_good = typeform::sign(TYPEFORM, b"{not json");
    let tally_good = tally::sign(TALLY, b"{not json");
    let std = "/webhooks/standard";
    let mut rows = vec![
        // Standard Webhooks.
        row(
            "standard: no signature",
            std,
            std_headers(ts.to_string(), "")
                .into_iter()
                .take(2)
                .collect(),
            signup,
            401,
            "missing_header",
        ),
        row(
            "standard: non-numeric timestamp",
            std,
            std_headers("soon".into(), &good),
            signup,
            401,
            "invalid_credential",
        ),
        row(
            "standard: timestamp that overflows",
            std,
            std_headers(i64::MIN.to_string(), &good),
            signup,
            401,
            "stale_timestamp",
        ),
        row(
            "standard: empty signature",
            std,
            std_headers(ts.to_string(), ""),
            signup,
            401,
            "invalid_credential",
        ),
        row(
            "standard: too many signatures",
            std,
            std_headers(ts.to_string(), &[good.as_str(); 9].join(" ")),
            signup,
            401,
            "invalid_credential",
        ),
        row(
            "standard: wrong signature",
            std,
            std_headers(ts.to_string(), "v1,AAAA"),
            signup,
            401,
            "invalid_signature",
        ),
        row(
            "standard: signed, not JSON",
            std,
            std_headers(ts.to_string(), &app.key.sign("msg_c", ts, b"{not json")),
            b"{not json",
            400,
            "malformed_body",
        ),
        // Typeform.
        row(
            "typeform: no signature",
            "/webhooks/typeform",
            vec![],
            signup,
            401,
            "missing_header",
        ),
        row(
            "typeform: empty signature",
            "/webhooks/typeform",
            vec![("typeform-signature", String::new())],
            signup,
            401,
            "invalid_credential",
        ),
        row(
            "typeform: prefix only",
            "/webhooks/typeform",
            vec![("typeform-signature", "sha256=".into())],
            signup,
            401,
            "invalid_credential",
        ),
        row(
            "typeform: wrong signature",
            "/webhooks/typeform",
            vec![(
                "typeform-signature",
                typeform::sign("another-secret-entirely", signup),
            )],
            signup,
            401,
            "invalid_signature",
        ),
        row(
            "typeform: signed, not JSON",
            "/webhooks/typeform",
            vec![("typeform-signature", tf_good)],
            b"{not json",
            400,
            "malformed_body",
        ),
        // Tally.
        row(
            "tally: no signature",
            "/webhooks/tally",
            vec![],
            signup,
            401,
            "missing_header",
        ),
        row(
            "tally: empty signature",
            "/webhooks/tally",
            vec![("tally-signature", String::new())],
            signup,
            401,
            "invalid_credential",
        ),
        row(
            "tally: not base64",
            "/webhooks/tally",
            vec![("tally-signature", "%%%".into())],
            signup,
            401,
            "invalid_credential",
        ),
        row(
            "tally: signed, not JSON",
            "/webhooks/tally",
            vec![("tally-signature", tally_good)],
            b"{not json",
            400,
            "malformed_body",
        ),
        // Survey123: the token is in the path.
        row(
            "survey123: wrong token",
            "/webhooks/survey123/not-the-token-at-all",
            vec![],
            signup,
            401,
            "invalid_signature",
        ),
        // Auth0 log stream.
        row(
            "auth0: no authorization",
            "/webhooks/auth0-logs",
            vec![],
            b"[]",
            401,
            "missing_header",
        ),
        row(
            "auth0: wrong authorization",
            "/webhooks/auth0-logs",
            vec![("authorization", "Bearer wrong-token-value-xyz".into())],
            b"[]",
            401,
            "invalid_signature",
        ),
        // Okta event hook and registration hook.
        row(
            "okta: no secret",
            "/webhooks/okta",
            vec![],
            b"{}",
            401,
            "missing_header",
        ),
        row(
            "okta: wrong secret",
            "/webhooks/okta",
            vec![("authorization", "not-the-okta-secret".into())],
            b"{}",
            401,
            "invalid_signature",
        ),
        row(
            "okta registration: wrong secret",
            "/hooks/okta/registration",
            vec![("authorization", "not-the-okta-secret".into())],
            b"{}",
            401,
            "invalid_signature",
        ),
        row(
            "okta registration: not JSON",
            "/hooks/okta/registration",
            vec![("authorization", OKTA_REGISTRATION.into())],
            b"{not json",
            400,
            "malformed_body",
        ),
        // Senders that are not switched on.
        row(
            "entra: not configured",
            "/hooks/entra/attribute-collection",
            vec![],
            b"{}",
            404,
            "source_not_configured",
        ),
    ];
    rows.push(Row {
        what: "okta verification: right secret, no challenge",
        method: Method::GET,
        path: "/webhooks/okta".into(),
        headers: vec![("authorization", OKTA.into())],
        body: Vec::new(),
        status: 400,
        code: "invalid_header",
    });
    rows.push(Row {
        what: "okta verification: wrong secret",
        method: Method::GET,
        path: "/webhooks/okta".into(),
        headers: vec![
            ("authorization", "not-the-okta-secret".into()),
            ("x-okta-verification-challenge", "abc".into()),
        ],
        body: Vec::new(),
        status: 401,
        code: "invalid_signature",
    });

    let mut wrong = Vec::new();
    for r in &rows {
        let mut req = app
            .http
            .request(r.method.clone(), format!("{}{}", app.url, r.path))
            .header("content-type", "application/json")
            .body(r.body.clone());
        for (k, v) in &r.headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.expect("sent");
        let status = res.status().as_u16();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        let code = v["code"].as_str().unwrap_or_default().to_string();
        if (status, code.as_str()) != (r.status, r.code) {
            wrong.push(format!(
                "{}: got {status} {code:?}, want {} {:?}",
                r.what, r.status, r.code
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    assert_eq!(app.used("acme").await, 0, "nothing reserved");
    assert!(app.sim.members().is_empty(), "nobody created");
}

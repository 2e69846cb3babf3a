//! The approval step and the waitlist over real HTTP (DynamoDB Local +
//! portal simulator): every channel a decision can arrive by, replays and
//! forgeries, double clicks, and the first in line getting a freed seat.

use std::sync::{Arc, Mutex};

use agol_seat_broker::config::Secret;
use agol_seat_broker::entrypoints::http::ApprovalConfig;
use agol_seat_broker::intake::signature::SigningKey;
use agol_seat_broker::intake::slack::{SlackApprovals, sign_slack};
use agol_seat_broker::intake::sources::{Source, Sources};
use agol_seat_broker::notify::links::LinkSigner;
use agol_seat_broker::notify::webhook::WebhookNotifier;
use agol_seat_broker::notify::{LinkMaker, Notifier};
use agol_seat_broker::provisioning::ApprovalWiring;
use serde_json::{Value, json};

use crate::helpers::{Options, STATUS_TOKEN, TestApp, spawn_app};

const LINK_KEY: &str = "test-only-approval-link-key-0123456789";
const SLACK_SECRET: &str = "test-only-slack-signing-secret";
const SURVEY_TOKEN: &str = "test-only-survey123-approval-token";
/// The approval webhooks' own key (never the sign-up key).
const APPROVAL_KEY: &str = "whsec_YXBwcm92YWwta2V5LW9mLXRoZS10ZXN0cw==";

fn approval_key() -> SigningKey {
    SigningKey::parse(APPROVAL_KEY).unwrap()
}

/// `review` needs approval and holds a seat while pending (2 seats, a
/// waitlist); `open` needs none.
const RULES: &str = r#"
    [[pools]]
    name = "review"
    seats = 2
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    approval = "manual"
    waitlist = true
    [pools.match]
    email_domains = ["example.org"]
"#;

/// Incoming-webhook stand-in (Slack/Teams): keeps every notice's text.
async fn notice_sink() -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let g = g.clone();
            async move {
                g.lock()
                    .unwrap()
                    .push(v["text"].as_str().unwrap_or_default().to_string());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

struct World {
    app: TestApp,
    notices: Arc<Mutex<Vec<String>>>,
}

async fn world(rules: &'static str) -> World {
    let (hook, notices) = notice_sink().await;
    // Links point at the app, whose address is known only after it starts:
    // a placeholder base, rewritten in `follow`.
    let signer = Arc::new(LinkSigner::new(Secret::new(LINK_KEY), "http://broker.invalid").unwrap());
    let notifier: Arc<dyn Notifier> = Arc::new(WebhookNotifier::new(Secret::new(hook)).unwrap());
    let mut sources = Sources::default();
    sources.insert(
        "survey123_approvals",
        Source {
            secrets: vec![Secret::new(SURVEY_TOKEN)],
            ..Default::default()
        },
    );
    let mut o = Options {
        rules,
        sources,
        approvals: ApprovalWiring {
            notifiers: vec![notifier],
            links: Some(signer.clone() as Arc<dyn LinkMaker>),
            mailer: None,
        },
        approval_routes: ApprovalConfig {
            links: Some(signer),
            slack: Some(SlackApprovals {
                signing_secrets: vec![Secret::new(SLACK_SECRET)],
                approvers: vec!["U0APPROVER".into()],
            }),
            webhook_keys: vec![approval_key()],
        },
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    World {
        app: spawn_app(o).await,
        notices,
    }
}

async fn sign_up(app: &TestApp, id: &str, email: &str) -> (u16, Value) {
    let res = app
        .post_signup(
            id,
            &json!({"email": email, "first_name": "Ana", "last_name": "Lopez"}),
        )
        .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

/// A signed decision on `id` (the body gets `"request_id": id` unless it
/// names one), signed with the approval key.
async fn decide(app: &TestApp, id: &str, body: &Value, msg_id: &str) -> (u16, Value) {
    decide_signed(app, &approval_key(), id, body, msg_id).await
}

async fn decide_signed(
    app: &TestApp,
    key: &SigningKey,
    id: &str,
    body: &Value,
    msg_id: &str,
) -> (u16, Value) {
    let mut body = body.clone();
    if body.get("request_id").is_none() {
        body["request_id"] = json!(id);
    }
    let raw = serde_json::to_vec(&body).unwrap();
    let ts = app.now_secs();
    let sig = key.sign(msg_id, ts, &raw);
    let res = app
        .http
        .post(format!("{}/approvals/{id}", app.url))
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(raw)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn status(app: &TestApp) -> Value {
    app.http
        .get(format!("{}/status", app.url))
        .bearer_auth(STATUS_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn pool<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pool"] == name)
        .unwrap()
}

/// The approve/deny URL of the latest notice, pointed at the app.
fn link(w: &World, which: &str) -> String {
    let notices = w.notices.lock().unwrap();
    let text = notices.last().expect("a notice was sent");
    let line = text
        .lines()
        .find(|l| l.starts_with(which))
        .unwrap_or_else(|| panic!("no {which} link in {text}"));
    line.split_once(": ")
        .unwrap()
        .1
        .replace("http://broker.invalid", &w.app.url)
}

#[tokio::test]
async fn a_signed_approval_creates_the_member_and_replays_or_forgeries_change_nothing() {
    let w = world(RULES).await;
    let app = &w.app;
    let (code, v) = sign_up(app, "msg_a1", "ana@example.org").await;
    assert_eq!((code, v["status"].as_str()), (202, Some("pending")), "{v}");
    let id = v["request_id"].as_str().unwrap().to_string();
    assert_eq!(app.used("review").await, 1, "a seat is held while pending");
    assert!(app.sim.members().is_empty());
    // The approvers were told, with the pool, the seats left and the links.
    {
        let n = w.notices.lock().unwrap();
        assert_eq!(n.len(), 1);
        assert!(
            n[0].contains("pool review") && n[0].contains("ana@example.org"),
            "{}",
            n[0]
        );
        assert!(n[0].contains("Seats left in review: 1"), "{}", n[0]);
    }
    let s = status(app).await;
    assert_eq!(pool(&s, "review")["pending"], 1);

    // A forged decision: 401, still pending.
    let raw = br#"{"decision":"approve","approver":"mallory"}"#.to_vec();
    let res = app
        .http
        .post(format!("{}/approvals/{id}", app.url))
        .header("webhook-id", "msg_forged")
        .header("webhook-timestamp", app.now_secs().to_string())
        .header("webhook-signature", "v1,AAAA")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(pool(&status(app).await, "review")["pending"], 1);

    let (code, v) = decide(
        app,
        &id,
        &json!({"decision": "approve", "approver": "ops@example.org", "comment": "partner"}),
        "msg_d1",
    )
    .await;
    assert_eq!((code, v["status"].as_str()), (200, Some("decided")), "{v}");
    let m = app.sim.member("ana_review").expect("member created");
    assert_eq!(
        (m.role.as_str(), m.user_type.as_str()),
        ("iAAAAAAAAAAAAAAA", "viewerUT")
    );
    assert_eq!(m.group_ids, vec![app.sim.group_id("Partners").unwrap()]);
    assert_eq!(app.used("review").await, 1);
    assert_eq!(app.active_claims("review").await, 1);

    // The same delivery again (the sender's retry after a lost reply):
    // the same answer, from its record; nothing decided twice (issue 13:
    // a signed decision is single use).
    let (code, v) = decide(
        app,
        &id,
        &json!({"decision": "approve", "approver": "ops@example.org", "comment": "partner"}),
        "msg_d1",
    )
    .await;
    assert_eq!((code, v["status"].as_str()), (200, Some("decided")), "{v}");
    // Its delivery id with another body: refused.
    let (code, v) = decide(
        app,
        &id,
        &json!({"decision": "approve", "approver": "ops@example.org"}),
        "msg_d1",
    )
    .await;
    assert_eq!(
        (code, v["code"].as_str()),
        (422, Some("delivery_id_reused")),
        "{v}"
    );
    // The same decision again, or the opposite one: nothing changes.
    let (code, v) = decide(
        app,
        &id,
        &json!({"decision": "approve", "approver": "ops@example.org"}),
        "msg_d1b",
    )
    .await;
    assert_eq!(
        (code, v["code"].as_str()),
        (409, Some("already_decided")),
        "{v}"
    );
    let (code, _) = decide(
        app,
        &id,
        &json!({"decision": "deny", "approver": "other"}),
        "msg_d2",
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(app.sim.members().len(), 1);
    assert_eq!(app.used("review").await, 1);
}

#[tokio::test]
async fn a_deny_link_confirms_first_decides_once_and_releases_the_hold() {
    let w = world(RULES).await;
    let app = &w.app;
    let (_, v) = sign_up(app, "msg_b1", "bo@example.org").await;
    let id = v["request_id"].as_str().unwrap().to_string();
    let deny = link(&w, "Deny");

    // Opening the link (as a mail scanner would) changes nothing.
    let page = app.http.get(&deny).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("bo@example.org") && html.contains("<form method=\"post\""),
        "{html}"
    );
    assert_eq!(app.used("review").await, 1);

    // The confirmation's POST decides; a double click decides nothing more.
    let (path, query) = deny.split_once('?').unwrap();
    let post = |q: String| {
        app.http
            .post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(q)
            .send()
    };
    let first = post(query.to_string()).await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let second = post(query.to_string()).await.unwrap();
    assert_eq!(second.status().as_u16(), 409);
    assert!(second.text().await.unwrap().contains("already decided"));
    assert_eq!(app.used("review").await, 0, "the hold is released");
    assert!(app.sim.members().is_empty());

    // A tampered link: refused, whatever it names.
    let tampered = query.replace("decision=deny", "decision=approve");
    assert_eq!(post(tampered).await.unwrap().status().as_u16(), 403);
    let _ = id;
}

#[tokio::test]
async fn slack_buttons_decide_for_allowed_approvers_only() {
    let w = world(RULES).await;
    let app = &w.app;
    let (_, v) = sign_up(app, "msg_c1", "cy@example.org").await;
    let id = v["request_id"].as_str().unwrap().to_string();
    let press = |user: &str, action: &str| {
        let payload = json!({"type": "block_actions", "user": {"id": user, "username": "x"},
            "actions": [{"action_id": action, "value": id, "type": "button"}]});
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let ts = app.now_secs();
        (sign_slack(SLACK_SECRET, ts, body.as_bytes()), ts, body)
    };
    let send = |sig: String, ts: i64, body: String| {
        app.http
            .post(format!("{}/approvals/slack", app.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-signature", sig)
            .header("x-slack-request-timestamp", ts.to_string())
            .body(body)
            .send()
    };

    // Not on the list: told so, nothing decided.
    let (sig, ts, body) = press("U0INTRUDER", "approve");
    let res = send(sig, ts, body).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.text().await.unwrap().contains("not allowed"));
    // A bad signature: 401.
    let (_, ts, body) = press("U0APPROVER", "approve");
    assert_eq!(
        send("v0=00".into(), ts, body)
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert!(app.sim.members().is_empty());

    let (sig, ts, body) = press("U0APPROVER", "approve");
    let res = send(sig, ts, body).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("approved by <@U0APPROVER>")
    );
    assert!(app.sim.member("cy_review").is_some());
}

#[tokio::test]
async fn a_survey123_edit_with_a_decided_status_decides() {
    let w = world(RULES).await;
    let app = &w.app;
    let (_, v) = sign_up(app, "msg_s1", "di@example.org").await;
    let id = v["request_id"].as_str().unwrap().to_string();
    let edit = |status: &str| {
        json!({"eventType": "editData", "feature": {"attributes": {
            "request_id": id, "status": status, "approver": "Field Lead", "objectid": 7}}})
    };
    let post = |body: Value, token: &str| {
        app.http
            .post(format!("{}/webhooks/survey123-approvals/{token}", app.url))
            .json(&body)
            .send()
    };
    assert_eq!(
        post(edit("approved"), "wrong-token")
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let r = post(edit("pending"), SURVEY_TOKEN).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ignored");
    let r = post(edit("Approved"), SURVEY_TOKEN).await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "decided");
    assert!(app.sim.member("di_review").is_some());
    // Survey123 re-sends: a 2xx that says it was already decided.
    let r = post(edit("Approved"), SURVEY_TOKEN).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "already_decided");
}

#[tokio::test]
async fn a_freed_seat_goes_to_the_first_in_line_through_approval() {
    let w = world(RULES).await;
    let app = &w.app;
    // Two pending requests hold both seats; the next two wait in line.
    let mut ids = vec![];
    for (n, email) in ["a1@example.org", "a2@example.org"].iter().enumerate() {
        let (_, v) = sign_up(app, &format!("msg_w{n}"), email).await;
        assert_eq!(v["status"], "pending", "{v}");
        ids.push(v["request_id"].as_str().unwrap().to_string());
    }
    let (code, v) = sign_up(app, "msg_w2", "first@example.org").await;
    assert_eq!(
        (code, v["status"].as_str(), v["position"].as_u64()),
        (202, Some("waitlisted"), Some(1)),
        "{v}"
    );
    let (_, v) = sign_up(app, "msg_w3", "second@example.org").await;
    assert_eq!(
        (v["status"].as_str(), v["position"].as_u64()),
        (Some("waitlisted"), Some(2))
    );
    let s = status(app).await;
    let review = pool(&s, "review");
    assert_eq!(
        (review["pending"].as_u64(), review["waitlisted"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(review["waitlist"][0]["person"], "first@example.org");
    let notices_before = w.notices.lock().unwrap().len();

    // Deny one: its seat goes to the first in line, who now needs approval.
    let (code, _) = decide(
        app,
        &ids[0],
        &json!({"decision": "deny", "approver": "ops"}),
        "msg_wd",
    )
    .await;
    assert_eq!(code, 200);
    let s = status(app).await;
    let review = pool(&s, "review");
    assert_eq!(
        (review["pending"].as_u64(), review["waitlisted"].as_u64()),
        (Some(2), Some(1)),
        "{s}"
    );
    assert_eq!(review["waitlist"][0]["person"], "second@example.org");
    assert_eq!(
        app.used("review").await,
        2,
        "the freed seat is held for the admitted request"
    );
    let notices = w.notices.lock().unwrap().clone();
    assert_eq!(
        notices.len(),
        notices_before + 1,
        "approvers are told about the admitted request"
    );
    assert!(notices.last().unwrap().contains("first@example.org"));
    drop(notices);

    // Approve the admitted one: it gets the seat, not the second in line.
    let approve = link(&w, "Approve");
    let (path, query) = approve.split_once('?').unwrap();
    let r = app
        .http
        .post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(app.sim.member("first_review").is_some());
    assert!(app.sim.member("second_review").is_none());
    assert_eq!(app.used("review").await, 2);
}

#[tokio::test]
async fn each_sender_is_answered_in_its_terms_and_a_source_can_skip_approval() {
    use agol_seat_broker::domain::ApprovalMode;
    use agol_seat_broker::intake::sources::PendingAnswer;
    let mut sources = Sources::default();
    sources.insert(
        "okta_registration",
        Source {
            secrets: vec![Secret::new("okta-reg-secret")],
            pending_answer: PendingAnswer::Deny,
            ..Default::default()
        },
    );
    // Typeform sign-ups come from a vetted partner form: no approval.
    sources.insert(
        "typeform",
        Source {
            secrets: vec![Secret::new("tf-secret")],
            approval: Some(ApprovalMode::None),
            ..Default::default()
        },
    );
    let mut o = Options {
        rules: RULES,
        sources,
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    let app = spawn_app(o).await;

    let body = std::fs::read_to_string("events/okta-registration-signup.body.json").unwrap();
    let v: Value = app
        .http
        .post(format!("{}/hooks/okta/registration", app.url))
        .header("authorization", "okta-reg-secret")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["commands"][0]["value"]["registration"], "DENY", "{v}");
    assert_eq!(v["error"]["errorCauses"][0]["reason"], "PENDING_APPROVAL");
    assert_eq!(pool(&status(&app).await, "review")["pending"], 1);
    assert!(app.sim.members().is_empty());

    let tf = std::fs::read_to_string("events/typeform-signup.body.json")
        .unwrap()
        .replace("ana.lopez@example.org", "tf@example.org");
    let sig = agol_seat_broker::intake::typeform::sign("tf-secret", tf.as_bytes());
    let res = app
        .http
        .post(format!("{}/webhooks/typeform", app.url))
        .header("typeform-signature", sig)
        .body(tf)
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["status"], "provisioned", "{v}");
    assert!(app.sim.member("tf_review").is_some());
}

/// Issue 13: signed decisions were verified with the sign-up keys (any
/// sign-up sender could approve), the request id was not inside what is
/// signed (a captured approval could be sent to another request), and
/// nothing made one single use. Now: keys of their own, the id signed,
/// each delivery id used once.
#[tokio::test]
async fn a_signed_decision_needs_the_approval_key_and_decides_only_the_request_it_names() {
    let w = world(RULES).await;
    let app = &w.app;
    let (_, a) = sign_up(app, "msg_k1", "first@example.org").await;
    let (_, b) = sign_up(app, "msg_k2", "second@example.org").await;
    let a = a["request_id"].as_str().unwrap().to_string();
    let b = b["request_id"].as_str().unwrap().to_string();
    let approve = json!({"decision": "approve", "approver": "ops"});

    // Signed with the sign-up key: not an approver's.
    let (code, v) = decide_signed(app, &app.key, &a, &approve, "msg_k3").await;
    assert_eq!(
        (code, v["code"].as_str()),
        (401, Some("invalid_signature")),
        "{v}"
    );
    // A decision signed for A, sent to B: refused, B still pending.
    let mut for_a = approve.clone();
    for_a["request_id"] = json!(a);
    let (code, v) = decide(app, &b, &for_a, "msg_k4").await;
    assert_eq!(
        (
            code,
            v["code"].as_str(),
            v["message"].as_str().map(|m| m.contains("request_id"))
        ),
        (422, Some("invalid_field"), Some(true)),
        "{v}"
    );
    let s = status(app).await;
    assert_eq!(pool(&s, "review")["pending"], 2, "{s}");
    assert!(app.sim.members().is_empty());
    // No request_id at all: refused as malformed.
    let raw = serde_json::to_vec(&approve).unwrap();
    let ts = app.now_secs();
    let res = app
        .http
        .post(format!("{}/approvals/{a}", app.url))
        .header("webhook-id", "msg_k5")
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", approval_key().sign("msg_k5", ts, &raw))
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);

    // The approval key, the right id: decided, once.
    let (code, v) = decide(app, &a, &approve, "msg_k6").await;
    assert_eq!((code, v["status"].as_str()), (200, Some("decided")), "{v}");
}

/// Without approval keys the signed-decision route does not exist (404),
/// whatever the sign-up keys.
#[tokio::test]
async fn without_approval_keys_signed_decisions_are_switched_off() {
    let mut o = Options {
        rules: RULES,
        ..Options::default()
    };
    o.sim.groups = vec!["Partners".into()];
    let app = spawn_app(o).await;
    let (code, v) = sign_up(&app, "msg_n1", "ana@example.org").await;
    assert_eq!(code, 202, "{v}");
    let id = v["request_id"].as_str().unwrap().to_string();
    let (code, v) = decide_signed(
        &app,
        &app.key,
        &id,
        &json!({"decision": "approve", "approver": "ops"}),
        "msg_n2",
    )
    .await;
    assert_eq!(
        (code, v["code"].as_str()),
        (404, Some("source_not_configured")),
        "{v}"
    );
    assert!(app.sim.members().is_empty());
}

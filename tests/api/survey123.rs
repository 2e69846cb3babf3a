//! Survey123 with `layer_url`: the record is re-read by globalid from the
//! survey's hosted layer (in the portal simulator) with the broker's token,
//! and only the record counts, over real HTTP with DynamoDB Local.
//!
//! The sign-up route: the member is created from the record's values
//! whatever the payload says; an unknown globalid, a delivery from another
//! service or an unreadable layer writes nothing. The approval route: the
//! decision and the approver come from the edited record and its editor,
//! who must be on the `approvers` list.

use agol_seat_broker::config::Secret;
use agol_seat_broker::domain::RequestState;
use agol_seat_broker::domain::layer_url::LayerUrl;
use agol_seat_broker::intake::sources::{DEFAULT_EDITOR_FIELD, Reread, Source, Sources};
use agol_seat_broker::portal::simulator::{Fault, FaultKind, RunningSimulator};
use agol_seat_broker::seats::RequestStore;
use serde_json::{Map, Value, json};

use crate::helpers::{Options, TestApp, spawn_app};

const SIGNUP_TOKEN: &str = "s123-test-token-0000-not-a-real-secret";
const APPROVAL_TOKEN: &str = "test-only-survey123-approval-token";
const FORM: &str = "survey123_0123_form";
const APPROVALS: &str = "access_approvals";
/// The layer query's path suffix, for request counts and faults.
const QUERY: &str = "FeatureServer/0/query";

/// One seat per pool: the field crews by the `pool` question, the city by
/// e-mail domain (where a forged payload would send its sign-up).
const RULES: &str = r#"
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
    [[pools]]
    name = "city-gis"
    seats = 1
    role = "publisher"
    user_type = "creatorUT"
    groups = ["Field data collection"]
    invitation = "password"
    [pools.match]
    email_domains = ["city.example"]
    [[pools]]
    name = "review"
    seats = 2
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Field data collection"]
    approval = "manual"
    [pools.match]
    email_domains = ["example.org"]
"#;

fn reread(sim: &RunningSimulator, service: &str, approvers: &[&str]) -> Reread {
    Reread {
        layer: LayerUrl::parse(&sim.layer_url(service, 0)).expect("the simulator's layer URL"),
        approvers: approvers.iter().map(|a| a.to_string()).collect(),
        editor_field: DEFAULT_EDITOR_FIELD.to_string(),
    }
}

/// Both Survey123 routes with re-read on; approvals by `lead_exorg` only.
async fn app() -> TestApp {
    let mut o = Options {
        rules: RULES,
        sources_with_sim: Some(Box::new(|sim: &RunningSimulator, sources: &mut Sources| {
            sources.insert(
                "survey123",
                Source {
                    secrets: vec![Secret::new(SIGNUP_TOKEN)],
                    reread: Some(reread(sim, FORM, &[])),
                    ..Default::default()
                },
            );
            sources.insert(
                "survey123_approvals",
                Source {
                    secrets: vec![Secret::new(APPROVAL_TOKEN)],
                    reread: Some(reread(sim, APPROVALS, &["lead_exorg"])),
                    ..Default::default()
                },
            );
        })),
        ..Options::default()
    };
    o.sim.groups = vec!["Field data collection".into()];
    spawn_app(o).await
}

fn attrs(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

/// The record the applicant really submitted.
fn submitted() -> Map<String, Value> {
    attrs(json!({"first_name": "Cai", "last_name": "Moreno",
                 "email": "cai.moreno@contractors.example",
                 "organisation": "Example Survey Contractors", "pool": "field", "crew_id": "C-14"}))
}

/// The recorded `addData` delivery, naming `globalid` and `service_url`,
/// with its attributes forged: another person, another pool's domain.
fn forged_delivery(globalid: &str, service_url: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(
        &std::fs::read("events/survey123-signup.body.json").expect("fixture exists"),
    )
    .expect("fixture is JSON");
    let a = &mut v["feature"]["attributes"];
    a["globalid"] = json!(globalid);
    a["email"] = json!("mallory@city.example");
    a["first_name"] = json!("Mallory");
    a["pool"] = Value::Null;
    v["feature"]["result"]["globalId"] = json!(globalid);
    v["surveyInfo"]["serviceUrl"] = json!(service_url);
    serde_json::to_vec(&v).expect("json")
}

fn service_of(sim: &RunningSimulator, service: &str) -> String {
    sim.layer_url(service, 0).trim_end_matches("/0").to_string()
}

async fn post(app: &TestApp, path: &str, body: Vec<u8>) -> (u16, Option<String>, Value) {
    let res = app
        .http
        .post(format!("{}{path}", app.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, retry_after, res.json().await.unwrap_or(Value::Null))
}

fn signup_path() -> String {
    format!("/webhooks/survey123/{SIGNUP_TOKEN}")
}

#[tokio::test]
async fn survey123_re_read_creates_the_member_from_the_record_not_from_the_forged_payload() {
    // Arrange
    let app = app().await;
    let layer = app.sim.layer_url(FORM, 0);
    let globalid = app.sim.put_feature(&layer, submitted(), "");
    let body = forged_delivery(&globalid, &service_of(&app.sim, FORM));

    // Act
    let (status, _, v) = post(&app, &signup_path(), body.clone()).await;

    // Assert: the record's person, in the record's pool.
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("provisioned")),
        "{v}"
    );
    let m = app
        .sim
        .member("cai.moreno_field")
        .expect("the record's applicant is the member");
    assert_eq!(m.email, "cai.moreno@contractors.example");
    assert_eq!(
        (m.role.as_str(), m.user_type.as_str()),
        ("iBBBBBBBBBBBBBBB", "fieldWorkerUT")
    );
    assert_eq!(app.sim.members().len(), 1, "nobody from the payload");
    assert_eq!(app.used("field-crews").await, 1);
    assert_eq!(app.used("city-gis").await, 0);
    assert_eq!(app.sim.request_count(QUERY), 1);

    // Survey123's retry, after someone touched the record (editor tracking
    // moved on, the values did not): the same sign-up, replayed.
    assert!(
        app.sim
            .edit_feature(&layer, &globalid, Map::new(), "gis_admin")
    );
    let (status, _, v) = post(&app, &signup_path(), body).await;
    assert_eq!((status, v["replayed"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(app.sim.members().len(), 1);
    assert_eq!(app.used("field-crews").await, 1);
}

#[tokio::test]
async fn survey123_re_read_refuses_a_globalid_that_is_not_in_the_layer_and_writes_nothing() {
    let app = app().await;
    let layer = app.sim.layer_url(FORM, 0);
    // The layer exists and holds someone else's record.
    app.sim.put_feature(&layer, submitted(), "");
    let items = app.item_count().await;
    let body = forged_delivery(
        "{7D1E0C5A-1111-4222-8333-944455566677}",
        &service_of(&app.sim, FORM),
    );

    let (status, _, v) = post(&app, &signup_path(), body).await;

    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("record_not_found")),
        "{v}"
    );
    assert_eq!(app.sim.request_count(QUERY), 1, "the layer was asked");
    assert_eq!(app.item_count().await, items);
    assert!(app.sim.members().is_empty());
}

#[tokio::test]
async fn survey123_re_read_refuses_a_delivery_from_another_service_without_asking_it() {
    let app = app().await;
    let layer = app.sim.layer_url(FORM, 0);
    let globalid = app.sim.put_feature(&layer, submitted(), "");
    let items = app.item_count().await;
    // The recorded delivery's own service: not the configured one.
    let other = "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer";

    let (status, _, v) = post(&app, &signup_path(), forged_delivery(&globalid, other)).await;

    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("service_mismatch")),
        "{v}"
    );
    assert_eq!(app.sim.request_count(QUERY), 0, "no query, no token sent");
    assert_eq!(app.item_count().await, items);
    assert!(app.sim.members().is_empty());
}

#[tokio::test]
async fn survey123_re_read_answers_503_while_the_layer_fails_then_the_retry_provisions() {
    let app = app().await;
    let layer = app.sim.layer_url(FORM, 0);
    let globalid = app.sim.put_feature(&layer, submitted(), "");
    let body = forged_delivery(&globalid, &service_of(&app.sim, FORM));
    let items = app.item_count().await;
    app.sim.inject(Fault {
        endpoint: Some(QUERY.into()),
        kind: FaultKind::HttpStatus(503),
        times: None,
    });

    let (status, retry_after, v) = post(&app, &signup_path(), body.clone()).await;

    assert_eq!(
        (status, v["code"].as_str()),
        (503, Some("portal_unavailable")),
        "{v}"
    );
    assert!(retry_after.is_some(), "Survey123 is told when to retry");
    assert!(app.sim.request_count(QUERY) >= 2, "the client retried");
    assert_eq!(app.item_count().await, items);
    assert!(app.sim.members().is_empty());

    // The layer is back: Survey123's retry goes through.
    app.sim.clear_faults();
    let (status, _, v) = post(&app, &signup_path(), body).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("provisioned")),
        "{v}"
    );
    assert!(app.sim.member("cai.moreno_field").is_some());
}

// ------------------------------------------------------------ approvals

/// A pending request (Standard Webhooks sign-up) and its record in the
/// approval survey's layer, created by the intake flow's account.
async fn pending_request(app: &TestApp, msg: &str, email: &str) -> (String, String) {
    let res = app
        .post_signup(
            msg,
            &json!({"email": email, "first_name": "Ana", "last_name": "Lopez"}),
        )
        .await;
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["status"], "pending", "{v}");
    let id = v["request_id"].as_str().expect("request id").to_string();
    let globalid = app.sim.put_feature(
        &app.sim.layer_url(APPROVALS, 0),
        attrs(json!({"request_id": id, "status": "pending", "comment": ""})),
        "intake_bot",
    );
    (id, globalid)
}

/// The approval survey's `editData` naming `globalid`, with whatever the
/// sender claims in its attributes.
fn edit_delivery(app: &TestApp, globalid: &str, claims: Value) -> Vec<u8> {
    let mut attributes = claims;
    attributes["globalid"] = json!(globalid);
    serde_json::to_vec(&json!({
        "eventType": "editData",
        "feature": {"attributes": attributes,
                    "result": {"globalId": globalid, "success": true}},
        "surveyInfo": {"serviceUrl": service_of(&app.sim, APPROVALS)},
    }))
    .expect("json")
}

fn approval_path() -> String {
    format!("/webhooks/survey123-approvals/{APPROVAL_TOKEN}")
}

async fn request_state(app: &TestApp, id: &str) -> (RequestState, Option<String>) {
    let r = app
        .ledger
        .request(id)
        .await
        .expect("ledger readable")
        .expect("request exists");
    (r.state, r.decided_by)
}

#[tokio::test]
async fn survey123_re_read_approval_by_a_listed_editor_creates_the_member() {
    let app = app().await;
    let (id, globalid) = pending_request(&app, "msg_r1", "ana@example.org").await;
    let layer = app.sim.layer_url(APPROVALS, 0);
    assert!(app.sim.edit_feature(
        &layer,
        &globalid,
        attrs(json!({"status": "approved", "comment": "partner"})),
        "lead_exorg",
    ));

    // The payload's attributes say nothing useful: the record decides.
    let body = edit_delivery(&app, &globalid, json!({}));
    let (status, _, v) = post(&app, &approval_path(), body).await;

    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("decided")),
        "{v}"
    );
    let m = app.sim.member("ana_review").expect("member created");
    assert_eq!(m.user_type, "viewerUT");
    assert_eq!(
        request_state(&app, &id).await,
        (RequestState::Approved, Some("survey123:lead_exorg".into()))
    );
    assert_eq!(app.active_claims("review").await, 1);
}

#[tokio::test]
async fn survey123_re_read_refuses_an_editor_who_is_not_an_approver() {
    let app = app().await;
    let (id, globalid) = pending_request(&app, "msg_r2", "bo@example.org").await;
    let layer = app.sim.layer_url(APPROVALS, 0);
    // Someone who can edit the layer but may not decide.
    assert!(app.sim.edit_feature(
        &layer,
        &globalid,
        attrs(json!({"status": "approved"})),
        "intruder_exorg",
    ));
    let items = app.item_count().await;

    // The payload names an allowed approver: it is not believed.
    let body = edit_delivery(
        &app,
        &globalid,
        json!({"request_id": id, "status": "approved", "approver": "lead_exorg",
               "Editor": "lead_exorg"}),
    );
    let (status, _, v) = post(&app, &approval_path(), body).await;

    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("approver_not_allowed")),
        "{v}"
    );
    assert_eq!(
        request_state(&app, &id).await,
        (RequestState::Pending, None)
    );
    assert_eq!(app.item_count().await, items);
    assert!(app.sim.members().is_empty());
    assert_eq!(app.used("review").await, 1, "the hold stays");
}

#[tokio::test]
async fn survey123_re_read_decides_nothing_when_only_the_payload_says_approved() {
    let app = app().await;
    let (id, globalid) = pending_request(&app, "msg_r3", "cy@example.org").await;
    // An approver touched the record but left it pending.
    assert!(app.sim.edit_feature(
        &app.sim.layer_url(APPROVALS, 0),
        &globalid,
        attrs(json!({"comment": "looking into it"})),
        "lead_exorg",
    ));

    let body = edit_delivery(
        &app,
        &globalid,
        json!({"request_id": id, "status": "approved", "approver": "lead_exorg"}),
    );
    let (status, _, v) = post(&app, &approval_path(), body).await;

    assert_eq!(
        (status, v["status"].as_str()),
        (200, Some("ignored")),
        "{v}"
    );
    assert_eq!(
        request_state(&app, &id).await,
        (RequestState::Pending, None)
    );
    assert!(app.sim.members().is_empty());

    // A record that is not in the approval layer decides nothing either.
    let unknown = edit_delivery(
        &app,
        "{7D1E0C5A-1111-4222-8333-944455566677}",
        json!({"request_id": id, "status": "approved"}),
    );
    let (status, _, v) = post(&app, &approval_path(), unknown).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (403, Some("record_not_found")),
        "{v}"
    );
    assert_eq!(
        request_state(&app, &id).await,
        (RequestState::Pending, None)
    );
}

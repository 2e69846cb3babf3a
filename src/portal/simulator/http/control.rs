//! The `/_sim/*` control routes: the simulator's in-process API
//! ([`PortalSimulator`]) for other processes (the demo, scripts).
//!
//! Thin: each route calls one [`PortalSimulator`] method. They check no
//! token (a test double's back door); the sharing API's rules do not apply
//! here.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::portal::simulator::fault::Fault;
use crate::portal::simulator::member::SimMember;
use crate::portal::simulator::sim::PortalSimulator;

/// The `/_sim/*` routes, on the simulator's state.
pub(super) fn routes() -> Router<PortalSimulator> {
    Router::new()
        .route("/_sim/state", get(control_state))
        .route(
            "/_sim/faults",
            post(control_add_fault).delete(control_clear_faults),
        )
        .route("/_sim/expire-tokens", post(control_expire_tokens))
        .route("/_sim/purchased", post(control_purchased))
        .route("/_sim/sign-in", post(control_sign_in))
        .route("/_sim/invitations", get(control_invitations))
        .route("/_sim/invitations/accept", post(control_accept_invitation))
        .route("/_sim/invitations/expire", post(control_expire_invitation))
        .route("/_sim/members", post(control_add_member))
        .route("/_sim/members/delete", post(control_remove_member))
        .route("/_sim/members/user-type", post(control_user_type))
}

async fn control_state(State(sim): State<PortalSimulator>) -> Json<Value> {
    Json(sim.state_json())
}

async fn control_add_fault(
    State(sim): State<PortalSimulator>,
    Json(fault): Json<Fault>,
) -> Json<Value> {
    sim.inject(fault);
    Json(json!({ "ok": true }))
}

async fn control_clear_faults(State(sim): State<PortalSimulator>) -> Json<Value> {
    sim.clear_faults();
    Json(json!({ "ok": true }))
}

async fn control_expire_tokens(State(sim): State<PortalSimulator>) -> Json<Value> {
    sim.expire_tokens();
    Json(json!({ "ok": true }))
}

#[derive(Deserialize)]
struct PurchasedBody {
    user_type: String,
    count: u64,
}

async fn control_purchased(
    State(sim): State<PortalSimulator>,
    Json(b): Json<PurchasedBody>,
) -> Json<Value> {
    sim.set_purchased(&b.user_type, b.count);
    Json(json!({ "ok": true, "purchased": sim.purchased(&b.user_type) }))
}

#[derive(Deserialize)]
struct SignInBody {
    username: String,
    at_ms: i64,
}

async fn control_sign_in(
    State(sim): State<PortalSimulator>,
    Json(b): Json<SignInBody>,
) -> Response {
    if sim.sign_in(&b.username, b.at_ms) {
        Json(json!({ "ok": true })).into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({ "ok": false }))).into_response()
    }
}

async fn control_invitations(State(sim): State<PortalSimulator>) -> Json<Value> {
    Json(json!(sim.invitations()))
}

#[derive(Deserialize)]
struct UsernameBody {
    username: String,
}

/// `{"ok":true}`, or 404 `{"ok":false}` when nothing was found.
fn found(ok: bool) -> Response {
    if ok {
        Json(json!({ "ok": true })).into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({ "ok": false }))).into_response()
    }
}

async fn control_accept_invitation(
    State(sim): State<PortalSimulator>,
    Json(b): Json<UsernameBody>,
) -> Response {
    found(sim.accept_invitation(&b.username))
}

async fn control_expire_invitation(
    State(sim): State<PortalSimulator>,
    Json(b): Json<UsernameBody>,
) -> Response {
    found(sim.expire_invitation(&b.username))
}

#[derive(Deserialize)]
struct AddMemberBody {
    username: String,
    email: String,
    role: String,
    user_type: String,
}

/// A member created outside the broker (`seed_member`): 409 `{"ok":false}`
/// when the username is taken.
async fn control_add_member(
    State(sim): State<PortalSimulator>,
    Json(b): Json<AddMemberBody>,
) -> Response {
    let member = SimMember {
        email: b.email,
        created: sim.now(),
        ..SimMember::new(&b.username, &b.role, &b.user_type)
    };
    if sim.seed_member(member) {
        Json(json!({ "ok": true })).into_response()
    } else {
        (StatusCode::CONFLICT, Json(json!({ "ok": false }))).into_response()
    }
}

async fn control_remove_member(
    State(sim): State<PortalSimulator>,
    Json(b): Json<UsernameBody>,
) -> Response {
    found(sim.remove_member(&b.username))
}

#[derive(Deserialize)]
struct UserTypeBody {
    username: String,
    user_type: String,
}

async fn control_user_type(
    State(sim): State<PortalSimulator>,
    Json(b): Json<UserTypeBody>,
) -> Response {
    found(sim.set_user_type(&b.username, &b.user_type))
}

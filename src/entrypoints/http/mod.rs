//! The HTTP surface: the one axum router every deployment serves. Lambda
//! (via `lambda_http`) and the local server (via `axum::serve`) run the same
//! router, so there is no second implementation of any route.
//!
//! A route reads the request ([`request`]), verifies and parses it through
//! its intake adapter, calls one workflow function and renders the result
//! (`render`, the one place outcomes become answers; [`errors`] for
//! refusals). Routes hold no business rules and never touch a port.
//!
//! | route | file |
//! |---|---|
//! | `POST /webhooks/standard`, `/webhooks/typeform`, `/webhooks/tally`, `/webhooks/survey123/{token}`, `/webhooks/auth0-logs` | `webhooks` |
//! | `GET`/`POST /webhooks/okta`, `POST /hooks/okta/registration`, `POST /hooks/entra/attribute-collection` | `hooks` |
//! | `POST /approvals/{id}`, `GET`/`POST /approvals/{id}/link`, `POST /approvals/slack`, `POST /webhooks/survey123-approvals/{token}` | `approvals` |
//! | `GET /health`, `GET /status` | `status` |
//! | `/admin…` | [`admin`] |

pub mod admin;
mod approvals;
pub mod errors;
mod hooks;
pub(crate) mod pages;
pub(crate) mod render;
pub mod request;
pub mod state;
mod status;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use crate::intake::MAX_BODY_BYTES;
use crate::portal::Portal;
use crate::seats::SeatLedger;

pub use state::{AppState, ApprovalConfig};

/// Builds the router: the senders' webhooks and hooks, the approval
/// routes, `GET /health`, `GET /status` and the administrator's page under
/// `/admin`.
pub fn router<L: SeatLedger, P: Portal>(state: Arc<AppState<L, P>>) -> Router {
    Router::new()
        .route(
            "/webhooks/standard",
            post(webhooks::standard_webhook::<L, P>),
        )
        .route(
            "/webhooks/typeform",
            post(webhooks::typeform_webhook::<L, P>),
        )
        .route("/webhooks/tally", post(webhooks::tally_webhook::<L, P>))
        .route(
            "/webhooks/survey123/{token}",
            post(webhooks::survey123_webhook::<L, P>),
        )
        .route(
            "/webhooks/auth0-logs",
            post(webhooks::auth0_logs_webhook::<L, P>),
        )
        .route(
            "/webhooks/okta",
            get(hooks::okta_verification::<L, P>).post(hooks::okta_events::<L, P>),
        )
        .route(
            "/hooks/okta/registration",
            post(hooks::okta_registration::<L, P>),
        )
        .route(
            "/hooks/entra/attribute-collection",
            post(hooks::entra_attribute_collection::<L, P>),
        )
        .route("/approvals/slack", post(approvals::slack_action::<L, P>))
        .route("/approvals/{id}", post(approvals::signed_decision::<L, P>))
        .route(
            "/approvals/{id}/link",
            get(approvals::link_page::<L, P>).post(approvals::link_decide::<L, P>),
        )
        .route(
            "/webhooks/survey123-approvals/{token}",
            post(approvals::survey123_decision::<L, P>),
        )
        .route("/health", get(status::health))
        .route("/status", get(status::status::<L, P>))
        .merge(admin::routes::<L, P>())
        // One byte over the limit lets the handler tell "too large" from
        // "exactly at the limit"; axum refuses anything larger before reading it.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES + 1))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> Response {
    errors::error_response(StatusCode::NOT_FOUND, "not_found", "No such route.")
}

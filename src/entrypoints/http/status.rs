//! `GET /health` (liveness, no store read) and `GET /status` (seats per
//! pool, for operators and dashboards, and the licences per user type
//! against what the pools promise, with a warning when they over-promise).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::errors::error_response;
use super::request::header_value;
use super::state::AppState;
use crate::intake::static_secret_matches;
use crate::portal::Portal;
use crate::seats::SeatLedger;

/// `GET /health`: the process answers.
pub(crate) async fn health() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

/// `GET /status`: seat status of every pool. Authenticated with a bearer
/// token compared in constant time; personal data, so never cached.
pub(crate) async fn status<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
) -> Response {
    if state.status_tokens.is_empty() {
        return error_response(
            StatusCode::NOT_FOUND,
            "source_not_configured",
            "No status token is configured.",
        );
    }
    let presented = header_value(&headers, header::AUTHORIZATION.as_str())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !static_secret_matches(presented, &state.status_tokens) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A valid bearer token is required.",
        );
    }
    let now = state.clock.now();
    match state.provisioner.seat_status(now).await {
        Ok(pools) => {
            // Licences against what the pools promise: the counts are
            // cached by the workflow (one portal read per few minutes),
            // the broker's share is the ACTIVE claims just read.
            let licenses = state
                .provisioner
                .license_check(pools.iter().map(|p| (p.pool.as_str(), p.active)), now)
                .await;
            let body = json!({"pools": pools, "licenses": licenses});
            let mut r = (StatusCode::OK, axum::Json(body)).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            tracing::error!("status: {e}");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "The seat store is unavailable.",
            )
        }
    }
}

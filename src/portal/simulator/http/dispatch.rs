//! What every sharing API request and hosted layer `query` goes through:
//! the request counter, injected faults (`faulting`), the method, `f=json`,
//! the token, then the operation (`sharing`); errors become HTTP 200 error
//! objects. Paths under `/portaladmin` go to `portaladmin` instead.
//!
//! Never holds the state lock across an `.await`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::endpoint::{Endpoint, route};
use super::faulting::{self, Outcome};
use super::params::{Params, token_of};
use super::portaladmin;
use super::sharing::{discovery, generate_token, handle};
use crate::portal::PortalFlavour;
use crate::portal::simulator::error::ApiError;
use crate::portal::simulator::layers;
use crate::portal::simulator::sim::PortalSimulator;

/// An error object as the sharing API answers it: HTTP 200, JSON body.
fn api_error(e: &ApiError) -> Response {
    Json(e.to_json()).into_response()
}

/// Every `/sharing/rest/` request, and every hosted layer's `query`
/// (`…/FeatureServer/<n>/query` under any other path), goes through here:
/// the same counters, faults, `f=json` and token checks for both.
pub(super) async fn dispatch(
    State(sim): State<PortalSimulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if portaladmin::is_admin_path(uri.path()) {
        return portaladmin::dispatch(sim, method, uri, headers, body).await;
    }
    // `sharing/rest` itself (Esri's clients read its version) is the root.
    let path = match uri.path() {
        "/sharing/rest" => Some(""),
        p => p.strip_prefix("/sharing/rest/"),
    };
    let (path_lc, endpoint) = match path {
        Some(path) => (
            path.trim_matches('/').to_ascii_lowercase(),
            route(path, sim.org_id()),
        ),
        None => match layers::query_target(uri.path()) {
            Some(layer) => (format!("{layer}/query"), Endpoint::FeatureQuery(layer)),
            None => return (StatusCode::NOT_FOUND, "not found").into_response(),
        },
    };
    tracing::debug!(%method, path = %path_lc, "portal simulator request");

    let fault = {
        let mut st = sim.lock();
        st.count_request(&path_lc);
        st.take_fault(&path_lc, endpoint == Endpoint::Invite)
    };
    let plan = match faulting::apply(&sim, fault).await {
        Outcome::Answer(r) => return r,
        Outcome::ErrorBody(e) => return api_error(&e),
        Outcome::Proceed(plan) => plan,
    };

    if method != Method::GET && method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let params = Params::parse(&uri, &headers, &body);
    // Without f=json the real portal answers with an HTML page.
    if !matches!(params.get("f"), Some("json" | "pjson")) {
        return html_page();
    }

    let refuse_all_invitations = plan.refuse_all_invitations;
    let result = plan
        .carry_out(
            move || {
                operate(
                    &sim,
                    endpoint,
                    &method,
                    &params,
                    &headers,
                    refuse_all_invitations,
                )
            },
            || Err(ApiError::new(500, "Unable to complete operation.")),
        )
        .await;
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => api_error(&e),
    }
}

/// What the portal answers a request without `f=json`: an HTML page.
fn html_page() -> Response {
    (
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><body><h1>ArcGIS REST (simulated)</h1><p>add f=json</p></body></html>",
    )
        .into_response()
}

/// The operation itself, at the simulator's current time: a token, or the
/// caller's token checked and the sharing API operation run.
fn operate(
    sim: &PortalSimulator,
    endpoint: Endpoint,
    method: &Method,
    params: &Params,
    headers: &HeaderMap,
    refuse_all_invitations: bool,
) -> Result<serde_json::Value, ApiError> {
    let now = sim.now();
    match endpoint {
        Endpoint::GenerateToken => generate_token(sim, method, params, now),
        Endpoint::Root | Endpoint::Info | Endpoint::Languages => Ok(discovery(&endpoint, headers)),
        Endpoint::Unknown => {
            Err(ApiError::new(400, "Unable to complete operation.")
                .with_detail("Unknown operation."))
        }
        endpoint => match token_of(params, headers) {
            None => Err(ApiError::token_required()),
            Some(token) => {
                let caller = sim.lock().caller(sim.org(), &token, now);
                match caller {
                    Err(e) => Err(e),
                    Ok(caller) => {
                        let is_self = endpoint == Endpoint::PortalSelf;
                        let v = handle(
                            sim,
                            endpoint,
                            method,
                            params,
                            &caller,
                            refuse_all_invitations,
                            now,
                        )?;
                        Ok(match sim.org().flavour {
                            PortalFlavour::Enterprise if is_self => {
                                portaladmin::enterprise_portal_self(v, headers)
                            }
                            _ => v,
                        })
                    }
                }
            }
        },
    }
}

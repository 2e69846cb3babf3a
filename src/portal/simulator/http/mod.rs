//! The simulator's HTTP face: routing below `/sharing/rest/`, to hosted
//! layers' `query` and (ArcGIS Enterprise flavour) below `/portaladmin`,
//! parameters (query string and form body), `f=json`, tokens, injected
//! faults, JSON answers, and the `/_sim/*` control routes.
//!
//! Owns no state. Never holds the state mutex across an `.await`, and never
//! logs query strings or bodies (they carry tokens and passwords).
//!
//! Layout: this file builds the router; `control` (the `/_sim/*` routes),
//! `dispatch` (what every sharing API and layer request goes through:
//! counters, faults, `f=json`, the token), `faulting` (injected faults, for
//! every API), `endpoint` (path → operation), `params` (request parameters
//! and the token's place), `sharing` (the operations themselves), `oauth`
//! (the OAuth sign-in pages the ArcGIS API for Python drives),
//! `portaladmin` (an ArcGIS Enterprise portal's admin API under
//! `/portaladmin`, and its `portals/self`).

mod control;
mod dispatch;
mod endpoint;
mod faulting;
mod oauth;
mod params;
mod portaladmin;
mod sharing;

use axum::Router;

use self::dispatch::dispatch;
use super::sim::PortalSimulator;

/// Builds the router: control routes, everything else through [`dispatch`].
pub(super) fn router(sim: PortalSimulator) -> Router {
    use axum::routing::{get, post};
    control::routes()
        // The OAuth sign-in pages the ArcGIS API for Python scripts.
        .route("/sharing/rest/oauth2/authorize", get(oauth::authorize))
        .route("/sharing/oauth2/signin", post(oauth::signin))
        .fallback(dispatch)
        .with_state(sim)
}

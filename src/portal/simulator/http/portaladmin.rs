//! The admin API of a simulated ArcGIS Enterprise portal, under
//! `/portaladmin` (a sibling of `/sharing/rest`; fact sheet §0, §1, §3,
//! §5), and what such a portal answers differently on the sharing API
//! (`portals/self`).
//!
//! - `GET /portaladmin/` → `{"resources":[…],"currentVersion"}`;
//! - `GET|POST /portaladmin/license` → seats per user type;
//! - `POST /portaladmin/security/users/createUser` → a member at once
//!   (the rules are `state`'s `create_user`).
//!
//! Every request goes through the same counters and injected faults as the
//! sharing API (a fault's `endpoint` matches `createUser` or
//! `portaladmin/security/users/createUser`), then `f=json`, then the
//! token: in a POST's form body, a GET's query string or the
//! `X-Esri-Authorization` header (never a POST's query string;
//! `params::admin_token_of`), an administrator's. Answers are the
//! admin API's: `{"status":"success",…}` or HTTP 200
//! `{"status":"error","messages":[…],"code"}` with the wording of
//! [`crate::portal::simulator::portaladmin`]. An ArcGIS Online simulator
//! has no `/portaladmin`: HTTP 404.
//!
//! Never holds the state lock across an `.await`; never logs parameters
//! (they carry tokens and passwords).

use axum::Json;
use axum::body::Bytes;
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::faulting::{self, Outcome};
use super::params::{Params, admin_token_of};
use crate::portal::PortalFlavour;
use crate::portal::simulator::error::ApiError;
use crate::portal::simulator::portaladmin::{
    CURRENT_VERSION, FORBIDDEN, INVALID_TOKEN, LICENSE_EXPIRATION_MS, POST_REQUIRED,
    RESOURCE_NOT_FOUND, TOKEN_REQUIRED,
};
use crate::portal::simulator::sim::PortalSimulator;
use crate::portal::simulator::state::NewAccount;

/// Where the admin API lives.
const ROOT: &str = "/portaladmin";

/// Whether a request path is the admin API's (`/portaladmin` or below).
pub(super) fn is_admin_path(path: &str) -> bool {
    path == ROOT || path.strip_prefix(ROOT).is_some_and(|r| r.starts_with('/'))
}

/// The admin API resources the simulator serves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AdminEndpoint {
    /// `/portaladmin` itself.
    Root,
    /// `license`: seats per user type.
    License,
    /// `security/users/createUser`.
    CreateUser,
    /// Anything else (the path below `/portaladmin/`, as sent).
    Unknown(String),
}

/// The resource a path below `/portaladmin/` names; names compared
/// without regard to case.
fn route(rest: &str) -> AdminEndpoint {
    match rest.to_ascii_lowercase().as_str() {
        "" => AdminEndpoint::Root,
        "license" => AdminEndpoint::License,
        "security/users/createuser" => AdminEndpoint::CreateUser,
        _ => AdminEndpoint::Unknown(rest.to_string()),
    }
}

/// An admin API failure: HTTP 200, `{"status":"error","messages","code"}`.
fn admin_error(e: &ApiError) -> Response {
    Json(e.to_admin_json()).into_response()
}

/// Every request under `/portaladmin`.
pub(super) async fn dispatch(
    sim: PortalSimulator,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if sim.org().flavour != PortalFlavour::Enterprise {
        // ArcGIS Online has no admin API.
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let rest = uri
        .path()
        .strip_prefix(ROOT)
        .unwrap_or_default()
        .trim_matches('/')
        .to_string();
    // Counted and matched against faults as `portaladmin/<path>`.
    let path_lc = format!("portaladmin/{rest}")
        .trim_end_matches('/')
        .to_ascii_lowercase();
    tracing::debug!(%method, path = %path_lc, "portal simulator admin request");
    let endpoint = route(&rest);

    let fault = {
        let mut st = sim.lock();
        st.count_request(&path_lc);
        st.take_fault(&path_lc, false)
    };
    let plan = match faulting::apply(&sim, fault).await {
        Outcome::Answer(r) => return r,
        Outcome::ErrorBody(e) => return admin_error(&e),
        Outcome::Proceed(plan) => plan,
    };

    if method != Method::GET && method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let params = Params::parse(&uri, &headers, &body);
    if !matches!(params.get("f"), Some("json" | "pjson")) {
        return (
            [(CONTENT_TYPE, "text/html; charset=utf-8")],
            "<html><body><h1>Portal Administrator Directory (simulated)</h1><p>add f=json</p></body></html>",
        )
            .into_response();
    }
    let token = admin_token_of(&method, &uri, &headers, &body);
    let result = plan
        .carry_out(
            move || operate(&sim, endpoint, &method, &params, token.as_deref()),
            || Err(ApiError::new(500, "Unable to complete operation.")),
        )
        .await;
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => admin_error(&e),
    }
}

/// The operation, at the simulator's current time: the resource known,
/// the method right, the token present, valid and an administrator's.
fn operate(
    sim: &PortalSimulator,
    endpoint: AdminEndpoint,
    method: &Method,
    params: &Params,
    token: Option<&str>,
) -> Result<Value, ApiError> {
    if let AdminEndpoint::Unknown(resource) = &endpoint {
        return Err(ApiError::new(
            404,
            &RESOURCE_NOT_FOUND.replace("{resource}", resource),
        ));
    }
    if endpoint == AdminEndpoint::CreateUser && *method != Method::POST {
        return Err(ApiError::new(405, POST_REQUIRED));
    }
    let token = token.ok_or_else(|| ApiError::new(499, TOKEN_REQUIRED))?;
    let now = sim.now();
    let caller = sim
        .lock()
        .caller(sim.org(), token, now)
        .map_err(|_| ApiError::new(498, INVALID_TOKEN))?;
    if !caller.admin {
        return Err(ApiError::new(403, FORBIDDEN));
    }
    match endpoint {
        AdminEndpoint::CreateUser => {
            let username = sim
                .lock()
                .create_user(sim.org(), &new_account(params), now)?;
            Ok(json!({ "status": "success", "username": username }))
        }
        AdminEndpoint::License => Ok(license(&sim.lock().seats_per_type())),
        // `Unknown` was answered above.
        AdminEndpoint::Root | AdminEndpoint::Unknown(_) => Ok(json!({
            "resources": ["security", "license", "system"],
            "currentVersion": CURRENT_VERSION,
        })),
    }
}

/// `createUser`'s fields (fact sheet §3; note `userLicenseTypeId`).
fn new_account(params: &Params) -> NewAccount {
    let text = |key: &str| params.get(key).map(String::from);
    NewAccount {
        username: text("username"),
        password: text("password"),
        first_name: text("firstname"),
        last_name: text("lastname"),
        email: text("email"),
        role: text("role"),
        user_type: text("userLicenseTypeId"),
        provider: text("provider"),
        idp_username: text("idpUsername"),
        description: text("description"),
        apply_defaults: text("applyDefaults"),
    }
}

/// `license` (fact sheet §5): per user type, the seats licensed
/// (`maximumRegisteredMembers`) and held by members and pending
/// invitations (`currentRegisteredMembers`, the count invitations and
/// `createUser` are limited by), and the totals.
fn license(seats: &[(String, u64, u64)]) -> Value {
    let user_types: Vec<Value> = seats
        .iter()
        .map(|(id, purchased, assigned)| {
            json!({
                "id": id,
                "maximumRegisteredMembers": purchased,
                "currentRegisteredMembers": assigned,
                "expiration": LICENSE_EXPIRATION_MS,
            })
        })
        .collect();
    json!({
        "currentRegisteredMembers": seats.iter().map(|(_, _, a)| a).sum::<u64>(),
        "maximumRegisteredMembers": seats.iter().map(|(_, p, _)| p).sum::<u64>(),
        "userTypes": user_types,
    })
}

/// `portals/self` as an ArcGIS Enterprise portal answers it: `isPortal:
/// true`, `portalMode: singletenant`, its own host name (the request's
/// `Host`). Such a portal counts its licences in portaladmin `license`;
/// taken on the strict side, `portals/self` carries none of them: no
/// `subscriptionInfo` (ArcGIS Online's subscription, with its
/// `userLicenseTypes`) and no `maxUsers`.
pub(super) fn enterprise_portal_self(mut v: Value, headers: &HeaderMap) -> Value {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    if let Some(o) = v.as_object_mut() {
        o.insert("isPortal".into(), json!(true));
        o.insert("portalMode".into(), json!("singletenant"));
        o.insert("portalName".into(), json!("ArcGIS Enterprise"));
        o.insert("portalHostname".into(), json!(host));
        o.remove("customBaseUrl");
        o.remove("subscriptionInfo");
        o.remove("maxUsers");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_portaladmin_and_below_is_the_admin_api() {
        assert!(is_admin_path("/portaladmin"));
        assert!(is_admin_path("/portaladmin/"));
        assert!(is_admin_path("/portaladmin/license"));
        assert!(!is_admin_path("/portaladminx"));
        assert!(!is_admin_path("/sharing/rest/portaladmin"));
    }

    #[test]
    fn resources_are_named_without_regard_to_case() {
        assert_eq!(route(""), AdminEndpoint::Root);
        assert_eq!(route("License"), AdminEndpoint::License);
        assert_eq!(
            route("security/users/createUser"),
            AdminEndpoint::CreateUser
        );
        assert_eq!(
            route("security/users/deleteUser"),
            AdminEndpoint::Unknown("security/users/deleteUser".into())
        );
    }

    #[test]
    fn the_license_totals_its_user_types() {
        let v = license(&[("creatorUT".into(), 5, 2), ("viewerUT".into(), 10, 0)]);
        assert_eq!(v["currentRegisteredMembers"], 2);
        assert_eq!(v["maximumRegisteredMembers"], 15);
        assert_eq!(v["userTypes"][0]["id"], "creatorUT");
        assert_eq!(v["userTypes"][1]["currentRegisteredMembers"], 0);
    }
}

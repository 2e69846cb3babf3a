//! The simulator's HTTP face: routing below `/sharing/rest/` and to hosted
//! layers' `query`, parameters (query string and form body), `f=json`,
//! tokens, injected faults, JSON answers, and the `/_sim/*` control routes.
//!
//! Owns no state. Never holds the state mutex across an `.await`, and never
//! logs query strings or bodies (they carry tokens and passwords).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::{ApiError, Caller, ProfileChange, page, split_list};
use super::{Fault, FaultKind, PortalSimulator, layers};
use crate::clock::now_millis;
use crate::domain::compat;

/// Builds the router: control routes, everything else through [`dispatch`].
pub(super) fn router(sim: PortalSimulator) -> Router {
    Router::new()
        .route("/_sim/state", get(control_state))
        .route(
            "/_sim/faults",
            post(control_add_fault).delete(control_clear_faults),
        )
        .route("/_sim/expire-tokens", post(control_expire_tokens))
        .route("/_sim/purchased", post(control_purchased))
        .route("/_sim/sign-in", post(control_sign_in))
        .fallback(dispatch)
        .with_state(sim)
}

/// The sharing API operations the simulator knows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    GenerateToken,
    PortalSelf,
    UserLicenseTypes,
    UserCounts,
    Roles,
    OrgUsers,
    Invite,
    UpdateLicenseType,
    UpdateRole,
    RemoveUsers,
    CommunityUser(String),
    UpdateUser(String),
    CheckUsernames,
    GroupSearch,
    AddUsers(String),
    /// `community/groups/<gid>/userList` (the group id).
    GroupUserList(String),
    /// A hosted layer's `query` (the layer's key).
    FeatureQuery(String),
    Unknown,
}

/// Decodes `%XX` escapes of one path segment.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Maps a path below `/sharing/rest/` to an operation. Operation names are
/// case-insensitive (PY sends `updateuserrole`); usernames and group ids in
/// the path are not. `portals/<orgId>` is an alias of `portals/self`.
fn route(path: &str, org_id: &str) -> Endpoint {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let lc: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lc: Vec<&str> = lc.iter().map(String::as_str).collect();
    let is_self = |s: &str| s == "self" || s.eq_ignore_ascii_case(org_id);
    match lc.as_slice() {
        ["generatetoken"] => Endpoint::GenerateToken,
        ["portals", p] if is_self(p) => Endpoint::PortalSelf,
        ["portals", p, "userlicensetypes"] if is_self(p) => Endpoint::UserLicenseTypes,
        ["portals", p, "users", "counts"] if is_self(p) => Endpoint::UserCounts,
        ["portals", p, "roles"] if is_self(p) => Endpoint::Roles,
        ["portals", p, "users"] if is_self(p) => Endpoint::OrgUsers,
        ["portals", p, "invite"] if is_self(p) => Endpoint::Invite,
        ["portals", p, "updateuserlicensetype"] if is_self(p) => Endpoint::UpdateLicenseType,
        ["portals", p, "updateuserrole"] if is_self(p) => Endpoint::UpdateRole,
        ["portals", p, "removeusers"] if is_self(p) => Endpoint::RemoveUsers,
        ["community", "users", _] => Endpoint::CommunityUser(segs[2].clone()),
        ["community", "users", _, "update"] => Endpoint::UpdateUser(segs[2].clone()),
        ["community", "checkusernames"] => Endpoint::CheckUsernames,
        ["community", "groups"] => Endpoint::GroupSearch,
        ["community", "groups", _, "addusers"] => Endpoint::AddUsers(segs[2].clone()),
        ["community", "groups", _, "userlist"] => Endpoint::GroupUserList(segs[2].clone()),
        _ => Endpoint::Unknown,
    }
}

/// Request parameters: the query string, overlaid by a form-encoded body.
struct Params(BTreeMap<String, String>);

impl Params {
    fn parse(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Self {
        let mut map = BTreeMap::new();
        if let Some(q) = uri.query() {
            map.extend(url::form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        let is_form = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|ct| {
                ct.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if is_form && !body.is_empty() {
            map.extend(url::form_urlencoded::parse(body).into_owned());
        }
        Params(map)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn require(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ApiError::missing(key))
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.get(key).map(split_list).unwrap_or_default()
    }

    fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }
}

/// The token: the `token` parameter, else `X-Esri-Authorization: Bearer …`.
fn token_of(params: &Params, headers: &HeaderMap) -> Option<String> {
    if let Some(t) = params.get("token").map(str::trim).filter(|t| !t.is_empty()) {
        return Some(t.to_string());
    }
    let h = headers.get("x-esri-authorization")?.to_str().ok()?.trim();
    let (scheme, t) = h.split_once(' ')?;
    let t = t.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !t.is_empty()).then(|| t.to_string())
}

fn api_error(e: &ApiError) -> Response {
    Json(e.to_json()).into_response()
}

/// Every `/sharing/rest/` request, and every hosted layer's `query`
/// (`…/FeatureServer/<n>/query` under any other path), goes through here:
/// the same counters, faults, `f=json` and token checks for both.
async fn dispatch(
    State(sim): State<PortalSimulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (path_lc, endpoint) = match uri.path().strip_prefix("/sharing/rest/") {
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
    let mut refuse_all_invitations = false;
    match fault {
        Some(FaultKind::HttpStatus(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (status, format!("simulated fault: HTTP {code}")).into_response();
        }
        Some(FaultKind::TooManyRequests { retry_after_secs }) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(RETRY_AFTER, retry_after_secs.to_string())],
                "simulated fault: too many requests",
            )
                .into_response();
        }
        Some(FaultKind::Delay(d)) => tokio::time::sleep(d).await,
        Some(FaultKind::ErrorBody {
            code,
            message_code,
            message,
        }) => {
            let mut e = ApiError::new(code, &message);
            e.message_code = message_code;
            return api_error(&e);
        }
        Some(FaultKind::NotInvited) => refuse_all_invitations = true,
        Some(FaultKind::ExpireTokens) => sim.expire_tokens(),
        None => {}
    }

    if method != Method::GET && method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let params = Params::parse(&uri, &headers, &body);
    // Without f=json the real portal answers with an HTML page.
    if !matches!(params.get("f"), Some("json" | "pjson")) {
        return (
            [(CONTENT_TYPE, "text/html; charset=utf-8")],
            "<html><body><h1>ArcGIS REST (simulated)</h1><p>add f=json</p></body></html>",
        )
            .into_response();
    }

    let now = now_millis();
    let result =
        match endpoint {
            Endpoint::GenerateToken => generate_token(&sim, &method, &params, now),
            Endpoint::Unknown => Err(ApiError::new(400, "Unable to complete operation.")
                .with_detail("Unknown operation.")),
            endpoint => match token_of(&params, &headers) {
                None => Err(ApiError::token_required()),
                Some(token) => {
                    let caller = sim.lock().caller(&sim.inner.org, &token, now);
                    match caller {
                        Err(e) => Err(e),
                        Ok(caller) => handle(
                            &sim,
                            endpoint,
                            &method,
                            &params,
                            &caller,
                            refuse_all_invitations,
                            now,
                        ),
                    }
                }
            },
        };
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => api_error(&e),
    }
}

fn require_post(method: &Method) -> Result<(), ApiError> {
    if *method == Method::POST {
        Ok(())
    } else {
        Err(ApiError::new(400, "Unable to complete operation.")
            .with_detail("This operation must be sent as an HTTP POST."))
    }
}

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.admin {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

fn generate_token(
    sim: &PortalSimulator,
    method: &Method,
    params: &Params,
    now: i64,
) -> Result<Value, ApiError> {
    // Credentials belong in a POST body, never in a URL.
    if *method != Method::POST {
        return Err(ApiError::new(400, "Unable to generate token.")
            .with_detail("This request must be an HTTP POST."));
    }
    let (token, expires) = sim.lock().issue_token(
        &sim.inner.org,
        params.get("username"),
        params.get("password"),
        params.int("expiration"),
        now,
    )?;
    Ok(json!({ "token": token, "expires": expires, "ssl": false }))
}

/// Runs one authenticated operation. Synchronous: the state lock is taken
/// and released inside.
fn handle(
    sim: &PortalSimulator,
    endpoint: Endpoint,
    method: &Method,
    params: &Params,
    caller: &Caller,
    refuse_all_invitations: bool,
    now: i64,
) -> Result<Value, ApiError> {
    let org = &sim.inner.org;
    match endpoint {
        Endpoint::PortalSelf => {
            let st = sim.lock();
            let purchased = st.purchased_map();
            let max_users: u64 = purchased.values().sum();
            let mut v = json!({
                "id": org.id,
                "name": org.name,
                "urlKey": org.url_key,
                "customBaseUrl": "maps.arcgis.com",
                "isPortal": false,
                "maxUsers": max_users,
                "defaultUserCreditAssignment": -1,
                "subscriptionInfo": {
                    "type": "In House",
                    "state": "active",
                    "maxUsers": max_users,
                    "userLicenseTypes": purchased,
                },
            });
            if let (Some(m), Some(obj)) = (st.members.get(&caller.username), v.as_object_mut()) {
                obj.insert("user".into(), st.user_json(org, m, true));
            }
            Ok(v)
        }
        Endpoint::UserLicenseTypes => {
            let st = sim.lock();
            let types: Vec<Value> = st
                .purchased_map()
                .iter()
                .map(|(id, n)| {
                    let name = compat::CURRENT_USER_TYPES
                        .iter()
                        .find(|(i, _)| i == id)
                        .map_or(id.as_str(), |(_, name)| name);
                    json!({ "id": id, "name": name, "maxUsers": n, "apps": [] })
                })
                .collect();
            let (items, start, next) = page(&types, params.int("start"), params.int("num"), 10);
            Ok(json!({
                "total": types.len(),
                "start": start,
                "num": items.len(),
                "nextStart": next,
                "userLicenseTypes": items,
            }))
        }
        Endpoint::UserCounts => {
            require_admin(caller)?;
            let kind = params.require("type")?;
            let st = sim.lock();
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for m in st.members.values() {
                let key = match kind {
                    "userLicenseType" => Some(m.user_type.clone()),
                    "role" => Some(m.role.clone()),
                    _ => None,
                };
                if let Some(k) = key {
                    *counts.entry(k).or_insert(0) += 1;
                }
            }
            let results: Vec<Value> = counts
                .into_iter()
                .map(|(key, count)| json!({ "key": key, "count": count }))
                .collect();
            let (items, start, next) = page(&results, params.int("start"), params.int("num"), 100);
            Ok(json!({
                "typeName": kind,
                "total": results.len(),
                "start": start,
                "num": items.len(),
                "nextStart": next,
                "results": items,
            }))
        }
        Endpoint::Roles => {
            let roles: Vec<Value> = org
                .roles
                .iter()
                .map(|r| json!({ "id": r.id, "name": r.name, "description": r.description }))
                .collect();
            let (items, start, next) = page(&roles, params.int("start"), params.int("num"), 10);
            Ok(json!({
                "total": roles.len(),
                "start": start,
                "num": items.len(),
                "nextStart": next,
                "roles": items,
            }))
        }
        Endpoint::OrgUsers => {
            require_admin(caller)?;
            let st = sim.lock();
            let mut users: Vec<_> = st
                .members
                .values()
                .filter(|m| {
                    params
                        .get("userLicenseType")
                        .is_none_or(|t| t.is_empty() || m.user_type == t)
                })
                .filter(|m| {
                    params
                        .get("role")
                        .is_none_or(|r| r.is_empty() || m.role == r)
                })
                .collect();
            match params
                .get("sortField")
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("created") => users.sort_by_key(|m| m.created),
                Some("lastlogin") => users.sort_by_key(|m| m.last_login),
                Some("fullname") => {
                    users.sort_by_key(|m| format!("{} {}", m.first_name, m.last_name))
                }
                Some("role") => users.sort_by_key(|m| m.role.clone()),
                _ => users.sort_by_key(|m| m.username.to_lowercase()),
            }
            if params
                .get("sortOrder")
                .is_some_and(|o| o.eq_ignore_ascii_case("desc"))
            {
                users.reverse();
            }
            let (items, start, next) = page(&users, params.int("start"), params.int("num"), 10);
            let json_users: Vec<Value> = items
                .iter()
                .map(|m| st.org_list_user_json(org, m))
                .collect();
            Ok(json!({
                "total": users.len(),
                "start": start,
                "num": json_users.len(),
                "nextStart": next,
                "users": json_users,
            }))
        }
        Endpoint::Invite => {
            require_post(method)?;
            require_admin(caller)?;
            let raw = params.require("invitationList")?;
            let list: Value = serde_json::from_str(raw).map_err(|_| {
                ApiError::new(400, "Unable to invite users.")
                    .with_detail("'invitationList' is not valid JSON.")
            })?;
            let not_invited = sim.lock().invite(org, &list, refuse_all_invitations, now)?;
            Ok(json!({ "success": true, "notInvited": not_invited }))
        }
        Endpoint::UpdateLicenseType => {
            require_post(method)?;
            require_admin(caller)?;
            let users = params.list("users");
            if users.is_empty() {
                return Err(ApiError::missing("users"));
            }
            let user_type = params.require("userLicenseType")?;
            let results = sim.lock().update_license_type(org, &users, user_type)?;
            let results: Vec<Value> = results
                .into_iter()
                .map(|(username, status)| json!({ "username": username, "status": status }))
                .collect();
            Ok(json!({ "results": results }))
        }
        Endpoint::UpdateRole => {
            require_post(method)?;
            require_admin(caller)?;
            let user = params.require("user")?;
            let role = params.require("role")?;
            let success = sim.lock().update_role(org, user, role)?;
            Ok(json!({ "success": success, "username": user }))
        }
        Endpoint::RemoveUsers => {
            require_post(method)?;
            require_admin(caller)?;
            let users = params.list("users");
            if users.is_empty() {
                return Err(ApiError::missing("users"));
            }
            let not_removed = sim.lock().remove_users(&caller.username, &users);
            Ok(json!({ "notRemoved": not_removed }))
        }
        Endpoint::CommunityUser(username) => {
            let st = sim.lock();
            let m = st.members.get(&username).ok_or_else(ApiError::no_user)?;
            let show_email = caller.admin || caller.username == username;
            Ok(st.user_json(org, m, show_email))
        }
        Endpoint::UpdateUser(username) => {
            require_post(method)?;
            let text = |key: &str| params.get(key).map(String::from);
            let change = ProfileChange {
                email: text("email"),
                first_name: text("firstName"),
                last_name: text("lastName"),
                full_name: text("fullname"),
                access: text("access"),
                esri_access: text("userType"),
            };
            sim.lock().update_user(caller, &username, &change)?;
            Ok(json!({ "success": true, "username": username }))
        }
        Endpoint::CheckUsernames => {
            let names = params.list("usernames");
            let st = sim.lock();
            let usernames: Vec<Value> = names
                .iter()
                .map(|n| json!({ "requested": n, "suggested": st.suggest(n) }))
                .collect();
            Ok(json!({ "usernames": usernames }))
        }
        Endpoint::GroupSearch => {
            let q = params.get("q").unwrap_or_default();
            let st = sim.lock();
            let found = st.search_groups(org, q);
            let (items, start, next) = page(&found, params.int("start"), params.int("num"), 10);
            let results: Vec<Value> = items.iter().map(|g| st.group_json(org, g)).collect();
            Ok(json!({
                "query": q,
                "total": found.len(),
                "start": start,
                "num": results.len(),
                "nextStart": next,
                "results": results,
            }))
        }
        Endpoint::AddUsers(group_id) => {
            require_post(method)?;
            require_admin(caller)?;
            let mut names = params.list("users");
            names.extend(params.list("admins"));
            if names.is_empty() {
                return Err(ApiError::missing("users"));
            }
            let not_added = sim.lock().add_users(&group_id, &names)?;
            Ok(json!({ "notAdded": not_added }))
        }
        Endpoint::GroupUserList(group_id) => {
            let st = sim.lock();
            let (owner, users) = st.group_user_list(&group_id, caller)?;
            let (items, start, next) = page(&users, params.int("start"), params.int("num"), 25);
            Ok(json!({
                "total": users.len(),
                "start": start,
                "num": items.len(),
                "nextStart": next,
                "owner": owner,
                "users": items,
            }))
        }
        Endpoint::FeatureQuery(layer) => {
            // Any member's valid token may read (the layer is shared with
            // the organization); the caller is already checked.
            sim.lock()
                .layers
                .query(&layer, params.get("where"), params.get("outFields"))
        }
        Endpoint::GenerateToken | Endpoint::Unknown => {
            Err(ApiError::new(400, "Unable to complete operation."))
        }
    }
}

// ----- control routes -----

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_case_insensitive_on_operation_names_only() {
        assert_eq!(
            route("portals/self/updateuserrole", "ORG"),
            Endpoint::UpdateRole
        );
        assert_eq!(
            route("portals/self/updateUserRole", "ORG"),
            Endpoint::UpdateRole
        );
        assert_eq!(route("portals/ORG/invite", "ORG"), Endpoint::Invite);
        assert_eq!(route("portals/other/invite", "ORG"), Endpoint::Unknown);
        assert_eq!(
            route("community/users/Ana.Lopez%40x.org", "ORG"),
            Endpoint::CommunityUser("Ana.Lopez@x.org".into())
        );
        assert_eq!(
            route("community/groups/abc/addUsers", "ORG"),
            Endpoint::AddUsers("abc".into())
        );
        assert_eq!(
            route("community/groups/abc/userList", "ORG"),
            Endpoint::GroupUserList("abc".into())
        );
        assert_eq!(
            route("community/users/jdoe_acme/update", "ORG"),
            Endpoint::UpdateUser("jdoe_acme".into())
        );
    }

    #[test]
    fn percent_decoding_leaves_broken_escapes_alone() {
        assert_eq!(percent_decode("a%40b"), "a@b");
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}

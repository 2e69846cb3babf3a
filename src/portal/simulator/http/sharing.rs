//! The sharing API operations the simulator serves, one match arm each:
//! `generateToken`, `portals/self…` (pending invitations and notifications
//! included), `community/…` (disable, enable and delete included),
//! `content/users/<u>`, and hosted layers' `query`. Each reads its
//! parameters, checks method and caller, takes the state lock once and
//! answers JSON.
//!
//! Synchronous and free of HTTP plumbing (that is `dispatch`); the rules
//! themselves are `state`'s.

use std::collections::BTreeMap;

use axum::http::Method;
use serde_json::{Map, Value, json};

use super::endpoint::Endpoint;
use super::params::Params;
use crate::domain::compat;
use crate::portal::simulator::error::ApiError;
use crate::portal::simulator::lists::page;
use crate::portal::simulator::org::{DEFAULT_ROLE, DEFAULT_USER_TYPE};
use crate::portal::simulator::sim::PortalSimulator;
use crate::portal::simulator::state::{Caller, ProfileChange};

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

pub(super) fn generate_token(
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
        sim.org(),
        params.get("username"),
        params.get("password"),
        params.int("expiration"),
        now,
    )?;
    Ok(json!({ "token": token, "expires": expires, "ssl": false }))
}

/// The version ArcGIS Online answered when these shapes were read.
const CURRENT_VERSION: &str = "2025.2";

/// What a client reads before it signs in, without a token: the REST
/// root's version, `info` (where tokens come from), the languages and the
/// regions.
/// `info` names this simulator's own address (the request's `Host`, over
/// https when a proxy or the TLS listener says so with
/// `X-Forwarded-Proto`), as ArcGIS Online names its own.
pub(super) fn discovery(endpoint: &Endpoint, headers: &axum::http::HeaderMap) -> Value {
    match endpoint {
        Endpoint::Info => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let scheme = headers
                .get("x-forwarded-proto")
                .and_then(|h| h.to_str().ok())
                .filter(|p| *p == "https")
                .unwrap_or("http");
            let base = format!("{scheme}://{host}");
            json!({
                "owningSystemUrl": base,
                "authInfo": {
                    "tokenServicesUrl": format!("{base}/sharing/rest/generateToken"),
                    "isTokenBasedSecurity": true,
                },
            })
        }
        // Both are bare arrays (the ArcGIS API for Python iterates them).
        Endpoint::Languages => json!([
            { "language": "English", "culture": "en" },
            { "language": "Español", "culture": "es" },
            { "language": "Français", "culture": "fr" },
            { "language": "Deutsch", "culture": "de" },
        ]),
        Endpoint::Regions => json!([
            { "region": "WO", "localizedName": "World", "defaultExtent": null },
            { "region": "US", "localizedName": "United States", "defaultExtent": null },
            { "region": "GB", "localizedName": "United Kingdom", "defaultExtent": null },
        ]),
        _ => json!({ "currentVersion": CURRENT_VERSION }),
    }
}

/// Members matching a search query `q`: `*` or empty for all; otherwise
/// every word (fields `username:`, `email:`, `fullname:`, `orgid:`, or
/// none for any of them) must match, case-insensitively, by prefix (as the
/// portal's search index does; `*` at the end of a word allowed).
fn matches_query(org_id: &str, m: &crate::portal::simulator::member::SimMember, q: &str) -> bool {
    q.split_whitespace()
        .filter(|w| !matches!(*w, "AND" | "OR" | "*"))
        .all(|word| {
            let (field, value) = match word.split_once(':') {
                Some((f, v)) => (f.to_ascii_lowercase(), v),
                None => (String::new(), word),
            };
            let value = value.trim_matches('"').trim_end_matches('*').to_lowercase();
            let full = format!("{} {}", m.first_name, m.last_name).to_lowercase();
            let starts = |s: &str| {
                s.to_lowercase().starts_with(&value)
                    || s.to_lowercase()
                        .split([' ', '.', '_', '@'])
                        .any(|part| part.starts_with(&value))
            };
            match field.as_str() {
                "username" => starts(&m.username),
                "email" => starts(&m.email),
                "fullname" => starts(&full),
                "orgid" | "accountid" => value.eq_ignore_ascii_case(org_id),
                _ => starts(&m.username) || starts(&m.email) || starts(&full),
            }
        })
}

/// Runs one authenticated operation. Synchronous: the state lock is taken
/// and released inside.
pub(super) fn handle(
    sim: &PortalSimulator,
    endpoint: Endpoint,
    method: &Method,
    params: &Params,
    caller: &Caller,
    refuse_all_invitations: bool,
    now: i64,
) -> Result<Value, ApiError> {
    let org = sim.org();
    match endpoint {
        Endpoint::PortalSelf => {
            let st = sim.lock();
            let purchased = st.purchased_map();
            let max_users: u64 = purchased.values().sum();
            let mut v = json!({
                "id": org.id,
                "name": org.name,
                "urlKey": org.url_key,
                "portalName": "ArcGIS Online",
                "portalMode": "multitenant",
                "portalHostname": "www.arcgis.com",
                "currentVersion": CURRENT_VERSION,
                "supportsOAuth": true,
                "culture": "en",
                "region": "WO",
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
                let mut user = st.user_json(org, m, true);
                if let Some(u) = user.as_object_mut() {
                    u.insert("privileges".into(), json!(org.privileges(&m.role)));
                }
                obj.insert("user".into(), user);
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
            let listed = listing(params, &types, 10, "userLicenseTypes", Value::clone);
            Ok(Value::Object(listed))
        }
        Endpoint::UserCounts => {
            require_admin(caller)?;
            let kind = params.require("type")?;
            let st = sim.lock();
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            // Pending invitations count toward the totals (fact sheet §2).
            for m in st.seat_holders() {
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
            let mut listed = listing(params, &results, 100, "results", Value::clone);
            listed.insert("typeName".into(), json!(kind));
            Ok(Value::Object(listed))
        }
        Endpoint::Roles => {
            // Why always, not only with `returnPrivileges=true`: a client
            // that did not ask ignores the extra field.
            let roles: Vec<Value> = org
                .roles
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "name": r.name,
                        "description": r.description,
                        "privileges": org.privileges(&r.id),
                    })
                })
                .collect();
            Ok(Value::Object(listing(
                params,
                &roles,
                10,
                "roles",
                Value::clone,
            )))
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
            let listed = listing(params, &users, 10, "users", |m| {
                st.org_list_user_json(org, m)
            });
            Ok(Value::Object(listed))
        }
        Endpoint::Invitations => {
            // Listing the organization's invitations is an administrator's
            // operation, like the member listing.
            require_admin(caller)?;
            let st = sim.lock();
            let listed = listing(params, &st.invitations_listed(), 10, "invitations", |i| {
                st.invitation_json(i)
            });
            Ok(Value::Object(listed))
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
            let users = params.require_list("users")?;
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
            let users = params.require_list("users")?;
            let not_removed = sim.lock().remove_users(&caller.username, &users);
            Ok(json!({ "notRemoved": not_removed }))
        }
        Endpoint::CommunitySelf => {
            let st = sim.lock();
            let (mut v, role) = match st.members.get(&caller.username) {
                Some(m) => (st.user_json(org, m, true), m.role.clone()),
                // The administrator may only sign in (no seat): a bare
                // built-in account.
                None => {
                    let role = if caller.admin {
                        "org_admin"
                    } else {
                        "org_user"
                    };
                    let v = json!({
                        "username": caller.username,
                        "role": role,
                        "orgId": org.id,
                        "provider": "arcgis",
                    });
                    (v, role.to_string())
                }
            };
            if let Some(obj) = v.as_object_mut() {
                obj.insert("privileges".into(), json!(org.privileges(&role)));
            }
            Ok(v)
        }
        Endpoint::CommunityUser(username) => {
            let st = sim.lock();
            let m = st.members.get(&username).ok_or_else(ApiError::no_user)?;
            let show_email = caller.admin || caller.username == username;
            let mut u = st.user_json(org, m, show_email);
            // A user reading their own record sees their privileges (the
            // ArcGIS API for Python reads them there to know it may
            // administer); nobody else's record carries them.
            if caller.username == username
                && let Some(obj) = u.as_object_mut()
            {
                obj.insert("privileges".into(), json!(org.privileges(&m.role)));
            }
            Ok(u)
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
        Endpoint::ResetUser(username) => {
            require_post(method)?;
            sim.lock()
                .reset_by_email(caller, &username, params.get("email"))?;
            Ok(json!({ "success": true, "username": username }))
        }
        Endpoint::CheckUsernames => {
            let names = params.list("usernames");
            let st = sim.lock();
            // A deleted member's name gets no entry: the fact sheet saw an
            // empty list for deleted names (§6).
            let usernames: Vec<Value> = names
                .iter()
                .filter(|n| !st.is_deleted_name(n))
                .map(|n| json!({ "requested": n, "suggested": st.suggest(n) }))
                .collect();
            Ok(json!({ "usernames": usernames }))
        }
        Endpoint::DisableUser(username) => {
            require_post(method)?;
            require_admin(caller)?;
            sim.lock().set_disabled(caller, &username, true)?;
            Ok(json!({ "success": true, "username": username }))
        }
        Endpoint::EnableUser(username) => {
            require_post(method)?;
            require_admin(caller)?;
            sim.lock().set_disabled(caller, &username, false)?;
            Ok(json!({ "success": true, "username": username }))
        }
        Endpoint::DeleteUser(username) => {
            require_post(method)?;
            require_admin(caller)?;
            sim.lock().delete_member(caller, &username)?;
            Ok(json!({ "success": true, "username": username }))
        }
        Endpoint::UserContent(username) => {
            let st = sim.lock();
            let items = st.user_items(caller, &username)?;
            let mut listed = listing(params, &items, 10, "items", |i| st.item_json(i));
            listed.insert("username".into(), json!(username));
            listed.insert("currentFolder".into(), Value::Null);
            listed.insert("folders".into(), json!([]));
            Ok(Value::Object(listed))
        }
        Endpoint::CreateNotification => {
            require_post(method)?;
            require_admin(caller)?;
            let channel = params.require("notificationChannelType")?;
            let message = params.require("message")?;
            let users = params.require_list("users")?;
            sim.lock()
                .create_notification(channel, params.get("subject"), message, &users)?;
            Ok(json!({ "success": true }))
        }
        Endpoint::GroupSearch => {
            let q = params.get("q").unwrap_or_default();
            let st = sim.lock();
            let found = st.search_groups(org, q);
            let mut listed = listing(params, &found, 10, "results", |g| st.group_json(org, g));
            listed.insert("query".into(), json!(q));
            Ok(Value::Object(listed))
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
            let mut listed = listing(params, &users, 25, "users", Value::clone);
            listed.insert("owner".into(), owner);
            Ok(Value::Object(listed))
        }
        Endpoint::UserSearch | Endpoint::CommunityUserSearch => {
            // The organization's own search is an administrator's; the
            // community search shows a member the organization's members.
            if endpoint == Endpoint::UserSearch {
                require_admin(caller)?;
            }
            let q = params.get("q").unwrap_or_default();
            let st = sim.lock();
            let mut users: Vec<_> = st
                .members
                .values()
                .filter(|m| matches_query(&org.id, m, q))
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
                _ => users.sort_by_key(|m| m.username.to_lowercase()),
            }
            if params
                .get("sortOrder")
                .is_some_and(|o| o.eq_ignore_ascii_case("desc"))
            {
                users.reverse();
            }
            let mut listed = listing(params, &users, 10, "results", |m| {
                st.user_json(org, m, caller.admin)
            });
            listed.insert("query".into(), json!(q));
            Ok(Value::Object(listed))
        }
        Endpoint::CommunityUserLicenseType(username) => {
            let st = sim.lock();
            let m = st.members.get(&username).ok_or_else(ApiError::no_user)?;
            let name = compat::CURRENT_USER_TYPES
                .iter()
                .find(|(i, _)| *i == m.user_type)
                .map_or(m.user_type.as_str(), |(_, name)| name);
            Ok(json!({
                "username": m.username,
                "userLicenseType": { "id": m.user_type, "name": name, "apps": [] },
            }))
        }
        Endpoint::UserDefaultSettings => {
            require_admin(caller)?;
            Ok(json!({
                "role": DEFAULT_ROLE,
                "userLicenseType": DEFAULT_USER_TYPE,
                "userType": "arcgisonly",
                "groups": [],
                "apps": [],
                "appBundles": [],
            }))
        }
        // No add-on licences here: user types are the only licences (fact
        // sheet §2). The ArcGIS API for Python reads both before it
        // deletes a member, to take such licences back first.
        Endpoint::Purchases => {
            require_admin(caller)?;
            Ok(json!({ "purchases": [] }))
        }
        Endpoint::AppBundles => {
            require_admin(caller)?;
            Ok(Value::Object(listing(
                params,
                &Vec::<Value>::new(),
                10,
                "appBundles",
                Value::clone,
            )))
        }
        Endpoint::Group(group_id) => {
            let st = sim.lock();
            let g = st.group(&group_id).ok_or_else(ApiError::no_group)?;
            Ok(st.group_json(org, g))
        }
        Endpoint::GroupUsers(group_id) => {
            let st = sim.lock();
            let (owner, users) = st.group_user_list(&group_id, caller)?;
            let owner_name = owner.get("username").cloned().unwrap_or(Value::Null);
            let names: Vec<Value> = users
                .iter()
                .filter_map(|u| u.get("username").cloned())
                .collect();
            Ok(json!({
                "owner": owner_name,
                "admins": [owner_name.clone()],
                "users": names,
            }))
        }
        Endpoint::FeatureQuery(layer) => {
            // Any member's valid token may read (the layer is shared with
            // the organization); the caller is already checked.
            sim.lock()
                .layers
                .query(&layer, params.get("where"), params.get("outFields"))
        }
        Endpoint::GenerateToken
        | Endpoint::Unknown
        | Endpoint::Root
        | Endpoint::Info
        | Endpoint::Languages
        | Endpoint::Regions => Err(ApiError::new(400, "Unable to complete operation.")),
    }
}

/// One page of a paged listing as the sharing API answers it (fact sheet
/// §9): `total`, `start`, `num`, `nextStart` and the page's items (each
/// turned into JSON by `item`) under `key`. The page is chosen by the
/// request's `start` and `num`, `default_num` when `num` is absent.
fn listing<T>(
    params: &Params,
    all: &[T],
    default_num: i64,
    key: &str,
    item: impl Fn(&T) -> Value,
) -> Map<String, Value> {
    let (items, start, next) = page(all, params.int("start"), params.int("num"), default_num);
    let mut listed = Map::new();
    listed.insert("total".into(), json!(all.len()));
    listed.insert("start".into(), json!(start));
    listed.insert("num".into(), json!(items.len()));
    listed.insert("nextStart".into(), json!(next));
    listed.insert(key.into(), Value::Array(items.iter().map(item).collect()));
    listed
}

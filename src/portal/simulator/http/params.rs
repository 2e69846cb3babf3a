//! Request parameters ([`Params`]): the query string overlaid by a
//! form-encoded body, as the sharing API reads them, and where the token
//! may be sent (the sharing API: `token_of`; the portaladmin API:
//! `admin_token_of`).
//!
//! Parameters carry tokens and passwords: nothing here logs them.

use std::collections::BTreeMap;

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, Uri};

use crate::portal::simulator::error::ApiError;
use crate::portal::simulator::lists::split_list;

/// Request parameters: the query string, overlaid by a form-encoded body.
pub(super) struct Params(BTreeMap<String, String>);

/// The query string's parameters.
fn query_pairs(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// The parameters of a form-encoded body (a body of another type has
/// none; no `Content-Type` is taken as a form).
fn form_pairs(headers: &HeaderMap, body: &[u8]) -> BTreeMap<String, String> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if is_form && !body.is_empty() {
        url::form_urlencoded::parse(body).into_owned().collect()
    } else {
        BTreeMap::new()
    }
}

impl Params {
    pub(super) fn parse(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Self {
        let mut map = query_pairs(uri);
        map.extend(form_pairs(headers, body));
        Params(map)
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub(super) fn require(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| ApiError::missing(key))
    }

    pub(super) fn list(&self, key: &str) -> Vec<String> {
        self.get(key).map(split_list).unwrap_or_default()
    }

    /// A list parameter that must name at least one item.
    pub(super) fn require_list(&self, key: &str) -> Result<Vec<String>, ApiError> {
        let items = self.list(key);
        if items.is_empty() {
            return Err(ApiError::missing(key));
        }
        Ok(items)
    }

    pub(super) fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }
}

/// The token: the `token` parameter, else `X-Esri-Authorization: Bearer …`.
pub(super) fn token_of(params: &Params, headers: &HeaderMap) -> Option<String> {
    if let Some(t) = params.get("token").map(str::trim).filter(|t| !t.is_empty()) {
        return Some(t.to_string());
    }
    bearer_of(headers)
}

/// The token of an `X-Esri-Authorization: Bearer …` header.
fn bearer_of(headers: &HeaderMap) -> Option<String> {
    let h = headers.get("x-esri-authorization")?.to_str().ok()?.trim();
    let (scheme, t) = h.split_once(' ')?;
    let t = t.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !t.is_empty()).then(|| t.to_string())
}

/// The token of a portaladmin request: the `token` field of a POST's form
/// body, or of a GET's query string, else the `X-Esri-Authorization:
/// Bearer` header; never a POST's query string (fact sheet §3: "Admin API
/// POSTs must carry the token in the body"). The header counts because
/// Esri's own ArcGIS API for Python 2.4.4 sends `createUser` with nothing
/// else (its session adds only the header; tried against this simulator,
/// docs/esri-clients.md): code evidence \[V\] over the fact sheet's
/// wording \[D\].
pub(super) fn admin_token_of(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<String> {
    let fields = if *method == Method::POST {
        form_pairs(headers, body)
    } else {
        query_pairs(uri)
    };
    fields
        .get("token")
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .or_else(|| bearer_of(headers))
}

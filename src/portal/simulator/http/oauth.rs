//! The OAuth 2.0 sign-in pages Esri's ArcGIS API for Python drives when it
//! is given a username and a password (`GIS(url, user, password)`, 2.x):
//! the implicit grant, scripted the way the library does it.
//!
//! 1. `GET sharing/rest/oauth2/authorize?client_id=…&response_type=token&
//!    redirect_uri=…&state=…&expiration=…` answers the sign-in page, whose
//!    script carries `var oAuthInfo = {…"oauth_state":…}` (the library reads
//!    it with a regular expression). An unregistered `redirect_uri` gets a
//!    page saying "Invalid redirect_uri" (the library then tries the next
//!    one). Registered here: the portal's own https address (the one the
//!    library tries first, and the only kind its OAuth layer accepts a
//!    token back on) and the out-of-band `urn:ietf:wg:oauth:2.0:oob`.
//! 2. `POST sharing/oauth2/signin` (not under `rest/`) with `oauth_state`,
//!    `username`, `password`: the credentials are checked as
//!    `generateToken` checks them; on success a `302` to `redirect_uri#
//!    access_token=…&expires_in=…&username=…&state=…`, the client's `state`
//!    echoed (the library checks it); on failure the page again, with
//!    `messages: ["Invalid username or password."]`.
//!
//! Not in the fact sheet (\[I\]: the ArcGIS API for Python 2.4.4's
//! `arcgis.auth._auth._token`). The pending sign-in lives in `oauth_state`
//! itself (hex-encoded JSON): the credentials are what is checked, so there
//! is nothing to keep between the two requests.

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::params::Params;
use crate::portal::simulator::sim::PortalSimulator;

/// The one redirect address registered for every client here.
const OUT_OF_BAND: &str = "urn:ietf:wg:oauth:2.0:oob";

/// What a sign-in started by `authorize` carries to `signin`.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    client_id: String,
    redirect_uri: String,
    state: Option<String>,
    expiration: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(super) struct AuthorizeQuery {
    client_id: Option<String>,
    response_type: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    expiration: Option<i64>,
}

fn page(title: &str, info: &serde_json::Value) -> Response {
    // One line for the object: the library's first pattern is `\{.*\}`
    // without DOTALL. `<` is escaped so no value can end the script.
    let info = info.to_string().replace('<', "\\u003c");
    let html = format!(
        "<!DOCTYPE html>\n<html><head><title>{title}</title></head><body>\n<h1>ArcGIS Online (simulated) sign in</h1>\n<script>var oAuthInfo = {info};</script>\n</body></html>\n"
    );
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

fn error_page(message: &str) -> Response {
    let mut r = page("Error", &json!({ "error": message }));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}

/// Whether `uri` is a redirect address registered here: out-of-band, or
/// this portal's own address over https.
fn registered(uri: &str, headers: &HeaderMap) -> bool {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    uri == OUT_OF_BAND
        || (!host.is_empty()
            && uri
                .strip_prefix("https://")
                .is_some_and(|rest| rest.trim_end_matches('/') == host))
}

/// `GET sharing/rest/oauth2/authorize`.
pub(super) async fn authorize(headers: HeaderMap, Query(q): Query<AuthorizeQuery>) -> Response {
    let Some(client_id) = q.client_id.filter(|c| !c.is_empty()) else {
        return error_page("Error: Invalid client_id");
    };
    if q.response_type.as_deref() != Some("token") {
        // Only the implicit grant the library uses with a password.
        return error_page("Error: unsupported response_type");
    }
    let redirect_uri = q.redirect_uri.unwrap_or_default();
    if !registered(&redirect_uri, &headers) {
        return error_page("Error: Invalid redirect_uri");
    }
    let pending = Pending {
        client_id: client_id.clone(),
        redirect_uri,
        state: q.state,
        expiration: q.expiration,
    };
    let oauth_state = hex(&serde_json::to_vec(&pending).unwrap_or_default());
    page(
        "Sign in",
        &json!({ "oauth_state": oauth_state, "client_id": client_id, "locale": "en-US" }),
    )
}

/// `POST sharing/oauth2/signin`.
pub(super) async fn signin(
    State(sim): State<PortalSimulator>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let params = Params::parse(&uri, &headers, &body);
    let Some(pending) = params
        .get("oauth_state")
        .and_then(unhex)
        .and_then(|b| serde_json::from_slice::<Pending>(&b).ok())
    else {
        return error_page("Error: Invalid oauth_state");
    };
    let now = sim.now();
    let expiration = params.int("expiration").or(pending.expiration);
    let issued = sim.lock().issue_token(
        sim.org(),
        params.get("username"),
        params.get("password"),
        expiration,
        now,
    );
    match issued {
        Ok((token, expires)) => {
            let username = params.get("username").unwrap_or_default();
            let mut fragment = format!(
                "access_token={token}&expires_in={}&username={}&ssl=true&persist=false",
                ((expires - now) / 1000).max(0),
                urlencode(username)
            );
            if let Some(state) = &pending.state {
                fragment.push_str(&format!("&state={}", urlencode(state)));
            }
            let location = format!("{}#{fragment}", pending.redirect_uri);
            (StatusCode::FOUND, [(LOCATION, location)]).into_response()
        }
        Err(_) => page(
            "Sign in",
            &json!({
                "oauth_state": params.get("oauth_state"),
                "client_id": pending.client_id,
                "messages": ["Invalid username or password."],
            }),
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// Percent-encodes a fragment value.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pending_sign_in_survives_its_trip_through_oauth_state() {
        let p = Pending {
            client_id: "pythonapi".into(),
            redirect_uri: OUT_OF_BAND.into(),
            state: Some("s t&".into()),
            expiration: Some(20160),
        };
        let h = hex(&serde_json::to_vec(&p).unwrap());
        let back: Pending = serde_json::from_slice(&unhex(&h).unwrap()).unwrap();
        assert_eq!(back.state.as_deref(), Some("s t&"));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
        assert_eq!(urlencode("a b&c"), "a%20b%26c");
    }
}

//! Profiles from the identity providers' APIs: Okta events and Auth0 log
//! records carry no names, so when a source has `api` configured its route
//! completes the sign-up from `GET /api/v1/users/{id}` (Okta, `SSWS` token)
//! or the Auth0 Management API (client-credentials token, cached until
//! shortly before it expires).
//!
//! These are outbound calls made on an intake's behalf, within the hook's
//! deadline ([`PROFILE_TIMEOUT`]); a failed look-up is logged and the
//! sign-up goes on with what the delivery carried. Tokens are never logged.

use std::sync::OnceLock;
use std::time::Duration;

use http::{StatusCode, header};
use serde_json::{Value, json};

use super::okta::{self, OktaUserEvent};
use super::sources::{ProviderApi, Source};
use super::{FieldMap, Signup, auth0};
use crate::config::Secret;

/// How long a profile look-up may take inside a 3-second hook.
pub const PROFILE_TIMEOUT: Duration = Duration::from_millis(1200);

/// Clients of the identity providers' APIs, built on first use so cold
/// starts that never need them do not pay for a TLS set-up.
#[derive(Default)]
pub struct ProfileClients {
    client: OnceLock<reqwest::Client>,
    /// The Auth0 Management API token and when to stop using it.
    auth0_token: tokio::sync::Mutex<Option<(Secret, std::time::Instant)>>,
}

impl ProfileClients {
    /// The sign-up of one user event: from the Okta users API when configured
    /// (events carry no profile), else from the event alone.
    pub async fn okta_signup(
        &self,
        src: &Source,
        ev: &OktaUserEvent,
        fields: &FieldMap,
    ) -> Option<Signup> {
        match (&src.api, self.http_client()) {
            (Some(api), Some(http)) => {
                match fetch_okta_profile(http, api, &ev.okta_user_id).await {
                    Ok(profile) => match ev.with_profile(&profile, fields) {
                        Ok(s) => return Some(s),
                        Err(e) => {
                            tracing::warn!(source = okta::SOURCE, event = %ev.key.id, code = e.code(), "profile unusable, using the event: {e}")
                        }
                    },
                    Err(e) => {
                        tracing::warn!(source = okta::SOURCE, event = %ev.key.id, "profile look-up failed, using the event: {e}")
                    }
                }
            }
            (Some(_), None) => {}
            (None, _) => {
                tracing::info!(source = okta::SOURCE, event = %ev.key.id, "no Okta API configured: names derived from the event's displayName, e-mail from its alternateId")
            }
        }
        let signup = ev.signup();
        if signup.is_none() {
            tracing::warn!(source = okta::SOURCE, event = %ev.key.id, "event skipped: its alternateId is not an e-mail and the profile could not be fetched");
        }
        signup
    }

    /// The shared outbound client; `None` (logged) if TLS cannot be set up.
    fn http_client(&self) -> Option<&reqwest::Client> {
        if let Some(c) = self.client.get() {
            return Some(c);
        }
        // No redirects: a redirect would re-send the API token or the
        // client secret to wherever it points (issue 13).
        match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => Some(self.client.get_or_init(|| c)),
            Err(e) => {
                tracing::error!("outbound HTTP client: {}", e.without_url());
                None
            }
        }
    }

    /// An Auth0 log stream sign-up completed from the Management API when it is
    /// configured (log records carry no names); otherwise as it came, which the
    /// log says.
    pub async fn auth0_signup(&self, src: &Source, signup: Signup) -> Signup {
        let Some(api) = &src.api else {
            tracing::info!(source = auth0::SOURCE, log_id = %signup.key.id, "no Auth0 Management API configured: the sign-up has the e-mail only, no names");
            return signup;
        };
        let Some(user_id) = signup
            .request
            .attributes
            .get("user_id")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            tracing::warn!(source = auth0::SOURCE, log_id = %signup.key.id, "the record has no user_id: no profile look-up");
            return signup;
        };
        let fields = src.fields.or(&auth0::default_profile_fields());
        match self.fetch_auth0_user(api, &user_id).await {
            Ok(user) => match auth0::with_profile(&signup, &user, &fields) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(source = auth0::SOURCE, log_id = %signup.key.id, code = e.code(), "profile unusable, using the record: {e}");
                    signup
                }
            },
            Err(e) => {
                tracing::warn!(source = auth0::SOURCE, log_id = %signup.key.id, "profile look-up failed, using the record: {e}");
                signup
            }
        }
    }

    /// `GET {base}/api/v2/users/{id}` with a Management API token obtained by
    /// the client-credentials grant and cached until shortly before it expires.
    async fn fetch_auth0_user(&self, api: &ProviderApi, user_id: &str) -> Result<Value, String> {
        let http = self.http_client().ok_or("no HTTP client")?;
        let token = self.auth0_token(http, api).await?;
        let url = url::Url::parse(&format!("{}/api/v2/users/", api.base))
            .and_then(|u| u.join(&url_escape(user_id)))
            .map_err(|_| "bad Management API URL".to_string())?;
        let response = http
            .get(url)
            .bearer_auth(token.expose())
            .timeout(PROFILE_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        if response.status() == StatusCode::UNAUTHORIZED {
            // Revoked or rotated: fetch a new token next time.
            *self.auth0_token.lock().await = None;
        }
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        response
            .json::<Value>()
            .await
            .map_err(|e| format!("not JSON: {}", e.without_url()))
    }

    async fn auth0_token(
        &self,
        http: &reqwest::Client,
        api: &ProviderApi,
    ) -> Result<Secret, String> {
        let mut cached = self.auth0_token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && std::time::Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let (client_id, client_secret) = api
            .token
            .expose()
            .split_once(':')
            .ok_or("the Auth0 client is not client_id:client_secret")?;
        let response = http
            .post(format!("{}/oauth/token", api.base))
            .json(&json!({
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
                "audience": format!("{}/api/v2/", api.base),
            }))
            .timeout(PROFILE_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("token request failed: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("token request: HTTP {}", response.status()));
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("token answer not JSON: {}", e.without_url()))?;
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or("token answer without access_token")?;
        let lifetime = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(3600);
        let until =
            std::time::Instant::now() + Duration::from_secs(lifetime.saturating_sub(60).max(30));
        let token = Secret::new(token);
        *cached = Some((token.clone(), until));
        Ok(token)
    }
}

/// `GET {base}/api/v1/users/{id}` with the API token (`SSWS`).
async fn fetch_okta_profile(
    http: &reqwest::Client,
    api: &ProviderApi,
    user_id: &str,
) -> Result<Value, String> {
    if user_id.is_empty() || !user_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("the event's user id is not an Okta id".into());
    }
    let url = format!("{}/api/v1/users/{user_id}", api.base);
    let response = http
        .get(url)
        .header(
            header::AUTHORIZATION,
            format!("SSWS {}", api.token.expose()),
        )
        .header(header::ACCEPT, "application/json")
        .timeout(PROFILE_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("request failed: {}", e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    response
        .json::<Value>()
        .await
        .map_err(|e| format!("not JSON: {}", e.without_url()))
}

/// Percent-encodes a path segment (Auth0 ids contain `|`).
fn url_escape(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

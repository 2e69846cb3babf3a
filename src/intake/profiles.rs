//! Profiles from the identity providers' APIs: Okta events and Auth0 log
//! records carry no names, so when a source has `api` configured its route
//! completes the sign-up from `GET /api/v1/users/{id}` (Okta, `SSWS` token)
//! or the Auth0 Management API (client-credentials token, cached until
//! shortly before it expires).
//!
//! These are outbound calls made on an intake's behalf, within the hook's
//! deadline ([`PROFILE_TIMEOUT`]); a failed look-up is logged and the
//! sign-up goes on with what the delivery carried. Tokens are never logged.
//!
//! A token (Okta) or client (Auth0) the provider refuses may have been
//! rotated since the cold start: the deployed function then reads its
//! secret again ([`ProviderSecretRefresh`], at most once a minute per
//! secret) and, when the value changed, tries once more with the new one.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use http::{StatusCode, header};
use serde_json::{Value, json};

use super::okta::{self, OktaUserEvent};
use super::sources::{AUTH0_API_SECRET, OKTA_API_SECRET, ProviderApi, Source};
use super::{FieldMap, Signup, auth0};
use crate::config::Secret;

/// How long a profile look-up may take inside a 3-second hook.
pub const PROFILE_TIMEOUT: Duration = Duration::from_millis(1200);

/// Shortest time between two re-reads of one provider secret: a token that
/// stays refused must not cost a secret read per delivery.
pub const SECRET_REREAD_INTERVAL: Duration = Duration::from_secs(60);

/// Where a provider secret is read again after the provider refused it
/// (`okta_api` or `auth0_api`): the deployed function
/// re-reads its Secrets Manager secret. `Ok(None)`: not configured there.
pub type ProviderSecretRefresh = Arc<
    dyn Fn(&'static str) -> Pin<Box<dyn Future<Output = Result<Option<Secret>, String>> + Send>>
        + Send
        + Sync,
>;

/// Clients of the identity providers' APIs, built on first use so cold
/// starts that never need them do not pay for a TLS set-up.
#[derive(Default)]
pub struct ProfileClients {
    client: OnceLock<reqwest::Client>,
    /// The Auth0 Management API token and when to stop using it.
    auth0_token: tokio::sync::Mutex<Option<(Secret, Instant)>>,
    /// Where refused provider secrets are read again (`None`: never).
    refresh: Option<ProviderSecretRefresh>,
    /// Provider secrets read again since the start, by secret name, with
    /// when each was last read: they replace the configured ones.
    rotated: std::sync::Mutex<HashMap<&'static str, (Option<Secret>, Instant)>>,
    /// One re-read at a time: refusals that arrive together (a batch of
    /// events) wait for the first one's read instead of each reading.
    rereading: tokio::sync::Mutex<()>,
}

impl ProfileClients {
    /// Clients that read a refused provider secret again through `refresh`.
    pub fn with_refresh(refresh: ProviderSecretRefresh) -> Self {
        ProfileClients {
            refresh: Some(refresh),
            ..ProfileClients::default()
        }
    }

    /// The secret to use: the one read again since the start, if any, else
    /// the configured one.
    fn current(&self, name: &'static str, configured: &Secret) -> Secret {
        let rotated = self.rotated.lock().unwrap_or_else(|p| p.into_inner());
        match rotated.get(name) {
            Some((Some(fresh), _)) => fresh.clone(),
            _ => configured.clone(),
        }
    }

    /// After the provider refused `held`: reads the secret again (at most
    /// once per [`SECRET_REREAD_INTERVAL`]) and returns it when it differs
    /// from `held`, for one more try; `None` otherwise (logged).
    async fn reread(&self, name: &'static str, held: &Secret) -> Option<Secret> {
        let refresh = self.refresh.as_ref()?;
        let _one_at_a_time = self.rereading.lock().await;
        {
            let rotated = self.rotated.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((fresh, at)) = rotated.get(name) {
                // Read meanwhile by a refusal that came first: use it.
                if let Some(fresh) = fresh
                    && fresh.expose() != held.expose()
                {
                    return Some(fresh.clone());
                }
                if at.elapsed() < SECRET_REREAD_INTERVAL {
                    return None;
                }
            }
        }
        let read = refresh(name).await;
        let mut rotated = self.rotated.lock().unwrap_or_else(|p| p.into_inner());
        let previous = rotated.get(name).and_then(|(s, _)| s.clone());
        match read {
            Ok(Some(fresh)) if fresh.expose() != held.expose() => {
                tracing::info!(
                    secret = name,
                    "the provider refused the secret held; a new one was read and is tried"
                );
                rotated.insert(name, (Some(fresh.clone()), Instant::now()));
                Some(fresh)
            }
            Ok(_) => {
                tracing::warn!(
                    secret = name,
                    "the provider refused the secret and the secret store holds no other: check it"
                );
                rotated.insert(name, (previous, Instant::now()));
                None
            }
            Err(e) => {
                tracing::warn!(
                    secret = name,
                    "the provider refused the secret; reading it again failed: {e}"
                );
                rotated.insert(name, (previous, Instant::now()));
                None
            }
        }
    }

    /// The sign-up of one user event: from the Okta users API when configured
    /// (events carry no profile), else from the event alone.
    pub async fn okta_signup(
        &self,
        src: &Source,
        ev: &OktaUserEvent,
        fields: &FieldMap,
    ) -> Option<Signup> {
        match (&src.api, self.http_client()) {
            (Some(api), Some(http)) => match self.okta_profile(http, api, &ev.okta_user_id).await {
                Ok(profile) => match ev.with_profile(&profile, fields) {
                    Ok(s) => return Some(s),
                    Err(e) => {
                        tracing::warn!(source = okta::SOURCE, event = %ev.key.id, code = e.code(), "profile unusable, using the event: {e}")
                    }
                },
                Err(e) => {
                    tracing::warn!(source = okta::SOURCE, event = %ev.key.id, "profile look-up failed, using the event: {e}")
                }
            },
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

    /// The Okta profile with the token held; when Okta refuses it (401),
    /// once more with the token read again, if it changed.
    async fn okta_profile(
        &self,
        http: &reqwest::Client,
        api: &ProviderApi,
        user_id: &str,
    ) -> Result<Value, String> {
        let token = self.current(OKTA_API_SECRET, &api.token);
        match fetch_okta_profile(http, &api.base, &token, user_id).await {
            Err(Refused::Credentials(e)) => match self.reread(OKTA_API_SECRET, &token).await {
                Some(fresh) => fetch_okta_profile(http, &api.base, &fresh, user_id)
                    .await
                    .map_err(Refused::into_message),
                None => Err(e),
            },
            other => other.map_err(Refused::into_message),
        }
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
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let client = self.current(AUTH0_API_SECRET, &api.token);
        let body = match request_auth0_token(http, &api.base, &client).await {
            Err(Refused::Credentials(e)) => match self.reread(AUTH0_API_SECRET, &client).await {
                Some(fresh) => request_auth0_token(http, &api.base, &fresh)
                    .await
                    .map_err(Refused::into_message)?,
                None => return Err(e),
            },
            other => other.map_err(Refused::into_message)?,
        };
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or("token answer without access_token")?;
        let lifetime = body
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(3600);
        let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(60).max(30));
        let token = Secret::new(token);
        *cached = Some((token.clone(), until));
        Ok(token)
    }
}

/// Why a provider call failed: its credentials were refused (worth reading
/// the secret again), or anything else.
enum Refused {
    /// 401 (Okta's API, Auth0's token endpoint) or 403 (Auth0's
    /// `access_denied` for a wrong client secret).
    Credentials(String),
    /// Any other failure.
    Other(String),
}

impl Refused {
    fn into_message(self) -> String {
        match self {
            Refused::Credentials(m) | Refused::Other(m) => m,
        }
    }
}

/// `POST {base}/oauth/token`, the client-credentials grant of the Auth0
/// client `client_id:client_secret`; the answer's JSON.
async fn request_auth0_token(
    http: &reqwest::Client,
    base: &str,
    client: &Secret,
) -> Result<Value, Refused> {
    let (client_id, client_secret) = client
        .expose()
        .split_once(':')
        .ok_or_else(|| Refused::Other("the Auth0 client is not client_id:client_secret".into()))?;
    let response = http
        .post(format!("{base}/oauth/token"))
        .json(&json!({
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "audience": format!("{base}/api/v2/"),
        }))
        .timeout(PROFILE_TIMEOUT)
        .send()
        .await
        .map_err(|e| Refused::Other(format!("token request failed: {}", e.without_url())))?;
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(Refused::Credentials(format!(
            "token request: HTTP {status}"
        )));
    }
    if !status.is_success() {
        return Err(Refused::Other(format!("token request: HTTP {status}")));
    }
    response
        .json()
        .await
        .map_err(|e| Refused::Other(format!("token answer not JSON: {}", e.without_url())))
}

/// `GET {base}/api/v1/users/{id}` with the API token (`SSWS`).
async fn fetch_okta_profile(
    http: &reqwest::Client,
    base: &str,
    token: &Secret,
    user_id: &str,
) -> Result<Value, Refused> {
    if user_id.is_empty() || !user_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Refused::Other(
            "the event's user id is not an Okta id".into(),
        ));
    }
    let url = format!("{base}/api/v1/users/{user_id}");
    let response = http
        .get(url)
        .header(header::AUTHORIZATION, format!("SSWS {}", token.expose()))
        .header(header::ACCEPT, "application/json")
        .timeout(PROFILE_TIMEOUT)
        .send()
        .await
        .map_err(|e| Refused::Other(format!("request failed: {}", e.without_url())))?;
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        return Err(Refused::Credentials(format!("HTTP {status}")));
    }
    if !status.is_success() {
        return Err(Refused::Other(format!("HTTP {status}")));
    }
    response
        .json::<Value>()
        .await
        .map_err(|e| Refused::Other(format!("not JSON: {}", e.without_url())))
}

/// Percent-encodes a path segment (Auth0 ids contain `|`).
fn url_escape(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

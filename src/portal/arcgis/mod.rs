//! [`ArcGisPortal`]: the adapter of all three portal ports ([`Members`],
//! [`OrgAdmin`], [`FeatureLayers`]) that talks to ArcGIS Online over the
//! sharing REST API (`reqwest`, rustls), following the fact sheet
//! (`arcgis-portal-api.md`).
//!
//! Its job: hold an administrator token (generated from username and
//! password, cached, renewed before it lapses, renewed once on 498/499),
//! send each call with retries inside a deadline, and map the portal's JSON
//! to the ports' types. It must not decide anything about seats or pools,
//! must not retry a refused invitation, and must never log or return the
//! password or a token.
//!
//! Layout: this file (configuration, construction, the authenticated call
//! with its single-flight token renewal, and the answer helpers every
//! operation uses); `members` ([`Members`]), `org` ([`OrgAdmin`]), `layers`
//! ([`FeatureLayers`]); `enterprise` (an ArcGIS Enterprise portal's admin
//! API: `createUser` and the licence); `paging` (paged GET listings); `transport` (one
//! request with retries and error classification), `token` (renewal
//! arithmetic); the serde shapes are in `portal::wire`.
//!
//! [`Members`]: crate::portal::Members
//! [`OrgAdmin`]: crate::portal::OrgAdmin
//! [`FeatureLayers`]: crate::portal::FeatureLayers

mod enterprise;
mod layers;
mod members;
mod org;
mod paging;
mod token;
mod transport;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use http::HeaderValue;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Mutex, OnceCell};
use tokio::time::Instant;
use tracing::debug;
use url::Url;

use self::token::CachedToken;
use self::transport::{Call, CallError, RetryPolicy, Transport, fmt_duration};
use crate::clock::Clock;
use crate::domain::layer_url::is_loopback;
use crate::portal::PortalFlavour;
use crate::portal::error::PortalError;
use crate::portal::wire::TokenResponse;

/// Connection settings of [`ArcGisPortal`].
#[derive(Clone, Debug)]
pub struct ArcGisConfig {
    /// The sharing REST root, e.g. `https://myorg.maps.arcgis.com/sharing/rest`.
    /// Must be `https`, except for loopback hosts (local simulator, tests).
    pub base_url: String,
    /// Sent as `client=referer` at generateToken and as the `Referer` header
    /// on every request (fact sheet §4A).
    pub referer: String,
    /// Upper bound of one HTTP attempt.
    pub request_timeout: Duration,
    /// Total budget of one logical call: token renewal, every attempt and
    /// every backoff.
    pub deadline: Duration,
    /// Attempts per request for transient failures (at least one).
    pub max_attempts: u32,
    /// Backoff ceiling after the first failure; doubles per attempt.
    pub base_backoff: Duration,
    /// Largest backoff ceiling.
    pub max_backoff: Duration,
    /// Requested token lifetime in minutes (the org may cap it).
    pub token_expiration_minutes: u32,
    /// How long a resolved group id is reused without asking again.
    pub group_cache_ttl: Duration,
    /// Clock for token expiry.
    pub clock: Clock,
    /// Extra certificate authorities (PEM) trusted besides the system's,
    /// e.g. `simulate-portal --tls`'s throw-away CA (`PORTAL_CA_FILE`).
    pub extra_root_pem: Option<String>,
    /// ArcGIS Online or an ArcGIS Enterprise portal (`PORTAL_FLAVOUR`). An
    /// Enterprise portal's admin API is found beside the sharing root:
    /// `…/sharing/rest` → `…/portaladmin`.
    pub flavour: PortalFlavour,
}

impl ArcGisConfig {
    /// Production values: 8 s per attempt, 20 s per call, 5 attempts,
    /// backoff 200 ms..3 s, 60-minute tokens, group ids cached 10 minutes.
    pub fn new(base_url: impl Into<String>, referer: impl Into<String>) -> Self {
        ArcGisConfig {
            base_url: base_url.into(),
            referer: referer.into(),
            request_timeout: Duration::from_secs(8),
            deadline: Duration::from_secs(20),
            max_attempts: 5,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(3),
            token_expiration_minutes: 60,
            group_cache_ttl: Duration::from_secs(600),
            clock: Clock::system(),
            extra_root_pem: None,
            flavour: PortalFlavour::Online,
        }
    }
}

/// The administrator account the client signs in with. Its `Debug` output
/// hides the password.
#[derive(Clone)]
pub struct Credentials {
    /// A built-in (ArcGIS-provider) administrator username.
    pub username: String,
    /// Its password (secret).
    pub password: String,
}

impl Credentials {
    /// Bundles a username and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where fresh administrator credentials come from when generateToken
/// refuses the ones held (the secret was rotated since the cold start):
/// the deployed function re-reads its secret.
pub type CredentialRefresh = std::sync::Arc<
    dyn Fn() -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Credentials, String>> + Send>,
        > + Send
        + Sync,
>;

/// The ArcGIS Online client. Cheap to share behind an `Arc`; one
/// `reqwest::Client` (connection pool) is reused for every call.
pub struct ArcGisPortal {
    transport: Transport,
    /// Replaced only by a [`CredentialRefresh`] after a refusal.
    credentials: std::sync::RwLock<Credentials>,
    refresh: Option<CredentialRefresh>,
    /// Sent as the `referer` field of generateToken.
    referer: String,
    /// Why a `tokio` mutex: renewal awaits an HTTP call while holding it, so
    /// concurrent callers wait for that one renewal instead of each starting
    /// their own (single flight).
    token: Mutex<Option<CachedToken>>,
    /// `portals/self.id`, read once.
    org_id: OnceCell<String>,
    /// Lower-cased trimmed group title → (id, when resolved).
    groups: Mutex<HashMap<String, (String, Instant)>>,
    deadline: Duration,
    token_expiration_minutes: u32,
    group_cache_ttl: Duration,
    clock: Clock,
    flavour: PortalFlavour,
    /// The admin API root (`…/portaladmin`) of an Enterprise portal.
    admin_root: Option<Url>,
}

impl fmt::Debug for ArcGisPortal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArcGisPortal")
            .field("transport", &self.transport)
            .field("credentials", &self.credentials())
            .finish_non_exhaustive()
    }
}

impl ArcGisPortal {
    /// Checks the configuration and builds the HTTP client. Fails with
    /// [`PortalError::Config`] when the base URL or referer is unusable
    /// (plain `http` is refused except on loopback, so the password never
    /// travels in clear text).
    pub fn new(config: ArcGisConfig, credentials: Credentials) -> Result<Self, PortalError> {
        let invalid = |what: String| PortalError::Config(what);
        let root = Url::parse(config.base_url.trim())
            .map_err(|e| invalid(format!("base_url is not a URL ({e})")))?;
        // Why: generateToken carries the password; only loopback test and
        // simulator servers may be reached without TLS.
        let scheme_ok = root.scheme() == "https" || (root.scheme() == "http" && is_loopback(&root));
        if !scheme_ok || root.cannot_be_a_base() {
            return Err(invalid(
                "base_url must be an https URL (http only for loopback hosts)".into(),
            ));
        }
        if root.query().is_some() || root.fragment().is_some() {
            return Err(invalid("base_url must not have a query or fragment".into()));
        }
        let admin_root = match config.flavour {
            PortalFlavour::Online => None,
            PortalFlavour::Enterprise => Some(enterprise::admin_root(&root).ok_or_else(|| {
                invalid(
                    "an ArcGIS Enterprise portal URL must end in /sharing/rest (its admin API is the sibling /portaladmin)"
                        .into(),
                )
            })?),
        };
        if config.referer.trim().is_empty() {
            return Err(invalid("referer is empty".into()));
        }
        let referer = HeaderValue::from_str(config.referer.trim())
            .map_err(|_| invalid("referer is not a valid header value".into()))?;
        if credentials.username.is_empty() || credentials.password.is_empty() {
            return Err(invalid(
                "administrator username or password is empty".into(),
            ));
        }
        let extra_roots = match &config.extra_root_pem {
            Some(pem) => {
                let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                    .map_err(|_| invalid("the extra CA is not a PEM certificate".into()))?;
                if certs.is_empty() {
                    return Err(invalid("the extra CA holds no certificate".into()));
                }
                certs
            }
            None => Vec::new(),
        };
        let client = reqwest::Client::builder()
            .tls_certs_merge(extra_roots)
            .connect_timeout(config.request_timeout)
            // Why: a redirect could carry the custom auth header to another
            // host (reqwest only strips the standard ones); the sharing API
            // does not redirect.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("agol-seat-broker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| invalid("the HTTP client could not be built".into()))?;
        let policy = RetryPolicy {
            request_timeout: config.request_timeout,
            max_attempts: config.max_attempts.max(1),
            base_backoff: config.base_backoff,
            max_backoff: config.max_backoff,
        };
        Ok(ArcGisPortal {
            transport: Transport::new(client, root, referer, policy),
            credentials: std::sync::RwLock::new(credentials),
            refresh: None,
            referer: config.referer.trim().to_string(),
            token: Mutex::new(None),
            org_id: OnceCell::new(),
            groups: Mutex::new(HashMap::new()),
            deadline: config.deadline,
            token_expiration_minutes: config.token_expiration_minutes.max(1),
            group_cache_ttl: config.group_cache_ttl,
            clock: config.clock,
            flavour: config.flavour,
            admin_root,
        })
    }

    /// The kind of portal this client administers.
    pub fn flavour(&self) -> PortalFlavour {
        self.flavour
    }

    /// One authenticated logical call: token, request with retries, and on
    /// 498/499 one renewal and one repeat, all inside the deadline.
    async fn call(&self, call: Call) -> Result<Value, PortalError> {
        let started = Instant::now();
        let deadline = started + self.deadline;
        let mut renewed = false;
        loop {
            let token = self.token(deadline).await?;
            match self
                .transport
                .send(&call, Some(&token), deadline, self.deadline)
                .await
            {
                Ok(v) => return Ok(v),
                Err(CallError::Portal(e)) => return Err(self.scrub(e, &[&token])),
                Err(CallError::TokenRefused(why)) => {
                    self.forget_token(&token).await;
                    // Why: one renewal covers an expired or revoked token; a
                    // fresh token refused again is a permissions problem
                    // that retrying cannot fix.
                    if renewed {
                        let e = PortalError::Auth(format!(
                            "{}: a freshly generated token was refused too ({why})",
                            call.path()
                        ));
                        return Err(self.scrub(e, &[&token]));
                    }
                    renewed = true;
                    debug!(path = %call.path(), "portal refused the token; renewing once");
                }
            }
        }
    }

    /// The cached token, or a new one when none is cached or it is about to
    /// lapse. Concurrent callers wait for a single renewal.
    async fn token(&self, deadline: Instant) -> Result<String, PortalError> {
        let mut slot = tokio::time::timeout_at(deadline, self.token.lock())
            .await
            .map_err(|_| {
                PortalError::Unavailable(format!(
                    "deadline of {} exceeded waiting for a token renewal",
                    fmt_duration(self.deadline)
                ))
            })?;
        let now = self.clock.now();
        if let Some(cached) = slot.as_ref()
            && cached.fresh_at(now)
        {
            return Ok(cached.value.clone());
        }
        debug!(
            reason = if slot.is_some() {
                "cached token about to lapse"
            } else {
                "no token cached"
            },
            "generating a portal token"
        );
        match self.generate_token(deadline).await {
            Ok(fresh) => {
                let value = fresh.value.clone();
                *slot = Some(fresh);
                Ok(value)
            }
            Err(e) => {
                // Why: a renewal that failed for a transient reason must not
                // stop calls while the old token still works.
                if let Some(cached) = slot.as_ref()
                    && e.is_transient()
                    && cached.valid_at(self.clock.now())
                {
                    debug!("token renewal failed; using the still-valid token");
                    return Ok(cached.value.clone());
                }
                Err(e)
            }
        }
    }

    /// Drops `bad` from the cache, unless another caller already replaced it.
    async fn forget_token(&self, bad: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.value == bad) {
            *slot = None;
        }
    }

    /// Re-reads the administrator's credentials with `refresh` when
    /// generateToken refuses the ones held (issue 13: a secret rotated after
    /// the cold start kept failing until the next one).
    pub fn with_credential_refresh(mut self, refresh: CredentialRefresh) -> Self {
        self.refresh = Some(refresh);
        self
    }

    /// The credentials held now.
    fn credentials(&self) -> Credentials {
        match self.credentials.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// `POST generateToken` (fact sheet §4A); once refused, the
    /// credentials are re-read (when a refresh is set) and, if they
    /// changed, tried once more.
    async fn generate_token(&self, deadline: Instant) -> Result<CachedToken, PortalError> {
        let held = self.credentials();
        let first = self.generate_token_with(&held, deadline).await;
        let (Err(PortalError::Auth(_)), Some(refresh)) = (&first, &self.refresh) else {
            return first;
        };
        let fresh = match refresh().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("re-reading the administrator credentials failed: {e}");
                return first;
            }
        };
        if fresh.username == held.username && fresh.password == held.password {
            return first;
        }
        tracing::info!("the administrator credentials changed; signing in again with them");
        match self.credentials.write() {
            Ok(mut c) => *c = fresh.clone(),
            Err(poisoned) => *poisoned.into_inner() = fresh.clone(),
        }
        self.generate_token_with(&fresh, deadline).await
    }

    async fn generate_token_with(
        &self,
        credentials: &Credentials,
        deadline: Instant,
    ) -> Result<CachedToken, PortalError> {
        let call = Call::post(
            &["generateToken"],
            vec![
                ("username", credentials.username.clone()),
                ("password", credentials.password.clone()),
                ("client", "referer".into()),
                ("referer", self.referer.clone()),
                ("expiration", self.token_expiration_minutes.to_string()),
            ],
        );
        let refused = |why: String| {
            PortalError::Auth(format!(
                "generateToken refused the credentials of {}: {why}",
                credentials.username
            ))
        };
        let value = match self
            .transport
            .send(&call, None, deadline, self.deadline)
            .await
        {
            Ok(v) => v,
            Err(CallError::TokenRefused(why)) => return Err(self.scrub(refused(why), &[])),
            Err(CallError::Portal(PortalError::Rejected { code, message })) => {
                return Err(self.scrub(refused(format!("{code} {message}")), &[]));
            }
            Err(CallError::Portal(e)) => return Err(self.scrub(e, &[])),
        };
        // Deliberately no serde message here: it could quote the token.
        let parsed: TokenResponse = serde_json::from_value(value).map_err(|_| {
            PortalError::Protocol("generateToken answered with an unexpected shape".into())
        })?;
        let token = parsed.token.filter(|t| !t.is_empty()).ok_or_else(|| {
            PortalError::Protocol("generateToken answered without a token".into())
        })?;
        let now = self.clock.now();
        let expires = parsed
            .expires
            .unwrap_or(now + i64::from(self.token_expiration_minutes) * 60_000);
        Ok(CachedToken::new(token, expires, now))
    }

    /// Replaces the password and any given token in an error's text, in case
    /// the portal echoed one back.
    fn scrub(&self, e: PortalError, tokens: &[&str]) -> PortalError {
        let held = self.credentials();
        let mut secrets: Vec<&str> = vec![held.password.as_str()];
        secrets.extend_from_slice(tokens);
        scrub_error(e, &secrets)
    }
}

/// A username or group id that goes into the URL path as one segment.
/// `.`/`..` would be dropped from the URL and address another resource, and
/// an empty one another endpoint; nothing by those names can exist.
fn path_segment<'a>(value: &'a str, what: &str) -> Result<&'a str, PortalError> {
    if matches!(value.trim(), "" | "." | "..") {
        return Err(PortalError::Rejected {
            code: "invalid_argument".into(),
            message: format!("{what} {value:?} cannot name a portal resource"),
        });
    }
    Ok(value)
}

/// Reads a JSON answer into its wire shape.
fn decode<T: DeserializeOwned>(v: Value, what: &str) -> Result<T, PortalError> {
    serde_json::from_value(v).map_err(|e| {
        PortalError::Protocol(format!("{what} answered with an unexpected shape: {e}"))
    })
}

/// The outcome of an answer's `success` flag: `true` is done, `false` is
/// `refused()`, absent is a protocol error naming the operation (`what`).
fn succeeded(
    success: Option<bool>,
    what: &str,
    refused: impl FnOnce() -> PortalError,
) -> Result<(), PortalError> {
    match success {
        Some(true) => Ok(()),
        Some(false) => Err(refused()),
        None => Err(PortalError::Protocol(format!(
            "{what} answered without success"
        ))),
    }
}

/// The entry of a per-user answer list that names `username` (`name` reads
/// an entry's name; compared without regard to case), else the only entry
/// when there is exactly one.
fn entry_for<'a, T>(
    entries: &'a [T],
    username: &str,
    name: impl Fn(&T) -> Option<&str>,
) -> Option<&'a T> {
    entries
        .iter()
        .find(|e| name(e).is_some_and(|n| n.eq_ignore_ascii_case(username)))
        .or(if entries.len() == 1 {
            entries.first()
        } else {
            None
        })
}

/// Replaces every non-empty secret in the error's text with `<redacted>`.
fn scrub_error(e: PortalError, secrets: &[&str]) -> PortalError {
    let clean = |s: String| {
        secrets
            .iter()
            .filter(|s| !s.is_empty())
            .fold(s, |acc, secret| acc.replace(secret, "<redacted>"))
    };
    match e {
        PortalError::Unavailable(m) => PortalError::Unavailable(clean(m)),
        PortalError::Unanswered(m) => PortalError::Unanswered(clean(m)),
        PortalError::Auth(m) => PortalError::Auth(clean(m)),
        PortalError::Rejected { code, message } => PortalError::Rejected {
            code: clean(code),
            message: clean(message),
        },
        PortalError::Protocol(m) => PortalError::Protocol(clean(m)),
        PortalError::Config(m) => PortalError::Config(clean(m)),
        e @ PortalError::NotInvited { .. } => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = Credentials::new("admin_acme", "hunter2-secret");
        let shown = format!("{c:?}");
        assert!(shown.contains("admin_acme"));
        assert!(!shown.contains("hunter2-secret"));
    }

    #[test]
    fn plain_http_is_refused_for_remote_hosts_and_allowed_on_loopback() {
        let creds = Credentials::new("admin_acme", "pw-123456");
        let remote = ArcGisConfig::new("http://myorg.maps.arcgis.com/sharing/rest", "r");
        assert!(ArcGisPortal::new(remote, creds.clone()).is_err());
        let local = ArcGisConfig::new("http://127.0.0.1:9/sharing/rest", "r");
        assert!(ArcGisPortal::new(local, creds.clone()).is_ok());
        let tls = ArcGisConfig::new("https://myorg.maps.arcgis.com/sharing/rest/", "r");
        assert!(ArcGisPortal::new(tls, creds).is_ok());
    }

    #[test]
    fn scrubbing_removes_secrets_from_every_message() {
        let e = PortalError::Rejected {
            code: "400".into(),
            message: "bad password pw-123456 for token tok-abc".into(),
        };
        let shown = scrub_error(e, &["pw-123456", "tok-abc"]).to_string();
        assert!(!shown.contains("pw-123456") && !shown.contains("tok-abc"));
    }
}

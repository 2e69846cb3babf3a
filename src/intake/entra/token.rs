//! Validation of the bearer token Entra sends to a custom authentication
//! extension: an RS256 JWT signed by the tenant, checked against the
//! tenant's JWKS (fetched over HTTP, cached by `kid` with a TTL, refreshed
//! at most once per interval on an unknown `kid`), then `iss`, `aud`,
//! `azp`/`appid`, `exp` and `nbf` against a passed-in clock.
//!
//! Nothing here logs or returns the token. Every refusal is a
//! [`TokenRejection`] whose text names only the reason; it becomes
//! [`IntakeError::MissingHeader`] or [`IntakeError::BadSignature`] (401).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::domain::UnixMillis;
use crate::intake::IntakeError;

/// The app id Entra's custom-extension service uses as `azp` (v2 tokens) or
/// `appid` (v1 tokens) when it calls an extension.
pub const ENTRA_SERVICE_APP_ID: &str = "99045fe1-7639-4a75-9d4a-577b6ca3810f";

/// Longest `Authorization` value considered (Entra tokens are ~1.5 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Default clock-skew allowance for `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// What a custom-extension token must say to be accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntraConfig {
    /// The tenant's JWKS, e.g.
    /// `https://{tenant}.ciamlogin.com/{tenantId}/discovery/v2.0/keys`.
    /// Must be `https`, except on a loopback host (tests, local runs).
    pub jwks_url: String,
    /// The exact expected `iss`, e.g.
    /// `https://{tenant}.ciamlogin.com/{tenantId}/v2.0`.
    pub issuer: String,
    /// Accepted `aud` values: the custom-extension app registration's app id
    /// and/or its identifier URI (`api://{fqdn}/{appId}`). One match suffices.
    pub audience: Vec<String>,
    /// Accepted `azp` (v2) / `appid` (v1) values; by default only
    /// [`ENTRA_SERVICE_APP_ID`].
    pub allowed_azp: Vec<String>,
    /// Clock-skew allowance for `exp` and `nbf`.
    pub leeway: Duration,
}

impl EntraConfig {
    /// A configuration with the default `allowed_azp` and leeway.
    pub fn new(
        jwks_url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        EntraConfig {
            jwks_url: jwks_url.into(),
            issuer: issuer.into(),
            audience: vec![audience.into()],
            allowed_azp: vec![ENTRA_SERVICE_APP_ID.to_string()],
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// Checks the configuration; the message names the problem, never a
    /// token.
    pub fn validate(&self) -> Result<(), String> {
        let url = url::Url::parse(self.jwks_url.trim())
            .map_err(|_| "entra: jwks_url is not a valid URL".to_string())?;
        let loopback = matches!(
            url.host(),
            Some(url::Host::Domain("localhost"))
                | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
                | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
        );
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err("entra: jwks_url must use https".to_string());
        }
        if self.issuer.trim().is_empty() {
            return Err("entra: issuer is empty".to_string());
        }
        if self.audience.iter().all(|a| a.trim().is_empty()) {
            return Err("entra: audience is empty".to_string());
        }
        if self.allowed_azp.iter().all(|a| a.trim().is_empty()) {
            return Err("entra: allowed_azp is empty".to_string());
        }
        Ok(())
    }
}

/// How the JWKS is fetched and cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JwksPolicy {
    /// How long fetched keys are trusted before the next token triggers a
    /// refresh.
    pub cache_ttl: Duration,
    /// Least time between two fetches, whatever the reason (expiry, unknown
    /// `kid`, failure): a flood of tokens with made-up `kid`s costs at most
    /// one fetch per interval.
    pub min_refresh_interval: Duration,
    /// Whole-request timeout of one fetch (Entra waits about 2 s in all).
    pub fetch_timeout: Duration,
    /// Largest JWKS document accepted.
    pub max_bytes: usize,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        JwksPolicy {
            cache_ttl: Duration::from_secs(3600),
            min_refresh_interval: Duration::from_secs(30),
            fetch_timeout: Duration::from_millis(1500),
            max_bytes: 256 * 1024,
        }
    }
}

/// The checked claims of an accepted token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// `iss`.
    pub issuer: String,
    /// The `aud` value that matched the configuration.
    pub audience: String,
    /// `azp` (v2) or `appid` (v1).
    pub authorized_party: String,
    /// `sub`, if present.
    pub subject: Option<String>,
    /// `tid`, if present.
    pub tenant_id: Option<String>,
    /// `ver` (`1.0` or `2.0`), if present.
    pub version: Option<String>,
    /// `iat` (Unix seconds), if present.
    pub issued_at: Option<i64>,
    /// `nbf` (Unix seconds).
    pub not_before: i64,
    /// `exp` (Unix seconds).
    pub expires_at: i64,
}

/// Why a token was refused. The text names the reason only.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    MissingHeader,
    /// The header is not `Bearer <token>`.
    #[error("Authorization is not a bearer token")]
    NotBearer,
    /// Not a well-formed JWS compact token (or oversized).
    #[error("malformed token")]
    Malformed,
    /// `alg` is not `RS256` (`none`, `HS256`, …).
    #[error("token algorithm not allowed")]
    Algorithm,
    /// The header has no usable `kid`.
    #[error("token has no key id")]
    MissingKeyId,
    /// The `kid` is not in the tenant's JWKS, even after a refresh.
    #[error("token signed with an unknown key")]
    UnknownKey,
    /// The JWKS could not be fetched and no key is cached.
    #[error("signing keys unavailable")]
    KeysUnavailable,
    /// The signature does not verify.
    #[error("token signature does not verify")]
    Signature,
    /// A required claim is absent or has the wrong type.
    #[error("token lacks claim {0}")]
    MissingClaim(&'static str),
    /// `iss` is not the configured issuer.
    #[error("token issuer not accepted")]
    Issuer,
    /// No `aud` value is configured.
    #[error("token audience not accepted")]
    Audience,
    /// `azp`/`appid` is not an allowed caller.
    #[error("token authorized party not accepted")]
    AuthorizedParty,
    /// `exp` has passed (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
}

impl From<TokenRejection> for IntakeError {
    fn from(r: TokenRejection) -> Self {
        match r {
            TokenRejection::MissingHeader => IntakeError::MissingHeader("authorization"),
            _ => IntakeError::BadSignature,
        }
    }
}

/// The keys last fetched, and when.
#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    /// When the current `keys` were fetched.
    fetched_at: Option<UnixMillis>,
    /// When a fetch was last attempted (successful or not).
    last_attempt: Option<UnixMillis>,
}

impl KeyCache {
    fn is_fresh(&self, now: UnixMillis, ttl: Duration) -> bool {
        // Concurrent requests read the clock before waiting for a fetch, so
        // `now` may be slightly before `fetched_at`: that still counts.
        self.fetched_at
            .is_some_and(|at| now.saturating_sub(at) < millis(ttl))
    }

    fn may_fetch(&self, now: UnixMillis, interval: Duration) -> bool {
        match self.last_attempt {
            None => true,
            // Either direction: a clock that went far backwards must not
            // block refreshes forever.
            Some(at) => now.saturating_sub(at).unsigned_abs() >= millis(interval).unsigned_abs(),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Verifies Entra custom-extension tokens. Holds the configuration, one HTTP
/// client and the key cache; share one per process (e.g. in an `Arc`).
pub struct EntraVerifier {
    config: EntraConfig,
    policy: JwksPolicy,
    client: reqwest::Client,
    cache: RwLock<KeyCache>,
    /// Serialises fetches so concurrent misses cause one request.
    refresh_gate: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for EntraVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraVerifier")
            .field("config", &self.config)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl EntraVerifier {
    /// A verifier with the default [`JwksPolicy`].
    pub fn new(config: EntraConfig) -> Result<Self, String> {
        Self::with_policy(config, JwksPolicy::default())
    }

    /// A verifier with an explicit cache / fetch policy.
    pub fn with_policy(config: EntraConfig, policy: JwksPolicy) -> Result<Self, String> {
        config.validate()?;
        // Why: jsonwebtoken panics at first use if its provider cannot be
        // chosen from features (e.g. another crate enables `rust_crypto`
        // too). Installing ours explicitly removes that failure mode; an
        // `Err` only means one is installed already.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        );
        let client = reqwest::Client::builder()
            .timeout(policy.fetch_timeout)
            .connect_timeout(policy.fetch_timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("agol-seat-broker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| "entra: the HTTP client could not be built".to_string())?;
        Ok(EntraVerifier {
            config,
            policy,
            client,
            cache: RwLock::new(KeyCache::default()),
            refresh_gate: tokio::sync::Mutex::new(()),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &EntraConfig {
        &self.config
    }

    /// Verifies an `Authorization` header value at time `now`: 401-class
    /// [`IntakeError`]s only. Logs the reason of a refusal, never the token.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        now: UnixMillis,
    ) -> Result<Claims, IntakeError> {
        self.check(authorization, now).await.map_err(|reason| {
            tracing::info!(%reason, "entra token refused");
            IntakeError::from(reason)
        })
    }

    /// Like [`EntraVerifier::verify`], with the precise reason of a refusal.
    pub async fn check(
        &self,
        authorization: Option<&str>,
        now: UnixMillis,
    ) -> Result<Claims, TokenRejection> {
        let raw = authorization
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(TokenRejection::MissingHeader)?;
        if raw.len() > MAX_TOKEN_BYTES {
            return Err(TokenRejection::Malformed);
        }
        let (scheme, token) = raw.split_once(' ').ok_or(TokenRejection::NotBearer)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(TokenRejection::NotBearer);
        }
        let token = token.trim();
        let kid = header_kid(token)?;
        let key = self.key_for(&kid, now).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        // Time, issuer and audience are checked below against our own
        // clock and rules; the library checks the algorithm and signature.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::InvalidSignature => TokenRejection::Signature,
                    ErrorKind::InvalidAlgorithm => TokenRejection::Algorithm,
                    _ => TokenRejection::Malformed,
                }
            })?;
        check_claims(&data.claims, &self.config, now)
    }

    /// The key for `kid`, refreshing the JWKS when the cache is stale or the
    /// `kid` unknown, at most once per `min_refresh_interval`.
    async fn key_for(&self, kid: &str, now: UnixMillis) -> Result<DecodingKey, TokenRejection> {
        if let Some(key) = self.fresh(kid, now) {
            return Ok(key);
        }
        // Every other case decides under the gate, so a request arriving
        // while a fetch is in flight waits for its result instead of being
        // refused.
        let _gate = self.refresh_gate.lock().await;
        if let Some(hit) = self.cached(kid, now, false) {
            return hit;
        }
        self.write_cache().last_attempt = Some(now);
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "entra JWKS fetched");
                let mut cache = self.write_cache();
                cache.keys = keys;
                cache.fetched_at = Some(now);
            }
            Err(reason) => tracing::warn!(%reason, "entra JWKS fetch failed"),
        }
        self.cached(kid, now, true)
            .unwrap_or(Err(TokenRejection::UnknownKey))
    }

    /// The cached key for `kid`, if the cache is fresh.
    fn fresh(&self, kid: &str, now: UnixMillis) -> Option<DecodingKey> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        if cache.is_fresh(now, self.policy.cache_ttl) {
            cache.keys.get(kid).cloned()
        } else {
            None
        }
    }

    /// `Some(answer)` when the cache can answer without fetching: a fresh
    /// hit, or (when a fetch is not allowed now, or `after_fetch`) whatever
    /// is cached. `None` means "fetch".
    fn cached(
        &self,
        kid: &str,
        now: UnixMillis,
        after_fetch: bool,
    ) -> Option<Result<DecodingKey, TokenRejection>> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let hit = cache.keys.get(kid).cloned();
        if hit.is_some() && cache.is_fresh(now, self.policy.cache_ttl) {
            return hit.map(Ok);
        }
        if after_fetch || !cache.may_fetch(now, self.policy.min_refresh_interval) {
            // Rate-limited: serve a stale key rather than nothing.
            return Some(hit.ok_or(if cache.fetched_at.is_none() {
                TokenRejection::KeysUnavailable
            } else {
                TokenRejection::UnknownKey
            }));
        }
        None
    }

    fn write_cache(&self) -> std::sync::RwLockWriteGuard<'_, KeyCache> {
        self.cache.write().unwrap_or_else(|p| p.into_inner())
    }

    /// One JWKS request: the usable RS256 keys by `kid`.
    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let mut resp = self
            .client
            .get(self.config.jwks_url.trim())
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("status {}", resp.status()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > self.policy.max_bytes as u64)
        {
            return Err("document too large".to_string());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("read failed: {e}"))?
        {
            if body.len() + chunk.len() > self.policy.max_bytes {
                return Err("document too large".to_string());
            }
            body.extend_from_slice(&chunk);
        }
        let keys = parse_jwks(&body)?;
        if keys.is_empty() {
            return Err("no usable RS256 signing key".to_string());
        }
        Ok(keys)
    }
}

/// Most keys kept from one JWKS document.
const MAX_KEYS: usize = 64;

/// The usable keys of a JWKS document: `kty` RSA, a `kid`, `use` absent or
/// `sig`, `alg` absent or `RS256`. Others are skipped.
pub fn parse_jwks(body: &[u8]) -> Result<HashMap<String, DecodingKey>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "not JSON".to_string())?;
    let entries = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| "no keys array".to_string())?;
    let mut keys = HashMap::new();
    for jwk in entries {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        if text("kty") != Some("RSA")
            || !matches!(text("use"), None | Some("sig"))
            || !matches!(text("alg"), None | Some("RS256"))
        {
            continue;
        }
        let (Some(kid), Some(n), Some(e)) = (text("kid"), text("n"), text("e")) else {
            continue;
        };
        if kid.is_empty() || kid.len() > 256 {
            continue;
        }
        if let Ok(key) = DecodingKey::from_rsa_components(n, e) {
            keys.insert(kid.to_string(), key);
        }
        if keys.len() >= MAX_KEYS {
            break;
        }
    }
    Ok(keys)
}

/// Reads the JOSE header without trusting it: the token must be three
/// base64url parts, `alg` exactly `RS256`, and `kid` a short string.
fn header_kid(token: &str) -> Result<String, TokenRejection> {
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRejection::Malformed);
    };
    let bytes = B64URL.decode(head).map_err(|_| TokenRejection::Malformed)?;
    let header: Value = serde_json::from_slice(&bytes).map_err(|_| TokenRejection::Malformed)?;
    let header = header.as_object().ok_or(TokenRejection::Malformed)?;
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(TokenRejection::Algorithm);
    }
    // `crit` names extensions we would have to understand: we understand none.
    if header.contains_key("crit") {
        return Err(TokenRejection::Malformed);
    }
    match header.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() && kid.len() <= 256 => Ok(kid.to_string()),
        _ => Err(TokenRejection::MissingKeyId),
    }
}

/// Checks the signed claims against the configuration and `now`.
fn check_claims(
    claims: &Map<String, Value>,
    config: &EntraConfig,
    now: UnixMillis,
) -> Result<Claims, TokenRejection> {
    let text = |name: &'static str| claims.get(name).and_then(Value::as_str);
    let number = |name: &'static str| {
        claims.get(name).and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
        })
    };

    let issuer = text("iss").ok_or(TokenRejection::MissingClaim("iss"))?;
    if issuer != config.issuer.trim() {
        return Err(TokenRejection::Issuer);
    }

    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if audiences.is_empty() {
        return Err(TokenRejection::MissingClaim("aud"));
    }
    let audience = audiences
        .iter()
        .find(|a| {
            config
                .audience
                .iter()
                .any(|c| !c.is_empty() && c.trim() == **a)
        })
        .ok_or(TokenRejection::Audience)?;

    // v2 tokens carry `azp`, v1 tokens `appid`; each one present must be
    // allowed, and one must be present.
    let parties: Vec<&str> = [text("azp"), text("appid")].into_iter().flatten().collect();
    if parties.is_empty() {
        return Err(TokenRejection::MissingClaim("azp"));
    }
    let allowed = |p: &str| {
        config
            .allowed_azp
            .iter()
            .any(|a| !a.is_empty() && a.trim() == p)
    };
    if !parties.iter().all(|p| allowed(p)) {
        return Err(TokenRejection::AuthorizedParty);
    }

    let expires_at = number("exp").ok_or(TokenRejection::MissingClaim("exp"))?;
    let not_before = number("nbf").ok_or(TokenRejection::MissingClaim("nbf"))?;
    let now_secs = now.div_euclid(1000);
    let leeway = i64::try_from(config.leeway.as_secs()).unwrap_or(i64::MAX);
    if now_secs >= expires_at.saturating_add(leeway) {
        return Err(TokenRejection::Expired);
    }
    if now_secs.saturating_add(leeway) < not_before {
        return Err(TokenRejection::NotYetValid);
    }

    Ok(Claims {
        issuer: issuer.to_string(),
        audience: audience.to_string(),
        authorized_party: parties[0].to_string(),
        subject: text("sub").map(str::to_string),
        tenant_id: text("tid").map(str::to_string),
        version: text("ver").map(str::to_string),
        issued_at: number("iat"),
        not_before,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EntraConfig {
        EntraConfig::new(
            "https://example.ciamlogin.com/t/discovery/v2.0/keys",
            "https://example.ciamlogin.com/t/v2.0",
            "app-id",
        )
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn base() -> Value {
        serde_json::json!({
            "iss": "https://example.ciamlogin.com/t/v2.0", "aud": "app-id",
            "azp": ENTRA_SERVICE_APP_ID, "exp": 2000, "nbf": 1000, "ver": "2.0"
        })
    }

    #[test]
    fn claims_inside_the_window_are_accepted() {
        let c = check_claims(&claims(base()), &config(), 1_500_000).unwrap();
        assert_eq!(c.audience, "app-id");
        assert_eq!(c.authorized_party, ENTRA_SERVICE_APP_ID);
        assert_eq!((c.not_before, c.expires_at), (1000, 2000));
    }

    #[test]
    fn the_leeway_applies_to_both_ends() {
        let cfg = config();
        assert!(check_claims(&claims(base()), &cfg, 2_059_000).is_ok());
        assert_eq!(
            check_claims(&claims(base()), &cfg, 2_060_000),
            Err(TokenRejection::Expired)
        );
        assert!(check_claims(&claims(base()), &cfg, 940_000).is_ok());
        assert_eq!(
            check_claims(&claims(base()), &cfg, 939_000),
            Err(TokenRejection::NotYetValid)
        );
    }

    #[test]
    fn a_v1_appid_counts_and_a_mismatching_one_is_refused() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("azp");
        v["appid"] = ENTRA_SERVICE_APP_ID.into();
        assert!(check_claims(&claims(v.clone()), &config(), 1_500_000).is_ok());
        v["azp"] = "someone-else".into();
        assert_eq!(
            check_claims(&claims(v), &config(), 1_500_000),
            Err(TokenRejection::AuthorizedParty)
        );
    }

    #[test]
    fn an_audience_array_matches_on_any_member() {
        let mut v = base();
        v["aud"] = serde_json::json!(["other", "app-id"]);
        assert_eq!(
            check_claims(&claims(v), &config(), 1_500_000)
                .unwrap()
                .audience,
            "app-id"
        );
    }

    #[test]
    fn each_missing_claim_is_named() {
        for name in ["iss", "aud", "azp", "exp", "nbf"] {
            let mut v = base();
            v.as_object_mut().unwrap().remove(name);
            assert_eq!(
                check_claims(&claims(v), &config(), 1_500_000),
                Err(TokenRejection::MissingClaim(name))
            );
        }
    }

    #[test]
    fn headers_other_than_rs256_with_a_kid_are_refused() {
        let enc = |h: &str| format!("{}.e30.c2ln", B64URL.encode(h));
        assert_eq!(
            header_kid(&enc(r#"{"alg":"RS256","kid":"k1"}"#)),
            Ok("k1".into())
        );
        for (h, want) in [
            (r#"{"alg":"none","kid":"k1"}"#, TokenRejection::Algorithm),
            (r#"{"alg":"HS256","kid":"k1"}"#, TokenRejection::Algorithm),
            (r#"{"alg":"rs256","kid":"k1"}"#, TokenRejection::Algorithm),
            (r#"{"alg":"RS256"}"#, TokenRejection::MissingKeyId),
            (r#"{"alg":"RS256","kid":""}"#, TokenRejection::MissingKeyId),
            (
                r#"{"alg":"RS256","kid":"k","crit":["b64"]}"#,
                TokenRejection::Malformed,
            ),
            ("[]", TokenRejection::Malformed),
        ] {
            assert_eq!(header_kid(&enc(h)), Err(want), "{h}");
        }
        assert_eq!(header_kid("a.b"), Err(TokenRejection::Malformed));
        assert_eq!(header_kid("a.b.c.d"), Err(TokenRejection::Malformed));
    }

    #[test]
    fn config_needs_https_except_on_loopback() {
        assert!(config().validate().is_ok());
        let mut c = config();
        c.jwks_url = "http://login.example.com/keys".into();
        assert!(c.validate().is_err());
        c.jwks_url = "http://127.0.0.1:8080/keys".into();
        assert!(c.validate().is_ok());
        c.audience = vec![];
        assert!(c.validate().is_err());
    }

    #[test]
    fn jwks_entries_that_are_not_rs256_signing_keys_are_skipped() {
        let n = B64URL.encode([0xC5u8; 256]);
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "good", "use": "sig", "n": n, "e": "AQAB", "x5c": ["..."]},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": "AQAB"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "badn", "n": "!!", "e": "AQAB"},
            "junk"
        ]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["good"]);
        assert!(parse_jwks(b"[]").is_err());
        assert!(parse_jwks(b"nope").is_err());
    }

    // ---- Pins of a cargo-mutants run of this file (issue 13) ----

    #[test]
    fn only_a_missing_header_is_a_missing_header_every_other_refusal_is_401_bad_signature() {
        assert_eq!(
            IntakeError::from(TokenRejection::MissingHeader),
            IntakeError::MissingHeader("authorization")
        );
        for r in [
            TokenRejection::NotBearer,
            TokenRejection::UnknownKey,
            TokenRejection::Signature,
            TokenRejection::Expired,
        ] {
            assert_eq!(IntakeError::from(r), IntakeError::BadSignature);
        }
    }

    #[test]
    fn cached_keys_are_fresh_strictly_inside_the_ttl() {
        let ttl = Duration::from_secs(10);
        let mut cache = KeyCache::default();
        assert!(!cache.is_fresh(5_000, ttl), "never fetched");
        cache.fetched_at = Some(5_000);
        assert!(cache.is_fresh(5_000, ttl));
        assert!(cache.is_fresh(14_999, ttl));
        assert!(!cache.is_fresh(15_000, ttl));
        // A clock read just before a concurrent fetch finished still counts.
        assert!(cache.is_fresh(4_000, ttl));
    }

    #[test]
    fn a_fetch_is_allowed_once_the_interval_has_passed_either_way() {
        let interval = Duration::from_secs(30);
        let mut cache = KeyCache::default();
        assert!(cache.may_fetch(5_000, interval), "never attempted");
        cache.last_attempt = Some(100_000);
        assert!(!cache.may_fetch(100_000, interval));
        assert!(!cache.may_fetch(129_999, interval));
        assert!(cache.may_fetch(130_000, interval));
        assert!(!cache.may_fetch(70_001, interval));
        // A clock gone back by the interval or more does not block refreshes.
        assert!(cache.may_fetch(70_000, interval));
    }

    #[test]
    fn durations_become_milliseconds_saturating() {
        assert_eq!(millis(Duration::from_millis(1_500)), 1_500);
        assert_eq!(millis(Duration::ZERO), 0);
        assert_eq!(millis(Duration::MAX), i64::MAX);
    }

    #[test]
    fn jwks_kid_lengths_and_the_key_count_are_bounded() {
        let n = B64URL.encode([0xC5u8; 256]);
        let key = |kid: &str| serde_json::json!({"kty": "RSA", "kid": kid, "n": n, "e": "AQAB"});
        let long = "k".repeat(256);
        let too_long = "k".repeat(257);
        let doc = serde_json::json!({"keys": [
            key(""), key(&long), key(&too_long), key("a"), key("b"),
            {"kty": "RSA", "kid": "rs384", "alg": "RS384", "n": n, "e": "AQAB"},
        ]});
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
        kids.sort();
        assert_eq!(kids, vec!["a", "b", long.as_str()]);

        let many: Vec<Value> = (0..65).map(|i| key(&format!("k{i}"))).collect();
        let doc = serde_json::json!({ "keys": many });
        assert_eq!(parse_jwks(doc.to_string().as_bytes()).unwrap().len(), 64);
    }

    /// Over real HTTP: a JWKS endpoint on 127.0.0.1:0 serving the TEST-ONLY
    /// keys of `tests/fixtures/entra/`, and tokens minted with them.
    mod live {
        use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering::SeqCst};
        use std::sync::{Arc, Mutex};

        use base64::engine::general_purpose::STANDARD as B64;
        use jsonwebtoken::{EncodingKey, Header};
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        use super::*;

        /// 2026-03-02T09:30:00Z, in milliseconds.
        const NOW: UnixMillis = 1_772_443_800_000;

        fn fixture(name: &str) -> String {
            let path = format!("{}/tests/fixtures/entra/{name}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        }

        /// `Bearer <token>` for valid claims at [`NOW`], signed with test key
        /// `key` and naming `kid`.
        fn bearer(key: u8, kid: &str) -> String {
            let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
                &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
            );
            let pem = fixture(&format!("test-key-{key}.pem"));
            let der: String = pem
                .lines()
                .skip_while(|l| !l.starts_with("-----BEGIN"))
                .filter(|l| !l.starts_with("-----"))
                .collect();
            let signing = EncodingKey::from_rsa_der(&B64.decode(der).unwrap());
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some(kid.to_string());
            let now_s = NOW / 1000;
            let claims = serde_json::json!({
                "iss": "https://example.ciamlogin.com/t/v2.0", "aud": "app-id",
                "azp": ENTRA_SERVICE_APP_ID, "nbf": now_s - 5, "exp": now_s + 300,
            });
            format!(
                "Bearer {}",
                jsonwebtoken::encode(&header, &claims, &signing).unwrap()
            )
        }

        /// A JWKS document publishing test key `n` under `kid`, for each pair.
        fn jwks(keys: &[(u8, &str)]) -> String {
            let keys: Vec<Value> = keys
                .iter()
                .map(|(n, kid)| {
                    let mut jwk: Value =
                        serde_json::from_str(&fixture(&format!("test-key-{n}.jwk.json"))).unwrap();
                    let o = jwk.as_object_mut().unwrap();
                    o.remove("_comment");
                    o.insert("kid".into(), (*kid).into());
                    jwk
                })
                .collect();
            serde_json::json!({ "keys": keys }).to_string()
        }

        struct Endpoint {
            doc: Mutex<String>,
            status: AtomicU16,
            /// Answer without Content-Length, the body in two writes.
            unframed: AtomicBool,
            /// While set, a request waits for `release` before its answer.
            hold: AtomicBool,
            release: tokio::sync::Notify,
            hits: AtomicUsize,
        }

        impl Endpoint {
            fn hits(&self) -> usize {
                self.hits.load(SeqCst)
            }
        }

        /// Serves `doc` on 127.0.0.1:0; the URL is that of the keys.
        async fn serve(doc: String) -> (Arc<Endpoint>, String) {
            let endpoint = Arc::new(Endpoint {
                doc: Mutex::new(doc),
                status: AtomicU16::new(200),
                unframed: AtomicBool::new(false),
                hold: AtomicBool::new(false),
                release: tokio::sync::Notify::new(),
                hits: AtomicUsize::new(0),
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/keys", listener.local_addr().unwrap());
            let state = endpoint.clone();
            tokio::spawn(async move {
                while let Ok((mut conn, _)) = listener.accept().await {
                    let ep = state.clone();
                    tokio::spawn(async move {
                        let mut head = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                            match conn.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                        }
                        ep.hits.fetch_add(1, SeqCst);
                        if ep.hold.load(SeqCst) {
                            ep.release.notified().await;
                        }
                        let doc = ep.doc.lock().unwrap().clone();
                        let status = ep.status.load(SeqCst);
                        let start = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\nconnection: close\r\n"
                        );
                        if ep.unframed.load(SeqCst) {
                            let (a, b) = doc.as_bytes().split_at(doc.len() / 2);
                            let _ = conn.write_all(format!("{start}\r\n").as_bytes()).await;
                            let _ = conn.write_all(a).await;
                            let _ = conn.flush().await;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            let _ = conn.write_all(b).await;
                        } else {
                            let head = format!("{start}content-length: {}\r\n\r\n", doc.len());
                            let _ = conn.write_all(head.as_bytes()).await;
                            let _ = conn.write_all(doc.as_bytes()).await;
                        }
                        let _ = conn.shutdown().await;
                    });
                }
            });
            (endpoint, url)
        }

        fn verifier(url: &str, policy: JwksPolicy) -> EntraVerifier {
            let mut config = config();
            config.jwks_url = url.to_string();
            EntraVerifier::with_policy(config, policy).unwrap()
        }

        #[tokio::test]
        async fn a_token_verifies_against_the_fetched_key_and_one_from_another_key_does_not() {
            let (endpoint, url) = serve(jwks(&[(1, "k1")])).await;
            let v = verifier(&url, JwksPolicy::default());
            let claims = v.check(Some(&bearer(1, "k1")), NOW).await.unwrap();
            assert_eq!(claims.audience, "app-id");
            assert_eq!(claims.authorized_party, ENTRA_SERVICE_APP_ID);
            assert!(v.verify(Some(&bearer(1, "k1")), NOW).await.is_ok());
            assert_eq!(endpoint.hits(), 1, "the key is cached");
            // Test key 2 under the published kid: the signature fails.
            assert_eq!(
                v.check(Some(&bearer(2, "k1")), NOW).await,
                Err(TokenRejection::Signature)
            );
            assert_eq!(
                v.verify(Some(&bearer(2, "k1")), NOW).await,
                Err(IntakeError::BadSignature)
            );
            assert_eq!(
                v.verify(None, NOW).await,
                Err(IntakeError::MissingHeader("authorization"))
            );
        }

        #[tokio::test]
        async fn the_authorization_value_is_read_before_any_fetch() {
            let (endpoint, url) = serve(jwks(&[(1, "k1")])).await;
            let v = verifier(&url, JwksPolicy::default());
            for blank in [None, Some(""), Some("  ")] {
                assert_eq!(
                    v.check(blank, NOW).await,
                    Err(TokenRejection::MissingHeader)
                );
            }
            // The documented limit is 16 KiB: a value of exactly that length
            // is read (here: not a bearer token), one byte more is not.
            let at_limit = format!("Basic {}", "a".repeat(16 * 1024 - 6));
            assert_eq!(
                v.check(Some(&at_limit), NOW).await,
                Err(TokenRejection::NotBearer)
            );
            assert_eq!(
                v.check(Some(&format!("{at_limit}a")), NOW).await,
                Err(TokenRejection::Malformed)
            );
            assert_eq!(
                v.check(Some("Bearer a.b"), NOW).await,
                Err(TokenRejection::Malformed)
            );
            assert_eq!(endpoint.hits(), 0);
        }

        #[tokio::test]
        async fn an_unknown_kid_is_refused_without_a_fetch_until_the_interval_has_passed() {
            let (endpoint, url) = serve(jwks(&[(1, "k1")])).await;
            let v = verifier(&url, JwksPolicy::default());
            assert!(v.check(Some(&bearer(1, "k1")), NOW).await.is_ok());
            endpoint
                .doc
                .lock()
                .unwrap()
                .clone_from(&jwks(&[(1, "k1"), (2, "k2")]));
            assert_eq!(
                v.check(Some(&bearer(2, "k2")), NOW + 29_999).await,
                Err(TokenRejection::UnknownKey)
            );
            assert_eq!(endpoint.hits(), 1, "no fetch inside the 30 s interval");
            // Once the interval has passed, the unknown kid triggers a fetch
            // that finds the new key.
            assert!(v.check(Some(&bearer(2, "k2")), NOW + 30_000).await.is_ok());
            assert_eq!(endpoint.hits(), 2);
        }

        #[tokio::test]
        async fn keys_older_than_the_ttl_are_fetched_again_and_served_stale_if_that_fails() {
            let (endpoint, url) = serve(jwks(&[(1, "k1")])).await;
            let policy = JwksPolicy {
                cache_ttl: Duration::from_secs(60),
                min_refresh_interval: Duration::from_secs(1),
                ..JwksPolicy::default()
            };
            let v = verifier(&url, policy);
            assert!(v.check(Some(&bearer(1, "k1")), NOW).await.is_ok());
            assert!(v.check(Some(&bearer(1, "k1")), NOW + 59_999).await.is_ok());
            assert_eq!(endpoint.hits(), 1);
            endpoint.status.store(500, SeqCst);
            assert!(v.check(Some(&bearer(1, "k1")), NOW + 60_000).await.is_ok());
            assert_eq!(endpoint.hits(), 2, "stale keys trigger one fetch");
        }

        #[tokio::test]
        async fn a_failing_endpoint_with_nothing_cached_means_keys_unavailable() {
            let (endpoint, url) = serve(jwks(&[(1, "k1")])).await;
            endpoint.status.store(503, SeqCst);
            let v = verifier(&url, JwksPolicy::default());
            assert_eq!(
                v.check(Some(&bearer(1, "k1")), NOW).await,
                Err(TokenRejection::KeysUnavailable)
            );
            assert_eq!(endpoint.hits(), 1);
        }

        #[tokio::test]
        async fn the_document_size_limit_is_inclusive_with_and_without_content_length() {
            for unframed in [false, true] {
                let doc = jwks(&[(1, "k1")]);
                let len = doc.len();
                let (endpoint, url) = serve(doc).await;
                endpoint.unframed.store(unframed, SeqCst);
                let exact = JwksPolicy {
                    max_bytes: len,
                    ..JwksPolicy::default()
                };
                let v = verifier(&url, exact);
                assert!(
                    v.check(Some(&bearer(1, "k1")), NOW).await.is_ok(),
                    "unframed {unframed}: exactly max_bytes"
                );
                let under = JwksPolicy {
                    max_bytes: len - 1,
                    ..JwksPolicy::default()
                };
                let v = verifier(&url, under);
                assert_eq!(
                    v.check(Some(&bearer(1, "k1")), NOW).await,
                    Err(TokenRejection::KeysUnavailable),
                    "unframed {unframed}: one byte over"
                );
                assert_eq!(endpoint.hits(), 2);
            }
        }

        #[tokio::test]
        async fn a_cached_key_is_served_while_a_fetch_for_another_kid_is_in_flight() {
            let (endpoint, url) = serve(jwks(&[(1, "k1")])).await;
            let policy = JwksPolicy {
                min_refresh_interval: Duration::ZERO,
                fetch_timeout: Duration::from_secs(60),
                ..JwksPolicy::default()
            };
            let v = Arc::new(verifier(&url, policy));
            assert!(v.check(Some(&bearer(1, "k1")), NOW).await.is_ok());
            endpoint.hold.store(true, SeqCst);
            let miss = {
                let v = v.clone();
                tokio::spawn(async move { v.check(Some(&bearer(1, "k9")), NOW).await })
            };
            for _ in 0..500 {
                if endpoint.hits() == 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(endpoint.hits(), 2, "the fetch for k9 is in flight");
            let hit = tokio::time::timeout(
                Duration::from_secs(10),
                v.check(Some(&bearer(1, "k1")), NOW),
            )
            .await;
            assert!(matches!(hit, Ok(Ok(_))), "k1 waited for the fetch: {hit:?}");
            endpoint.release.notify_one();
            assert_eq!(miss.await.unwrap(), Err(TokenRejection::UnknownKey));
        }

        #[test]
        fn the_verifier_debug_names_its_configuration() {
            let v = EntraVerifier::new(config()).unwrap();
            let text = format!("{v:?}");
            assert!(text.starts_with("EntraVerifier"), "{text}");
            assert!(text.contains("example.ciamlogin.com"), "{text}");
            assert_eq!(v.config(), &config());
        }
    }
}

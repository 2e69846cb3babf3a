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
}

//! [`ArcGisPortal`]: the [`Portal`] adapter that talks to ArcGIS Online over
//! the sharing REST API (`reqwest`, rustls), following the fact sheet
//! (`arcgis-portal-api.md`).
//!
//! Its job: hold an administrator token (generated from username and
//! password, cached, renewed before it lapses, renewed once on 498/499),
//! send each call with retries inside a deadline, and map the portal's JSON
//! to the port's types. It must not decide anything about seats or pools,
//! must not retry a refused invitation, and must never log or return the
//! password or a token.
//!
//! Layout: `transport` (one request with retries and error
//! classification), `token` (renewal arithmetic); the serde shapes are in `portal::wire`.

mod token;
mod transport;

use std::collections::{BTreeMap, HashMap, HashSet};
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
use crate::domain::layer_url::{LayerUrl, globalid_literal, globalid_where, is_loopback};
use crate::portal::wire::{
    AddUsersResponse, CheckUsernames, CountsPage, FeatureSet, GroupSearchPage, GroupUserListPage,
    InvitationJson, InvitationList, InviteResponse, OrgUsersPage, PortalSelf, RolesPage,
    SuccessResponse, TokenResponse, UserJson, UserResults,
};
use crate::portal::{
    BUILT_IN_ROLES, INCOMPATIBLE_ROLE, Invitation, LicenseCounts, Member, NewMember, Portal,
    PortalError, ProfileUpdate, Role, USER_TYPE_REFUSED,
};

/// Most pages read from one paged listing: 100 pages of 100 is the portal's
/// 10,000-hit search limit (fact sheet §9), and a portal that keeps sending
/// `nextStart` cannot make us loop forever.
const MAX_PAGES: usize = 100;

/// Most pages read from `portals/self/users`: a listing, not a search, so
/// the 10,000-hit limit does not apply; 2,000 pages of 100 is far beyond any
/// organization, and reaching it is reported rather than truncated.
const MAX_MEMBER_PAGES: usize = 2_000;

/// Page size for paged listings (the portal's maximum).
const PAGE_SIZE: &str = "100";

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

/// The ArcGIS Online client. Cheap to share behind an `Arc`; one
/// `reqwest::Client` (connection pool) is reused for every call.
pub struct ArcGisPortal {
    transport: Transport,
    credentials: Credentials,
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
}

impl fmt::Debug for ArcGisPortal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArcGisPortal")
            .field("transport", &self.transport)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl ArcGisPortal {
    /// Checks the configuration and builds the HTTP client. Fails with
    /// [`PortalError::Protocol`] when the base URL or referer is unusable
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
        let client = reqwest::Client::builder()
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
            credentials,
            referer: config.referer.trim().to_string(),
            token: Mutex::new(None),
            org_id: OnceCell::new(),
            groups: Mutex::new(HashMap::new()),
            deadline: config.deadline,
            token_expiration_minutes: config.token_expiration_minutes.max(1),
            group_cache_ttl: config.group_cache_ttl,
            clock: config.clock,
        })
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

    /// `POST generateToken` (fact sheet §4A).
    async fn generate_token(&self, deadline: Instant) -> Result<CachedToken, PortalError> {
        let call = Call::post(
            &["generateToken"],
            vec![
                ("username", self.credentials.username.clone()),
                ("password", self.credentials.password.clone()),
                ("client", "referer".into()),
                ("referer", self.referer.clone()),
                ("expiration", self.token_expiration_minutes.to_string()),
            ],
        );
        let refused = |why: String| {
            PortalError::Auth(format!(
                "generateToken refused the credentials of {}: {why}",
                self.credentials.username
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
        let mut secrets: Vec<&str> = vec![self.credentials.password.as_str()];
        secrets.extend_from_slice(tokens);
        scrub_error(e, &secrets)
    }

    /// Reads a paged GET listing from `start=1` with `num=100` until
    /// `nextStart` is `-1`, absent or does not move forward. `read` turns one
    /// answer into its items and `nextStart`. Every page is its own logical
    /// call (own deadline, own token renewal). More than `max_pages` pages is
    /// an error rather than a silently truncated list.
    async fn read_pages<T>(
        &self,
        segments: &[&str],
        params: &[(&'static str, String)],
        max_pages: usize,
        mut read: impl FnMut(Value) -> Result<(Vec<T>, Option<i64>), PortalError> + Send,
    ) -> Result<Vec<T>, PortalError> {
        let mut out = Vec::new();
        let mut start: i64 = 1;
        for _ in 0..max_pages {
            let mut page_params = params.to_vec();
            page_params.push(("start", start.to_string()));
            page_params.push(("num", PAGE_SIZE.into()));
            let v = self.call(Call::get(segments, page_params)).await?;
            let (items, next) = read(v)?;
            out.extend(items);
            match next {
                Some(next) if next > start => start = next,
                _ => return Ok(out),
            }
        }
        Err(PortalError::Protocol(format!(
            "{} still had more pages after {max_pages} pages of {PAGE_SIZE}",
            segments.join("/")
        )))
    }

    /// Looks a group title up within the organization, reading every page.
    async fn find_group(&self, title: &str, org: &str) -> Result<Option<String>, PortalError> {
        let escaped = title.replace('\\', "\\\\").replace('"', "\\\"");
        let q = format!("title:\"{escaped}\" AND orgid:{org}");
        let wanted = title.to_lowercase();
        let mut found: Vec<String> = Vec::new();
        let mut start: i64 = 1;
        for _ in 0..MAX_PAGES {
            let v = self
                .call(Call::get(
                    &["community", "groups"],
                    vec![
                        ("q", q.clone()),
                        ("start", start.to_string()),
                        ("num", PAGE_SIZE.into()),
                    ],
                ))
                .await?;
            let page: GroupSearchPage = decode(v, "community/groups")?;
            for g in page.results {
                // Why: the search is fuzzy (tokenised, prefix-matching); only
                // the exact title in our own organization counts.
                let title_matches = g
                    .title
                    .as_deref()
                    .is_some_and(|t| t.trim().to_lowercase() == wanted);
                let in_org = g.org_id.as_deref().is_none_or(|o| o == org);
                if let Some(id) = g.id.filter(|id| !id.is_empty())
                    && title_matches
                    && in_org
                    && !found.contains(&id)
                {
                    found.push(id);
                }
            }
            match page.next_start {
                Some(next) if next > start => start = next,
                _ => break,
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            n => Err(PortalError::Rejected {
                code: "AMBIGUOUS_GROUP".into(),
                message: format!(
                    "{n} groups in the organization are titled {title:?} ({}); rename one or configure the id",
                    found.join(", ")
                ),
            }),
        }
    }
}

impl Portal for ArcGisPortal {
    /// `portals/self.id`, read once and cached.
    async fn org_id(&self) -> Result<String, PortalError> {
        self.org_id
            .get_or_try_init(|| async {
                let v = self.call(Call::get(&["portals", "self"], vec![])).await?;
                let me: PortalSelf = decode(v, "portals/self")?;
                me.id
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| PortalError::Protocol("portals/self has no id".into()))
            })
            .await
            .cloned()
    }

    /// `community/users/{username}`; the "User does not exist or is
    /// inaccessible." error (any code) is `Ok(None)`.
    async fn member(&self, username: &str) -> Result<Option<Member>, PortalError> {
        // Why: `.`/`..` segments would be dropped from the URL and address
        // another resource; no such user can exist anyway.
        if matches!(username, "" | "." | "..") {
            return Ok(None);
        }
        let call = Call::get(&["community", "users", username], vec![]);
        let v = match self.call(call).await {
            Ok(v) => v,
            Err(PortalError::Rejected { message, .. }) if is_missing_user(&message) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let user: UserJson = decode(v, "community/users")?;
        member_from(user, "community/users").map(Some)
    }

    /// `community/checkUsernames`: free when the suggestion equals the
    /// request; an empty answer (seen for deleted names) means taken. When
    /// the endpoint refuses the request, falls back to [`Portal::member`]
    /// (best effort: a user of another org may be invisible there).
    async fn username_available(&self, username: &str) -> Result<bool, PortalError> {
        let call = Call::get(
            &["community", "checkUsernames"],
            vec![("usernames", username.to_string())],
        );
        let checked = match self.call(call).await {
            Ok(v) => decode::<CheckUsernames>(v, "community/checkUsernames"),
            Err(e) => Err(e),
        };
        match checked {
            Ok(c) => {
                let entry = c
                    .usernames
                    .iter()
                    .find(|e| {
                        e.requested
                            .as_deref()
                            .is_some_and(|r| r.eq_ignore_ascii_case(username))
                    })
                    .or(if c.usernames.len() == 1 {
                        c.usernames.first()
                    } else {
                        None
                    });
                Ok(entry.is_some_and(|e| {
                    e.suggested.as_deref() == Some(e.requested.as_deref().unwrap_or(username))
                }))
            }
            Err(e) if e.is_transient() || matches!(e, PortalError::Auth(_)) => Err(e),
            Err(e) => {
                debug!(error = %e, "checkUsernames unusable; falling back to a user lookup");
                Ok(self.member(username).await?.is_none())
            }
        }
    }

    /// Searches `community/groups` for each title within the organization
    /// (all pages), keeping exact case-insensitive title matches. Resolved
    /// ids are cached for `group_cache_ttl`. Two groups with the same title
    /// are refused as `Rejected { code: "AMBIGUOUS_GROUP" }` rather than
    /// guessed.
    async fn group_ids(&self, names: &[String]) -> Result<Vec<Option<String>>, PortalError> {
        let mut out = Vec::with_capacity(names.len());
        let mut org: Option<String> = None;
        for name in names {
            let title = name.trim();
            if title.is_empty() {
                out.push(None);
                continue;
            }
            let key = title.to_lowercase();
            let cached = {
                let cache = self.groups.lock().await;
                cache
                    .get(&key)
                    .filter(|(_, at)| at.elapsed() < self.group_cache_ttl)
                    .map(|(id, _)| id.clone())
            };
            if let Some(id) = cached {
                out.push(Some(id));
                continue;
            }
            let org_id = match &org {
                Some(o) => o.clone(),
                None => {
                    let o = self.org_id().await?;
                    org = Some(o.clone());
                    o
                }
            };
            let id = self.find_group(title, &org_id).await?;
            if let Some(id) = &id {
                self.groups
                    .lock()
                    .await
                    .insert(key, (id.clone(), Instant::now()));
            }
            out.push(id);
        }
        Ok(out)
    }

    /// `POST portals/self/invite` with one invitation (fact sheet §2).
    ///
    /// Not idempotent: if an attempt reached the portal but its answer was
    /// lost (timeout, 5xx) and the retry goes through, the retry comes back
    /// with the username in `notInvited` (the name is now taken) and this
    /// returns [`PortalError::NotInvited`]. The workflow resolves that by
    /// looking the member up with [`Portal::member`].
    async fn invite(&self, member: &NewMember) -> Result<(), PortalError> {
        let first = member.first_name.trim();
        let last = member.last_name.trim();
        let fullname = [first, last]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let password = match &member.invitation {
            Invitation::Email => None,
            Invitation::Password(p) => Some(p.as_str()),
        };
        let list = InvitationList {
            invitations: vec![InvitationJson {
                username: &member.username,
                firstname: first,
                lastname: last,
                fullname,
                email: member.email.trim(),
                role: &member.role,
                user_license_type: &member.user_type,
                groups: member.group_ids.join(","),
                user_credit_assignment: -1,
                password,
            }],
            apps: Vec::new(),
            app_bundles: Vec::new(),
        };
        let json = serde_json::to_string(&list)
            .map_err(|_| PortalError::Protocol("the invitation could not be encoded".into()))?;
        let call = Call::post(
            &["portals", "self", "invite"],
            vec![("invitationList", json)],
        );
        let secrets: Vec<&str> = password.into_iter().collect();
        let v = match self.call(call).await {
            Ok(v) => v,
            Err(e) => return Err(scrub_error(e, &secrets)),
        };
        let answer: InviteResponse = decode(v, "portals/self/invite")?;
        let refused = answer
            .not_invited
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|u| u.eq_ignore_ascii_case(&member.username));
        if refused {
            return Err(PortalError::NotInvited {
                username: member.username.clone(),
            });
        }
        match answer.success {
            Some(true) => Ok(()),
            Some(false) => Err(PortalError::Rejected {
                code: "INVITE_FAILED".into(),
                message: "portals/self/invite answered success:false".into(),
            }),
            None => Err(PortalError::Protocol(
                "portals/self/invite answered without success".into(),
            )),
        }
    }

    /// Purchased seats from `portals/self.subscriptionInfo.userLicenseTypes`,
    /// assigned seats from `portals/self/users/counts?type=userLicenseType`
    /// (all pages); every user type named by either, sorted by id.
    async fn license_counts(&self) -> Result<LicenseCounts, PortalError> {
        let v = self.call(Call::get(&["portals", "self"], vec![])).await?;
        let me: PortalSelf = decode(v, "portals/self")?;
        if let Some(id) = me.id.filter(|id| !id.is_empty()) {
            // Already set is fine: the id does not change.
            let _ = self.org_id.set(id);
        }
        let mut types: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let purchased = me
            .subscription_info
            .and_then(|s| s.user_license_types)
            .unwrap_or_default();
        for (id, n) in purchased {
            types.entry(id).or_default().0 = as_count(&n);
        }
        let mut start: i64 = 1;
        for _ in 0..MAX_PAGES {
            let v = self
                .call(Call::get(
                    &["portals", "self", "users", "counts"],
                    vec![
                        ("type", "userLicenseType".into()),
                        ("start", start.to_string()),
                        ("num", PAGE_SIZE.into()),
                    ],
                ))
                .await?;
            let page: CountsPage = decode(v, "portals/self/users/counts")?;
            for entry in page.results {
                let n = entry.count.as_ref().map(as_count).unwrap_or(0);
                let slot = &mut types.entry(entry.key).or_default().1;
                *slot = slot.saturating_add(n);
            }
            match page.next_start {
                Some(next) if next > start => start = next,
                _ => break,
            }
        }
        Ok(LicenseCounts {
            types: types
                .into_iter()
                .map(|(id, (purchased, assigned))| (id, purchased, assigned))
                .collect(),
        })
    }

    /// The built-in roles, then `portals/self/roles` (all pages). A listed
    /// role with a built-in id is not repeated.
    async fn roles(&self) -> Result<Vec<Role>, PortalError> {
        let mut roles: Vec<Role> = BUILT_IN_ROLES
            .iter()
            .map(|(id, name)| Role {
                id: id.to_string(),
                name: name.to_string(),
            })
            .collect();
        let listed = self
            .read_pages(&["portals", "self", "roles"], &[], MAX_PAGES, |v| {
                let page: RolesPage = decode(v, "portals/self/roles")?;
                Ok((page.roles, page.next_start))
            })
            .await?;
        for r in listed {
            let Some(id) = r.id.filter(|id| !id.trim().is_empty()) else {
                continue;
            };
            if roles.iter().any(|known| known.id == id) {
                continue;
            }
            let name = r
                .name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| id.clone());
            roles.push(Role { id, name });
        }
        Ok(roles)
    }

    /// `portals/self/users`, all pages of 100. A member listed twice (the
    /// list shifted between pages) is kept once.
    async fn org_members(&self) -> Result<Vec<Member>, PortalError> {
        let users = self
            .read_pages(&["portals", "self", "users"], &[], MAX_MEMBER_PAGES, |v| {
                let page: OrgUsersPage = decode(v, "portals/self/users")?;
                Ok((page.users, page.next_start))
            })
            .await?;
        let mut members: Vec<Member> = Vec::with_capacity(users.len());
        let mut seen = HashSet::new();
        for user in users {
            let m = member_from(user, "portals/self/users")?;
            if seen.insert(m.username.clone()) {
                members.push(m);
            }
        }
        Ok(members)
    }

    /// `community/groups?q=orgid:<id>`, all pages, keeping groups of this
    /// organization with an id and a title, each once.
    async fn group_titles(&self) -> Result<Vec<(String, String)>, PortalError> {
        let org = self.org_id().await?;
        let groups = self
            .read_pages(
                &["community", "groups"],
                &[("q", format!("orgid:{org}"))],
                MAX_PAGES,
                |v| {
                    let page: GroupSearchPage = decode(v, "community/groups")?;
                    Ok((page.results, page.next_start))
                },
            )
            .await?;
        let mut out: Vec<(String, String)> = Vec::with_capacity(groups.len());
        for g in groups {
            if g.org_id.as_deref().is_some_and(|o| o != org) {
                continue;
            }
            let (Some(id), Some(title)) = (
                g.id.filter(|id| !id.is_empty()),
                g.title.filter(|t| !t.trim().is_empty()),
            ) else {
                continue;
            };
            if !out.iter().any(|(known, _)| *known == id) {
                out.push((id, title));
            }
        }
        Ok(out)
    }

    /// `GET community/groups/<gid>/userList` (the paged operation; the older
    /// `community/groups/<gid>/users` is deprecated in ArcGIS Online), all
    /// pages of 100: the owner (sent on every page) first, then admins and
    /// members, each once.
    async fn group_members(&self, group_id: &str) -> Result<Vec<String>, PortalError> {
        let gid = path_segment(group_id.trim(), "group id")?;
        let mut owner: Option<String> = None;
        let users = self
            .read_pages(
                &["community", "groups", gid, "userList"],
                &[],
                MAX_MEMBER_PAGES,
                |v| {
                    let page: GroupUserListPage = decode(v, "community/groups/userList")?;
                    if owner.is_none() {
                        owner = page.owner.and_then(|o| o.username);
                    }
                    Ok((page.users, page.next_start))
                },
            )
            .await?;
        let mut out: Vec<String> = Vec::with_capacity(users.len() + 1);
        let names = owner
            .into_iter()
            .chain(users.into_iter().filter_map(|u| u.username));
        for name in names {
            let name = name.trim();
            if !name.is_empty() && !out.iter().any(|known| known == name) {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    /// `POST community/users/<u>/update` with only the set fields
    /// (`email`, `firstName`, `lastName`, `fullname`, `access`, `userType`).
    /// Idempotent, so the transport's retries are safe.
    async fn update_profile(
        &self,
        username: &str,
        update: &ProfileUpdate,
    ) -> Result<(), PortalError> {
        let user = path_segment(username, "username")?;
        let fields: [(&'static str, &Option<String>); 6] = [
            ("email", &update.email),
            ("firstName", &update.first_name),
            ("lastName", &update.last_name),
            ("fullname", &update.full_name),
            ("access", &update.access),
            ("userType", &update.user_type),
        ];
        let params: Vec<(&'static str, String)> = fields
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v.trim().to_string())))
            .collect();
        if params.is_empty() {
            return Ok(());
        }
        let v = self
            .call(Call::post(&["community", "users", user, "update"], params))
            .await?;
        let answer: SuccessResponse = decode(v, "community/users/update")?;
        match answer.success {
            Some(true) => Ok(()),
            Some(false) => Err(PortalError::Rejected {
                code: "UPDATE_FAILED".into(),
                message: format!("community/users/{username}/update answered success:false"),
            }),
            None => Err(PortalError::Protocol(
                "community/users/update answered without success".into(),
            )),
        }
    }

    /// `POST portals/self/updateUserRole` (`user`, `role`).
    async fn update_role(&self, username: &str, role_id: &str) -> Result<(), PortalError> {
        let call = Call::post(
            &["portals", "self", "updateUserRole"],
            vec![
                ("user", username.to_string()),
                ("role", role_id.to_string()),
            ],
        );
        let v = self.call(call).await?;
        let answer: SuccessResponse = decode(v, "portals/self/updateUserRole")?;
        match answer.success {
            Some(true) => Ok(()),
            Some(false) => Err(PortalError::Rejected {
                code: INCOMPATIBLE_ROLE.into(),
                message: format!(
                    "the portal refused role {role_id} for {username} without a reason \
                     (usually a role that does not fit the member's user type)"
                ),
            }),
            None => Err(PortalError::Protocol(
                "portals/self/updateUserRole answered without success".into(),
            )),
        }
    }

    /// `POST portals/self/updateUserLicenseType` with `users` as a JSON
    /// list, as the Python API sends it (fact sheet §0, §6).
    async fn update_user_type(&self, username: &str, user_type: &str) -> Result<(), PortalError> {
        let users = serde_json::to_string(&[username])
            .map_err(|_| PortalError::Protocol("the user list could not be encoded".into()))?;
        let call = Call::post(
            &["portals", "self", "updateUserLicenseType"],
            vec![("users", users), ("userLicenseType", user_type.to_string())],
        );
        let v = self.call(call).await?;
        let answer: UserResults = decode(v, "portals/self/updateUserLicenseType")?;
        let entry = answer
            .results
            .iter()
            .find(|r| {
                r.username
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(username))
            })
            .or(if answer.results.len() == 1 {
                answer.results.first()
            } else {
                None
            });
        match entry.and_then(|e| e.status) {
            Some(true) => Ok(()),
            Some(false) => Err(PortalError::Rejected {
                code: USER_TYPE_REFUSED.into(),
                message: format!(
                    "the portal refused user type {user_type} for {username} without a reason \
                     (no purchased seat of it left, or it does not fit the member's role)"
                ),
            }),
            None => Err(PortalError::Protocol(format!(
                "portals/self/updateUserLicenseType answered without a status for {username}"
            ))),
        }
    }

    /// `POST community/groups/<gid>/addUsers` (`users=<username>`) per
    /// group, each distinct id once, in order.
    async fn add_to_groups(
        &self,
        username: &str,
        group_ids: &[String],
    ) -> Result<Vec<String>, PortalError> {
        let mut not_added = Vec::new();
        let mut done: Vec<&str> = Vec::with_capacity(group_ids.len());
        for gid in group_ids {
            let gid = gid.trim();
            if gid.is_empty() || done.contains(&gid) {
                continue;
            }
            done.push(gid);
            let segment = path_segment(gid, "group id")?;
            let call = Call::post(
                &["community", "groups", segment, "addUsers"],
                vec![("users", username.to_string())],
            );
            let v = self.call(call).await?;
            let answer: AddUsersResponse = decode(v, "community/groups/addUsers")?;
            let refused = answer
                .not_added
                .unwrap_or_default()
                .iter()
                .any(|u| u.eq_ignore_ascii_case(username));
            if refused {
                not_added.push(gid.to_string());
            }
        }
        Ok(not_added)
    }

    /// `GET {layer_url}/query?where=GlobalID='{GUID}'&outFields=*
    /// &returnGeometry=false&f=json` with the token in the header, through
    /// the same token renewal, retries and error classification as every
    /// sharing API call. More than one matching record is a protocol error
    /// (a global id is unique).
    async fn feature_by_globalid(
        &self,
        layer_url: &str,
        globalid: &str,
    ) -> Result<Option<serde_json::Map<String, Value>>, PortalError> {
        let layer = LayerUrl::parse(layer_url).map_err(PortalError::Config)?;
        let (Some(where_clause), Some(literal)) =
            (globalid_where(globalid), globalid_literal(globalid))
        else {
            return Err(PortalError::Rejected {
                code: "invalid_argument".into(),
                message: "the global id is not a GUID".into(),
            });
        };
        let call = feature_query(&layer, where_clause);
        let what = call.path();
        let v = self.call(call).await?;
        let set: FeatureSet = decode(v, &what)?;
        pick_feature(set, &literal, &what)
    }
}

/// The query of one record by global id (the `where` clause already
/// checked): parameters in the order they are sent.
fn feature_query(layer: &LayerUrl, where_clause: String) -> Call {
    Call::get_at(
        layer.url().clone(),
        &["query"],
        vec![
            ("where", where_clause),
            ("outFields", "*".into()),
            ("returnGeometry", "false".into()),
        ],
    )
}

/// The record of a feature set whose global id is `literal` (`{UPPER}`).
/// The id field is the answer's `globalIdFieldName`, else any field named
/// `globalid` in any case. A record without the id field is trusted to be
/// the one the `where` clause selected; one with another id is not.
fn pick_feature(
    set: FeatureSet,
    literal: &str,
    what: &str,
) -> Result<Option<serde_json::Map<String, Value>>, PortalError> {
    let Some(features) = set.features else {
        return Err(PortalError::Protocol(format!(
            "{what} answered without features"
        )));
    };
    let field = set.global_id_field_name.filter(|f| !f.trim().is_empty());
    let mut found = Vec::new();
    for attributes in features.into_iter().filter_map(|f| f.attributes) {
        let id = attributes
            .iter()
            .find(|(k, _)| match &field {
                Some(f) => k.eq_ignore_ascii_case(f),
                None => k.eq_ignore_ascii_case("globalid"),
            })
            .map(|(_, v)| v.as_str().and_then(globalid_literal));
        match id {
            // Why: a server that ignored the `where` clause must not hand
            // another person's record to the caller.
            Some(Some(id)) if id == literal => found.push(attributes),
            Some(_) => {}
            None => found.push(attributes),
        }
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        n => Err(PortalError::Protocol(format!(
            "{what} answered with {n} records for one global id"
        ))),
    }
}

/// The port's view of a user JSON (`community/users/<u>`, an entry of
/// `portals/self/users`). Empty strings count as absent.
fn member_from(user: UserJson, what: &str) -> Result<Member, PortalError> {
    let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let username = non_empty(user.username)
        .ok_or_else(|| PortalError::Protocol(format!("{what} answered without a username")))?;
    Ok(Member {
        username,
        email: non_empty(user.email),
        org_id: non_empty(user.org_id),
        // Why: `roleId` carries a custom role; `role` is then only the
        // base level (fact sheet §6).
        role: non_empty(user.role_id).or(non_empty(user.role)),
        user_type: non_empty(user.user_license_type_id),
        group_ids: user
            .groups
            .into_iter()
            .filter_map(|g| non_empty(g.id))
            .collect(),
        first_name: non_empty(user.first_name),
        last_name: non_empty(user.last_name),
        full_name: non_empty(user.full_name),
        access: non_empty(user.access),
        esri_access: non_empty(user.user_type),
    })
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

/// Whether a portal message is the "User does not exist or is
/// inaccessible." error (its code varies).
fn is_missing_user(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("does not exist or is inaccessible")
}

/// Reads a JSON answer into its wire shape.
fn decode<T: DeserializeOwned>(v: Value, what: &str) -> Result<T, PortalError> {
    serde_json::from_value(v).map_err(|e| {
        PortalError::Protocol(format!("{what} answered with an unexpected shape: {e}"))
    })
}

/// A seat count given as a number (or numeric string); anything else is 0.
fn as_count(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(0)
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
    fn a_record_query_gets_the_layer_with_a_braced_upper_case_globalid() {
        let layer = LayerUrl::parse(
            "https://services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer/0/",
        )
        .unwrap();
        let call = feature_query(
            &layer,
            globalid_where("7d1e0c5a-1111-4222-8333-944455566677").unwrap(),
        );
        assert_eq!(call.method, transport::Method::Get);
        assert_eq!(call.base.as_ref().map(Url::as_str), Some(layer.as_str()));
        assert_eq!(call.segments, vec!["query".to_string()]);
        assert_eq!(
            call.params,
            vec![
                (
                    "where",
                    "GlobalID='{7D1E0C5A-1111-4222-8333-944455566677}'".to_string()
                ),
                ("outFields", "*".to_string()),
                ("returnGeometry", "false".to_string()),
            ]
        );
        assert_eq!(
            call.path(),
            "services9.arcgis.com/AbCdEf/arcgis/rest/services/survey123_0123_form/FeatureServer/0/query"
        );
    }

    #[test]
    fn only_the_record_with_the_asked_globalid_is_taken() {
        let literal = "{7D1E0C5A-1111-4222-8333-944455566677}";
        let set = |v: serde_json::Value| -> FeatureSet { serde_json::from_value(v).unwrap() };
        let ours = serde_json::json!({"globalid": literal, "email": "a@b.org"});
        let theirs = serde_json::json!({"globalid": "{00000000-1111-4222-8333-944455566677}"});
        let got = pick_feature(
            set(serde_json::json!({"globalIdFieldName": "globalid",
                "features": [{"attributes": theirs}, {"attributes": ours}]})),
            literal,
            "q",
        )
        .unwrap()
        .unwrap();
        assert_eq!(got["email"], "a@b.org");
        // Lower case without braces in the answer is the same id.
        let lower = serde_json::json!({"GlobalID": "7d1e0c5a-1111-4222-8333-944455566677"});
        assert!(
            pick_feature(
                set(serde_json::json!({"features": [{"attributes": lower}]})),
                literal,
                "q"
            )
            .unwrap()
            .is_some()
        );
        assert_eq!(
            pick_feature(set(serde_json::json!({"features": []})), literal, "q").unwrap(),
            None
        );
        assert_eq!(
            pick_feature(
                set(serde_json::json!({"features": [{"attributes": theirs}]})),
                literal,
                "q"
            )
            .unwrap(),
            None
        );
        assert!(matches!(
            pick_feature(set(serde_json::json!({"fields": []})), literal, "q"),
            Err(PortalError::Protocol(_))
        ));
        let twice = serde_json::json!({"features": [{"attributes": ours}, {"attributes": ours}]});
        assert!(matches!(
            pick_feature(set(twice), literal, "q"),
            Err(PortalError::Protocol(_))
        ));
    }

    #[tokio::test]
    async fn no_request_is_sent_for_a_bad_layer_url_or_globalid() {
        let creds = Credentials::new("admin_acme", "pw-123456");
        // Port 9 on loopback: nothing listens; an attempt would be Unavailable.
        let client = ArcGisPortal::new(
            ArcGisConfig::new("http://127.0.0.1:9/sharing/rest", "r"),
            creds,
        )
        .unwrap();
        let err = client
            .feature_by_globalid(
                "http://evil.example/x/FeatureServer/0",
                "7d1e0c5a-1111-4222-8333-944455566677",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, PortalError::Config(_)), "{err:?}");
        let err = client
            .feature_by_globalid(
                "http://127.0.0.1:9/x/FeatureServer/0",
                "7d1e0c5a' OR '1'='1",
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PortalError::Rejected { code, .. } if code == "invalid_argument"),
            "{err:?}"
        );
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

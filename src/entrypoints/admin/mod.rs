//! The administrator's page at `/admin`: the pools, the requests waiting
//! for a decision (with Approve and Deny buttons), the waitlist and the
//! recent audit trail. Served by the same router as everything else, so the
//! Lambda and the local server show the same page.
//!
//! - **Sign-in**: the configured administrator secret (`ADMIN_SECRET`, or
//!   `admin_secret` in the Secrets Manager JSON), compared in constant time,
//!   is exchanged for a signed session cookie (the `session` module). One check runs
//!   at a time per process and a wrong secret costs a delay, so guessing is
//!   slow. Without a secret configured every `/admin` route answers 404.
//! - **Requests**: a GET without a valid session is redirected to the
//!   sign-in form; a POST without one is refused (401) and a POST without
//!   the session's CSRF token is refused (403), in both cases before
//!   anything is decided, so nothing changes.
//! - **Headers**: every admin response is `no-store`, `no-referrer`, framed
//!   by nobody, with a Content-Security-Policy that allows no script and
//!   only the page's own inlined stylesheet.
//!
//! Decisions go through
//! [`Provisioner::decide_request`](crate::provisioning::Provisioner::decide_request)
//! with the actor `admin:<name>`; the result comes back as a flash message
//! after a redirect (POST → 303 → GET), so a reload never decides twice.

mod html;
mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::http::AppState;
use crate::config::{ConfigError, Secret, Secrets};
use crate::domain::{RequestState, UnixMillis, Verdict};
use crate::notify::RequestView;
use crate::portal::Portal;
use crate::provisioning::DecisionOutcome;
use crate::seats::{AuditEvent, AuditLog, LedgerError, SeatLedger};
use session::{LOGIN_COOKIE, LOGIN_FORM_SECS, SESSION_COOKIE, Session, SessionKey};

/// Administrator access, when configured.
#[derive(Clone)]
pub struct AdminSettings {
    /// The secret exchanged for a session.
    secret: Secret,
    /// Signs sessions and CSRF tokens.
    key: SessionKey,
    /// Whether cookies carry `Secure`. Only the local server on a loopback
    /// address turns it off: it serves plain http, over which a browser
    /// would never send a `Secure` cookie back.
    pub secure_cookies: bool,
    /// How long a session lasts, in seconds.
    pub session_secs: i64,
    /// How long a wrong secret is answered late.
    pub failure_delay: Duration,
    /// One secret check at a time in this process, so the delay of a wrong
    /// one also slows down guesses sent in parallel.
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for AdminSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSettings")
            .field("secure_cookies", &self.secure_cookies)
            .field("session_secs", &self.session_secs)
            .finish_non_exhaustive()
    }
}

impl AdminSettings {
    /// Shortest administrator secret accepted.
    pub const MIN_SECRET_LEN: usize = 16;
    /// Default session length: a working day.
    pub const DEFAULT_SESSION_SECS: i64 = 8 * 3600;

    /// Settings for a secret. The session key is derived from
    /// `session_key` when given (`ADMIN_SESSION_KEY`), else from the secret
    /// itself, so changing the secret ends every session.
    pub fn new(
        secret: Secret,
        session_key: Option<&Secret>,
        secure_cookies: bool,
    ) -> Result<Self, ConfigError> {
        if secret.expose().chars().count() < Self::MIN_SECRET_LEN {
            return Err(ConfigError(format!(
                "the administrator secret (admin_secret / ADMIN_SECRET) must have at least {} characters",
                Self::MIN_SECRET_LEN
            )));
        }
        let key = match session_key.filter(|k| !k.expose().is_empty()) {
            Some(k) if k.expose().chars().count() < Self::MIN_SECRET_LEN => {
                return Err(ConfigError(format!(
                    "ADMIN_SESSION_KEY / admin_session_key must have at least {} characters",
                    Self::MIN_SECRET_LEN
                )));
            }
            Some(k) => SessionKey::derive(k.expose()),
            None => SessionKey::derive(secret.expose()),
        };
        Ok(AdminSettings {
            secret,
            key,
            secure_cookies,
            session_secs: Self::DEFAULT_SESSION_SECS,
            failure_delay: Duration::from_secs(1),
            gate: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// The settings the secrets call for: `None` (the page is off) when no
    /// administrator secret is configured.
    pub fn from_secrets(
        secrets: &Secrets,
        secure_cookies: bool,
    ) -> Result<Option<Self>, ConfigError> {
        match secrets
            .admin_secret
            .as_ref()
            .filter(|s| !s.expose().is_empty())
        {
            None => Ok(None),
            Some(secret) => Self::new(
                secret.clone(),
                secrets.admin_session_key.as_ref(),
                secure_cookies,
            )
            .map(Some),
        }
    }

    /// Whether `presented` is the secret. Checks run one at a time and a
    /// wrong secret is answered after [`Self::failure_delay`].
    async fn secret_matches(&self, presented: &str) -> bool {
        let _turn = self.gate.lock().await;
        let ok =
            crate::intake::static_secret_matches(presented, std::slice::from_ref(&self.secret));
        if !ok {
            tokio::time::sleep(self.failure_delay).await;
        }
        ok
    }

    /// The valid session of a request, if any.
    fn session(&self, headers: &HeaderMap, now: UnixMillis) -> Option<Session> {
        session::cookie(headers, SESSION_COOKIE).and_then(|v| Session::decode(v, &self.key, now))
    }

    /// Adds a `Set-Cookie` with the page's flags to a response.
    fn add_cookie(&self, r: &mut Response, name: &str, value: &str, max_age_secs: i64) {
        let cookie = session::set_cookie(name, value, max_age_secs, self.secure_cookies);
        // Names and values are our own (hex, base64url, checked names), so
        // they always make a valid header.
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

/// The `/admin` routes, merged into the main router.
pub fn routes<L: SeatLedger, P: Portal>() -> Router<Arc<AppState<L, P>>> {
    Router::new()
        .route("/admin", get(dashboard::<L, P>))
        .route("/admin/login", get(login_form::<L, P>).post(login::<L, P>))
        .route("/admin/logout", post(logout::<L, P>))
        .route("/admin/requests/{id}/decide", post(decide::<L, P>))
        .layer(axum::middleware::map_response(security_headers))
}

/// The headers of every admin response (see the module docs).
async fn security_headers(mut r: Response) -> Response {
    static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "default-src 'none'; style-src {}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            *html::STYLE_HASH
        )
    });
    super::http::protect_page(&mut r, &CSP);
    r
}

fn html_page(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// 303 to `to`: after a POST the browser GETs the next page.
fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// The page is off: the same 404 as any unknown route.
fn disabled() -> Response {
    super::http::error_response(StatusCode::NOT_FOUND, "not_found", "No such route.")
}

/// A POST without a valid session.
fn signed_out() -> Response {
    html_page(
        StatusCode::UNAUTHORIZED,
        "<!doctype html><meta charset=\"utf-8\"><title>Signed out</title>\
<p>Your session has ended: nothing was changed. <a href=\"/admin/login\">Sign in again</a>.</p>"
            .into(),
    )
}

/// A POST whose CSRF token is missing or wrong.
fn bad_csrf() -> Response {
    html_page(
        StatusCode::FORBIDDEN,
        "<!doctype html><meta charset=\"utf-8\"><title>Refused</title>\
<p>This form is not from your session: nothing was changed. <a href=\"/admin\">Back to the page</a>.</p>"
            .into(),
    )
}

/// The fields of an urlencoded form body (unknown ones ignored, the last
/// of repeated ones kept).
struct Form(std::collections::HashMap<String, String>);

impl Form {
    /// Parses a body. An unreadable body reads as empty, which every
    /// handler refuses for its missing token.
    fn parse(body: Result<Bytes, BytesRejection>) -> Form {
        Form(match body {
            Ok(b) => url::form_urlencoded::parse(&b).into_owned().collect(),
            Err(_) => Default::default(),
        })
    }

    /// A field's value; empty when absent.
    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

/// Why a form POST is refused before anything is done.
enum Refused {
    /// No valid session: 401.
    SignedOut,
    /// The CSRF token is not the session's: 403.
    BadCsrf,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SignedOut => signed_out(),
            Refused::BadCsrf => bad_csrf(),
        }
    }
}

/// The session of a form POST whose CSRF token belongs to it.
fn authorize(
    admin: &AdminSettings,
    headers: &HeaderMap,
    now: UnixMillis,
    form: &Form,
) -> Result<Session, Refused> {
    let session = admin.session(headers, now).ok_or(Refused::SignedOut)?;
    if !session.csrf_ok(&admin.key, form.get("csrf")) {
        tracing::warn!(name = %session.name, "admin form refused: bad CSRF token");
        return Err(Refused::BadCsrf);
    }
    Ok(session)
}

/// `GET /admin`.
async fn dashboard<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(admin) = &state.admin else {
        return disabled();
    };
    let now = state.clock.now();
    let Some(session) = admin.session(&headers, now) else {
        return see_other("/admin/login");
    };
    let q: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let flash = html::Flash::parse(
        q.get("done").map(|s| s.as_str()),
        q.get("state").map(|s| s.as_str()),
    );

    let provisioner = &state.provisioner;
    let rules = provisioner.policy().rules();
    let mut degraded = false;
    let pools = crate::status::pools(&**provisioner.ledger(), rules)
        .await
        .unwrap_or_else(|e| {
            tracing::error!("admin page: pools: {e}");
            degraded = true;
            Vec::new()
        });
    let (mut pending, mut waitlist) = (Vec::new(), Vec::new());
    for pool in &rules.pools {
        for (wanted, into) in [
            (RequestState::Pending, &mut pending),
            (RequestState::Waitlisted, &mut waitlist),
        ] {
            match provisioner.request_views(&pool.id, wanted).await {
                Ok(views) => into.extend(views),
                Err(e) => {
                    tracing::error!(pool = %pool.id, "admin page: requests: {e}");
                    degraded = true;
                }
            }
        }
    }
    // Oldest first across pools: the first to ask is the first shown.
    pending.sort_by(|a: &RequestView, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    let events = recent_events(&**provisioner.ledger(), now)
        .await
        .unwrap_or_else(|e| {
            tracing::error!("admin page: audit: {e}");
            degraded = true;
            Vec::new()
        });
    let csrf = session.csrf_token(&admin.key);
    html_page(
        StatusCode::OK,
        html::dashboard(&html::Dashboard {
            name: &session.name,
            csrf: &csrf,
            flash,
            pools: &pools,
            pending: &pending,
            waitlist: &waitlist,
            events: &events,
            degraded,
        }),
    )
}

/// How many audit events the page shows.
const RECENT_EVENTS: usize = 50;
/// The most events read from one window of the audit trail.
const WINDOW_CAP: usize = 1000;

/// The newest [`RECENT_EVENTS`] audit events, newest first.
///
/// The trail is read oldest first from a starting time, at most
/// [`WINDOW_CAP`] events at a time, so the page looks back through a window
/// of the last ten minutes: widened while it holds fewer events than the
/// page shows, narrowed (by bisection) while it holds more than one read
/// returns, since such a read would give its oldest events.
async fn recent_events<L: AuditLog>(
    ledger: &L,
    now: UnixMillis,
) -> Result<Vec<AuditEvent>, LedgerError> {
    const MINUTE: i64 = 60_000;
    let read = |window: i64| ledger.audit_since(now - window, WINDOW_CAP);
    let truncated = |events: &Vec<AuditEvent>| events.len() >= WINDOW_CAP;
    let first = 10 * MINUTE;
    let mut events = read(first).await?;
    if truncated(&events) {
        // Bisect between a window known to hold too many (`hi`) and one
        // known to hold few enough (`lo`, at first empty).
        let (mut lo, mut hi) = (0, first);
        events = Vec::new();
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let got = read(mid).await?;
            if truncated(&got) {
                hi = mid;
            } else {
                lo = mid;
                let enough = got.len() >= RECENT_EVENTS;
                events = got;
                if enough {
                    break;
                }
            }
        }
    } else {
        for wider in [
            60 * MINUTE,
            24 * 60 * MINUTE,
            7 * 24 * 60 * MINUTE,
            31 * 24 * 60 * MINUTE,
        ] {
            if events.len() >= RECENT_EVENTS {
                break;
            }
            let more = read(wider).await?;
            if truncated(&more) {
                break;
            }
            events = more;
        }
    }
    let skip = events.len().saturating_sub(RECENT_EVENTS);
    events.drain(..skip);
    events.reverse();
    Ok(events)
}

/// A fresh login form with its nonce cookie.
fn login_page(
    admin: &AdminSettings,
    status: StatusCode,
    name: &str,
    error: Option<&str>,
) -> Response {
    let nonce = session::random_hex(16);
    let token = admin.key.login_token(&nonce);
    let mut r = html_page(status, html::login(&token, name, error));
    admin.add_cookie(&mut r, LOGIN_COOKIE, &nonce, LOGIN_FORM_SECS);
    r
}

/// `GET /admin/login`.
async fn login_form<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
) -> Response {
    let Some(admin) = &state.admin else {
        return disabled();
    };
    if admin.session(&headers, state.clock.now()).is_some() {
        return see_other("/admin");
    }
    login_page(admin, StatusCode::OK, "", None)
}

/// `POST /admin/login`: name, secret and the form's token.
async fn login<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(admin) = &state.admin else {
        return disabled();
    };
    let form = Form::parse(body);
    let name = form.get("name").trim();
    let nonce = session::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !admin.key.login_token_ok(nonce, form.get("csrf")) {
        return login_page(
            admin,
            StatusCode::FORBIDDEN,
            name,
            Some("This sign-in form has expired. Please try again."),
        );
    }
    if let Err(msg) = session::valid_name(name) {
        return login_page(admin, StatusCode::BAD_REQUEST, "", Some(msg));
    }
    if !admin.secret_matches(form.get("secret")).await {
        tracing::warn!(name, "admin sign-in refused");
        return login_page(
            admin,
            StatusCode::UNAUTHORIZED,
            name,
            Some("Wrong administrator secret."),
        );
    }
    let now = state.clock.now();
    let s = Session::new(name, now, admin.session_secs);
    tracing::info!(name, "admin signed in");
    let event = AuditEvent {
        at: now,
        actor: format!("admin:{name}"),
        action: "admin.signed_in".into(),
        pool: None,
        person: None,
        detail: "signed in to the administrator's page".into(),
    };
    if let Err(e) = state.provisioner.ledger().audit(&event).await {
        tracing::warn!("audit of a sign-in not recorded: {e}");
    }
    let mut r = see_other("/admin");
    admin.add_cookie(
        &mut r,
        SESSION_COOKIE,
        &s.encode(&admin.key),
        admin.session_secs,
    );
    admin.add_cookie(&mut r, LOGIN_COOKIE, "", 0);
    r
}

/// `POST /admin/logout`: ends the session in this browser.
async fn logout<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(admin) = &state.admin else {
        return disabled();
    };
    if let Err(refused) = authorize(admin, &headers, state.clock.now(), &Form::parse(body)) {
        return refused.into_response();
    }
    let mut r = see_other("/admin/login");
    admin.add_cookie(&mut r, SESSION_COOKIE, "", 0);
    r
}

/// Longest comment kept with a decision, in characters.
const MAX_COMMENT_CHARS: usize = 500;

/// `POST /admin/requests/{id}/decide`: `verdict` (approve | deny),
/// optional `comment`, and the session's CSRF token.
async fn decide<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(admin) = &state.admin else {
        return disabled();
    };
    let now = state.clock.now();
    let form = Form::parse(body);
    let session = match authorize(admin, &headers, now, &form) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    let verdict = match form.get("verdict") {
        "approve" => Verdict::Approve,
        "deny" => Verdict::Deny,
        _ => {
            return html_page(
                StatusCode::BAD_REQUEST,
                "<!doctype html><meta charset=\"utf-8\"><title>Refused</title>\
<p>Choose Approve or Deny. <a href=\"/admin\">Back to the page</a>.</p>"
                    .into(),
            );
        }
    };
    let comment: String = form
        .get("comment")
        .trim()
        .chars()
        .take(MAX_COMMENT_CHARS)
        .collect();
    let comment = Some(comment.as_str()).filter(|c| !c.is_empty());
    let actor = format!("admin:{}", session.name);
    let outcome = state
        .provisioner
        .decide_request(&id, verdict, &actor, comment, state.jobs.as_deref(), now)
        .await;
    let flash = match outcome {
        DecisionOutcome::Decided {
            verdict: Verdict::Approve,
            ..
        } => html::Flash::Approved,
        DecisionOutcome::Decided {
            verdict: Verdict::Deny,
            ..
        } => html::Flash::Denied,
        DecisionOutcome::AlreadyDecided { state } => html::Flash::AlreadyDecided(state.as_str()),
        DecisionOutcome::Expired => html::Flash::Expired,
        DecisionOutcome::NotFound => html::Flash::NotFound,
        DecisionOutcome::PoolFull => html::Flash::PoolFull,
        DecisionOutcome::Unavailable(why) => {
            tracing::error!(request = %id, "admin decision failed: {why}");
            html::Flash::Unavailable
        }
    };
    see_other(&format!("/admin?{}", flash.query()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seats::memory::MemoryLedger;

    const NOW: UnixMillis = 1_790_000_000_000;

    fn event(at: UnixMillis, n: usize) -> AuditEvent {
        AuditEvent {
            at,
            actor: "system".into(),
            action: "test".into(),
            pool: None,
            person: None,
            detail: format!("#{n}"),
        }
    }

    async fn details(ledger: &MemoryLedger) -> Vec<String> {
        recent_events(ledger, NOW)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.detail)
            .collect()
    }

    #[tokio::test]
    async fn the_newest_events_come_first_from_however_far_back() {
        let ledger = MemoryLedger::new();
        assert!(details(&ledger).await.is_empty());
        // Three events, days apart: all found, newest first.
        for (n, days) in [(0, 20), (1, 3), (2, 0)] {
            ledger
                .audit(&event(NOW - days * 86_400_000 - 1000, n))
                .await
                .unwrap();
        }
        assert_eq!(details(&ledger).await, ["#2", "#1", "#0"]);
    }

    #[tokio::test]
    async fn a_busy_trail_shows_only_its_newest_events() {
        let ledger = MemoryLedger::new();
        // More events in the last minutes than one window may read: the
        // page still shows the newest ones, not the oldest of the window.
        for n in 0..(WINDOW_CAP + 500) {
            ledger
                .audit(&event(NOW - 300_000 + n as i64, n))
                .await
                .unwrap();
        }
        let shown = details(&ledger).await;
        assert_eq!(shown.len(), RECENT_EVENTS);
        assert_eq!(shown[0], format!("#{}", WINDOW_CAP + 499));
    }
}

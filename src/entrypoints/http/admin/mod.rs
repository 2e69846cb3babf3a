//! The administrator's page at `/admin`: the pools (a usage bar each, and
//! when each fills at the recent rate), sign-ups per day, the requests
//! waiting for a decision (with Approve and Deny buttons), the waitlist and
//! the recent audit trail; and a page per pool at `/admin/pools/{pool}`
//! with its member list. Served by the same router as everything else, so
//! the Lambda and the local server show the same pages. The pictures are
//! SVG drawn on the server (the `charts` module): the pages run no script.
//!
//! What each page reads, so that it stays quick: `/admin` reads the store
//! only (the pools, the requests, the audit trail of the last 30 days,
//! `html::HISTORY_DAYS`); a pool's page reads that pool and the
//! trail, and asks ArcGIS Online for the members' last sign-ins only when
//! the administrator asks for them (`?signins=1`): that is one listing of
//! the whole organization.
//!
//! - **Sign-in**: the configured administrator secret (`ADMIN_SECRET`, or
//!   `admin_secret` in the Secrets Manager JSON), compared in constant time,
//!   is exchanged for a signed session cookie (the `session` module). One
//!   check runs at a time per process and a wrong secret costs a delay, so
//!   guessing is slow; every attempt is counted in the store per client
//!   address and in all, per 15-minute window, so that all processes
//!   together stay within the limits (the [`throttle`] module): beyond them
//!   429 `sign_in_throttled`, and 503 `sign_in_unavailable` when the store
//!   cannot count, in both cases without comparing the secret. Without a
//!   secret configured every `/admin` route answers 404.
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
//!
//! The member list acts on ACTIVE seats of pools with a lifecycle, behind
//! the same session and CSRF checks:
//! - **Extend**: `POST /admin/pools/{pool}/members/{person}/extend` with
//!   `until` (the new last day, UTC, `yyyy-mm-dd`) →
//!   [`Provisioner::extend_seat`](crate::provisioning::Provisioner::extend_seat).
//!   The form sends a date, not "+30 days", so a second click or a reload
//!   of the form sets the same end instead of adding to it.
//! - **Reclaim now**: `GET …/reclaim` is a confirmation page only (what
//!   the pool's `at_end` action will do); its `POST` ends the seat with
//!   [`Provisioner::reclaim_seat_now`](crate::provisioning::Provisioner::reclaim_seat_now),
//!   as the scheduled run would.
//!
//! `{person}` is the claim's person key (the lower-cased e-mail address);
//! anything else is refused (400) before anything is read. Input that
//! cannot be acted on (a date that is not one) answers 400 and writes
//! nothing; a refusal of the workflow (`SeatActionError`) and a success
//! come back as a flash on the pool's page after a redirect, the refusal
//! with its stable code.

pub(crate) mod charts;
pub(crate) mod html;
mod session;
pub mod settings;
pub mod throttle;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::errors::error_response;
use super::pages::protect_page;
use super::render::{self, DecisionReply, see_other};
use super::state::AppState;
use crate::domain::date::Day;
use crate::domain::{ClaimKey, Email, PoolId, UnixMillis, Verdict};
use crate::ids::Ids;
use crate::portal::Portal;
use crate::provisioning::reclaim::{Done, LifecycleReport};
use crate::seats::{AuditEvent, SeatLedger};
use session::{LOGIN_COOKIE, LOGIN_FORM_SECS, SESSION_COOKIE, Session};

pub use settings::AdminSettings;
use settings::SecretCheck;
use throttle::ClientAddress;

/// The `/admin` routes, merged into the main router.
pub fn routes<L: SeatLedger, P: Portal>() -> Router<Arc<AppState<L, P>>> {
    Router::new()
        .route("/admin", get(dashboard::<L, P>))
        .route("/admin/pools/{pool}", get(pool_page::<L, P>))
        .route("/admin/login", get(login_form::<L, P>).post(login::<L, P>))
        .route("/admin/logout", post(logout::<L, P>))
        .route("/admin/requests/{id}/decide", post(decide::<L, P>))
        .route(
            "/admin/pools/{pool}/members/{person}/extend",
            post(extend::<L, P>),
        )
        .route(
            "/admin/pools/{pool}/members/{person}/reclaim",
            get(reclaim_page::<L, P>).post(reclaim::<L, P>),
        )
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
    protect_page(&mut r, &CSP);
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

/// The page is off: the same 404 as any unknown route.
fn disabled() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "No such route.")
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

    let (overview, history) =
        tokio::join!(state.provisioner.overview(now), signup_history(&state, now));
    let csrf = session.csrf_token(&admin.key);
    html_page(
        StatusCode::OK,
        html::dashboard(&html::Dashboard {
            name: &session.name,
            csrf: &csrf,
            flash,
            pools: &overview.pools,
            pending: &overview.pending,
            waitlist: &overview.waitlist,
            events: &overview.events,
            history: history.as_ref(),
            degraded: overview.degraded,
        }),
    )
}

/// Sign-ups of the last [`html::HISTORY_DAYS`] days; `None` (logged) when
/// the audit trail cannot be read: the page says so and shows the rest.
async fn signup_history<L: SeatLedger, P: Portal>(
    state: &AppState<L, P>,
    now: UnixMillis,
) -> Option<crate::provisioning::history::SignupHistory> {
    match state
        .provisioner
        .signup_history(now, html::HISTORY_DAYS)
        .await
    {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::error!("admin page: sign-ups: {e}");
            None
        }
    }
}

/// `GET /admin/pools/{pool}`: one pool's usage, sign-ups and member list;
/// `?signins=1` adds the members' last sign-ins from the portal.
async fn pool_page<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    Path(pool): Path<String>,
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
    let sign_ins = q.get("signins").is_some_and(|v| v == "1");
    let flash = html::PoolFlash::parse(&q);
    let csrf = session.csrf_token(&admin.key);
    let (detail, history) = tokio::join!(
        state.provisioner.pool_detail(&pool, sign_ins, now),
        signup_history(&state, now)
    );
    match detail {
        Ok(Some(detail)) => html_page(
            StatusCode::OK,
            html::pool_page(&html::PoolPage {
                name: &session.name,
                csrf: &csrf,
                flash,
                detail: &detail,
                history: history.as_ref(),
                now,
            }),
        ),
        Ok(None) => html_page(
            StatusCode::NOT_FOUND,
            html::no_such_pool(&session.name, &csrf, &pool),
        ),
        Err(e) => {
            tracing::error!(pool, "admin page: pool: {e}");
            html_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "<!doctype html><meta charset=\"utf-8\"><title>Unavailable</title>\
<p>The seat store cannot be read right now. <a href=\"/admin\">Back to the page</a>.</p>"
                    .into(),
            )
        }
    }
}

/// A fresh login form with its nonce cookie.
fn login_page(
    admin: &AdminSettings,
    ids: &Ids,
    now: UnixMillis,
    status: StatusCode,
    name: &str,
    error: Option<html::LoginError<'_>>,
) -> Response {
    let nonce = ids.hex(16);
    let token = admin.key.login_token(&nonce, now);
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
    login_page(
        admin,
        &state.ids,
        state.clock.now(),
        StatusCode::OK,
        "",
        None,
    )
}

/// `POST /admin/login`: name, secret and the form's token.
async fn login<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(admin) = &state.admin else {
        return disabled();
    };
    let form = Form::parse(body);
    let name = form.get("name").trim();
    let nonce = session::cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !admin
        .key
        .login_token_ok(nonce, form.get("csrf"), state.clock.now())
    {
        return login_page(
            admin,
            &state.ids,
            state.clock.now(),
            StatusCode::FORBIDDEN,
            name,
            Some(html::LoginError {
                code: "form_expired",
                message: "This sign-in form has expired. Please try again.",
            }),
        );
    }
    if let Err(msg) = session::valid_name(name) {
        return login_page(
            admin,
            &state.ids,
            state.clock.now(),
            StatusCode::BAD_REQUEST,
            "",
            Some(html::LoginError {
                code: "invalid_name",
                message: msg,
            }),
        );
    }
    let from = ClientAddress::of(&extensions, &headers);
    let check = admin
        .check_secret(
            state.provisioner.sign_ins(),
            &from,
            form.get("secret"),
            state.clock.now(),
        )
        .await;
    let refused = |status: StatusCode, code: &str, message: &str, retry_after: Option<u64>| {
        let mut r = login_page(
            admin,
            &state.ids,
            state.clock.now(),
            status,
            name,
            Some(html::LoginError { code, message }),
        );
        if let Some(secs) = retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    };
    match check {
        SecretCheck::Right => {}
        SecretCheck::Busy => {
            tracing::warn!(name, "admin sign-in not checked: too many attempts waiting");
            return refused(
                StatusCode::TOO_MANY_REQUESTS,
                "sign_in_busy",
                "Too many sign-in attempts right now. Please try again in a minute.",
                Some(30),
            );
        }
        SecretCheck::Throttled {
            retry_after_secs,
            global,
        } => {
            let limit = if global {
                "all addresses"
            } else {
                "this address"
            };
            tracing::warn!(
                name,
                address = %from,
                limit,
                retry_after_secs,
                "admin sign-in not checked: too many attempts in this window"
            );
            let minutes = retry_after_secs.div_ceil(60);
            return refused(
                StatusCode::TOO_MANY_REQUESTS,
                "sign_in_throttled",
                &format!(
                    "Too many sign-in attempts. Please try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                ),
                Some(retry_after_secs),
            );
        }
        SecretCheck::Unavailable => {
            tracing::warn!(name, "admin sign-in not checked: the store cannot count it");
            return refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "sign_in_unavailable",
                "Signing in is not possible right now (the seat store cannot be reached). \
                 Please try again in a minute.",
                Some(30),
            );
        }
        SecretCheck::Wrong => {
            tracing::warn!(name, address = %from, "admin sign-in refused");
            return refused(
                StatusCode::UNAUTHORIZED,
                "wrong_secret",
                "Wrong administrator secret.",
                None,
            );
        }
    }
    let now = state.clock.now();
    let s = Session::new(name, now, admin.session_secs, &state.ids);
    tracing::info!(name, "admin signed in");
    let event = AuditEvent {
        at: now,
        actor: format!("admin:{name}"),
        action: "admin.signed_in".into(),
        pool: None,
        person: None,
        detail: "signed in to the administrator's page".into(),
    };
    if let Err(e) = state.provisioner.record(&event).await {
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
    render::decision(&outcome, DecisionReply::Admin { request_id: &id })
}

/// The seat a member action names: the pool (a valid pool name) and the
/// person (a lower-cased e-mail address, as claims are keyed); `None` for
/// anything else.
fn seat_key(pool: &str, person: &str) -> Option<ClaimKey> {
    let pool = PoolId::parse(pool).ok()?;
    let email = Email::parse(person).ok()?;
    (email.key() == person).then(|| ClaimKey {
        pool,
        person: person.to_string(),
    })
}

/// 400: the pool or person in the path is not one (nothing was read).
fn bad_seat(name: &str, csrf: &str, pool: &str) -> Response {
    html_page(
        StatusCode::BAD_REQUEST,
        html::seat_notice(
            name,
            csrf,
            pool,
            "invalid_member",
            "Nothing changed: the address does not name a pool and a person (a lower-cased e-mail address).",
        ),
    )
}

/// 303 back to the pool's page with `flash`, scrolled to the member's row.
fn back_to_pool(key: &ClaimKey, flash: html::PoolFlash) -> Response {
    see_other(&format!(
        "/admin/pools/{}?{}#member-{}",
        html::path_segment(key.pool.as_str()),
        flash.query(),
        html::path_segment(&key.person)
    ))
}

/// 303 back to the pool's page with a refusal's stable code.
fn refused_back(key: &ClaimKey, code: &str) -> Response {
    match html::PoolFlash::refused(code) {
        Some(flash) => back_to_pool(key, flash),
        None => see_other(&format!(
            "/admin/pools/{}",
            html::path_segment(key.pool.as_str())
        )),
    }
}

/// `POST /admin/pools/{pool}/members/{person}/extend`: `until` (the new
/// last day, `yyyy-mm-dd`, UTC) and the session's CSRF token.
async fn extend<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    Path((pool, person)): Path<(String, String)>,
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
    let csrf = session.csrf_token(&admin.key);
    let Some(key) = seat_key(&pool, &person) else {
        return bad_seat(&session.name, &csrf, &pool);
    };
    let until = match Day::parse(form.get("until")) {
        Ok(day) => day,
        Err(_) => {
            return html_page(
                StatusCode::BAD_REQUEST,
                html::seat_notice(
                    &session.name,
                    &csrf,
                    &pool,
                    "invalid_date",
                    "Nothing changed: the new last day must be a date (yyyy-mm-dd, UTC).",
                ),
            );
        }
    };
    let actor = format!("admin:{}", session.name);
    match state
        .provisioner
        .extend_seat(&key, until.end(), &actor, now)
        .await
    {
        Ok(_) => {
            tracing::info!(pool = %key.pool, %until, by = %actor, "seat extended");
            back_to_pool(&key, html::PoolFlash::Extended { until })
        }
        Err(e) => {
            tracing::info!(pool = %key.pool, code = e.code(), "seat not extended: {e}");
            refused_back(&key, e.code())
        }
    }
}

/// `GET /admin/pools/{pool}/members/{person}/reclaim`: the confirmation
/// page; nothing changes.
async fn reclaim_page<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    Path((pool, person)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(admin) = &state.admin else {
        return disabled();
    };
    let now = state.clock.now();
    let Some(session) = admin.session(&headers, now) else {
        return see_other("/admin/login");
    };
    let csrf = session.csrf_token(&admin.key);
    if seat_key(&pool, &person).is_none() {
        return bad_seat(&session.name, &csrf, &pool);
    }
    let notice = |status: StatusCode, code: &str, message: &str| {
        html_page(
            status,
            html::seat_notice(&session.name, &csrf, &pool, code, message),
        )
    };
    let detail = match state.provisioner.pool_detail(&pool, false, now).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return html_page(
                StatusCode::NOT_FOUND,
                html::no_such_pool(&session.name, &csrf, &pool),
            );
        }
        Err(e) => {
            tracing::error!(pool, "admin page: reclaim confirmation: {e}");
            return notice(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "The seat store cannot be read right now. Try again.",
            );
        }
    };
    let Some(lifecycle) = &detail.lifecycle else {
        return notice(
            StatusCode::CONFLICT,
            "no_lifecycle",
            "This pool has no [pools.lifecycle] at_end action to reclaim with.",
        );
    };
    match detail.members.iter().find(|m| m.person == person) {
        Some(row) if row.stage == crate::seats::Stage::Active => html_page(
            StatusCode::OK,
            html::reclaim_confirm(&html::ReclaimConfirm {
                name: &session.name,
                csrf: &csrf,
                pool: &pool,
                row,
                lifecycle,
                now,
            }),
        ),
        Some(_) => notice(
            StatusCode::CONFLICT,
            "seat_not_active",
            "This seat is not active yet: nothing to reclaim.",
        ),
        None => notice(
            StatusCode::NOT_FOUND,
            "seat_not_found",
            "This person holds no seat in this pool.",
        ),
    }
}

/// `POST /admin/pools/{pool}/members/{person}/reclaim`: ends the seat now
/// with the pool's end action (the session's CSRF token only).
async fn reclaim<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    Path((pool, person)): Path<(String, String)>,
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
    let csrf = session.csrf_token(&admin.key);
    let Some(key) = seat_key(&pool, &person) else {
        return bad_seat(&session.name, &csrf, &pool);
    };
    let actor = format!("admin:{}", session.name);
    let report = match state
        .provisioner
        .reclaim_seat_now(&key, state.jobs(), &actor, now)
        .await
    {
        Ok(report) => report,
        Err(e) => {
            tracing::info!(pool = %key.pool, code = e.code(), "seat not reclaimed: {e}");
            return refused_back(&key, e.code());
        }
    };
    match reclaimed(&report) {
        Ok(flash) => {
            tracing::info!(pool = %key.pool, by = %actor, "seat reclaimed");
            back_to_pool(&key, flash)
        }
        Err(why) => {
            tracing::warn!(pool = %key.pool, by = %actor, "seat not reclaimed: {why}");
            html_page(
                StatusCode::BAD_GATEWAY,
                html::seat_notice(
                    &session.name,
                    &csrf,
                    &pool,
                    "reclaim_not_done",
                    &format!(
                        "Not reclaimed: {why}. The seat is still held; try again, or the scheduled run will."
                    ),
                ),
            )
        }
    }
}

/// The flash of a reclaim's report (one seat), or why it was not done.
fn reclaimed(report: &LifecycleReport) -> Result<html::PoolFlash, String> {
    let Some(applied) = report.applied.first() else {
        return Err("nothing was planned for this seat".into());
    };
    let how = match &applied.done {
        Done::Deleted => html::ReclaimedAs::Deleted,
        Done::Downgraded { .. } => html::ReclaimedAs::Downgraded,
        Done::Disabled {
            owns_content: false,
        } => html::ReclaimedAs::Disabled,
        Done::Disabled { owns_content: true } => html::ReclaimedAs::DisabledOwnsContent,
        Done::NotDone { why } => return Err(why.clone()),
        Done::Warned { .. } => return Err("only a warning was sent".into()),
    };
    Ok(html::PoolFlash::Reclaimed {
        how,
        told: applied.told,
        admitted: report.admitted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_action_names_a_pool_and_a_claims_person_key() {
        let key = seat_key("acme", "o'brien@acme.org").unwrap();
        assert_eq!(key.pool.as_str(), "acme");
        assert_eq!(key.person, "o'brien@acme.org");
        for (pool, person) in [
            ("acme", "Ana@acme.org"),
            ("acme", "ana"),
            ("acme", " ana@acme.org"),
            ("acme", "a b@acme.org"),
            ("acme", ""),
            ("a/b", "ana@acme.org"),
            ("", "ana@acme.org"),
        ] {
            assert!(seat_key(pool, person).is_none(), "{pool:?} {person:?}");
        }
    }
}

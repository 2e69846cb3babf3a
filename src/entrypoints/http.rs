//! The HTTP surface: routes, the one mapping from [`Outcome`] to a response,
//! and JSON error bodies with stable codes.
//!
//! Handlers here only extract, verify, parse and delegate; they hold no
//! business rules. Error bodies never carry internals (no Debug output, no
//! secrets, no echoed bodies).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{approvals, hooks};
use crate::clock::Clock;
use crate::config::Secret;
use crate::domain::Overrides;
use crate::domain::UnixMillis;
use crate::intake::entra::EntraVerifier;
use crate::intake::signature::{self, SigningKey, WebhookHeaders};
use crate::intake::sources::{Source, Sources};
use crate::intake::{
    IntakeError, MAX_BODY_BYTES, Signup, auth0, standard, survey123, tally, typeform,
};
use crate::portal::Portal;
use crate::provisioning::{Handled, Outcome, Provisioner};
use crate::queue::JobSink;
use crate::seats::SeatLedger;

/// What the routes need.
pub struct AppState<L, P> {
    /// The workflow (shared with the queue worker).
    pub provisioner: Arc<Provisioner<L, P>>,
    /// Where the Okta and Entra hooks queue the members they cannot wait
    /// for, and where the other sign-up routes hand a member the portal did
    /// not create within the deadline; `None`: everything is synchronous and
    /// a slow portal releases the seat.
    pub jobs: Option<Arc<dyn JobSink>>,
    /// Keys accepted on `/webhooks/standard` (several, for rotation).
    pub standard_keys: Vec<SigningKey>,
    /// Allowed clock skew for signed timestamps, in seconds.
    pub tolerance_secs: i64,
    /// The clock.
    pub clock: Clock,
    /// Bearer tokens accepted on `GET /status` (none: the route answers 404).
    pub status_tokens: Vec<Secret>,
    /// The switched-on senders besides Standard Webhooks.
    pub sources: Sources,
    /// The Entra token verifier (its JWKS cache), when `[sources.entra]` is on.
    pub entra: Option<Arc<EntraVerifier>>,
    /// Outbound HTTP for provider APIs (Okta and Auth0 profiles).
    pub http: ProviderClients,
    /// Signed approval links and Slack buttons.
    pub approval_routes: super::approvals::ApprovalConfig,
    /// The administrator's page (`None`: `/admin` answers 404).
    pub admin: Option<super::admin::AdminSettings>,
}

/// Clients of the identity providers' APIs, built on first use so cold
/// starts that never need them do not pay for a TLS set-up.
#[derive(Default)]
pub struct ProviderClients {
    pub(crate) client: std::sync::OnceLock<reqwest::Client>,
    /// The Auth0 Management API token and when to stop using it.
    pub(crate) auth0_token: tokio::sync::Mutex<Option<(Secret, std::time::Instant)>>,
}

/// Builds the router: the senders' webhooks and hooks, `GET /health`,
/// `GET /status` and the administrator's page under `/admin`.
pub fn router<L: SeatLedger, P: Portal>(state: Arc<AppState<L, P>>) -> Router {
    Router::new()
        .route("/webhooks/standard", post(standard_webhook::<L, P>))
        .route("/webhooks/typeform", post(typeform_webhook::<L, P>))
        .route("/webhooks/tally", post(tally_webhook::<L, P>))
        .route(
            "/webhooks/survey123/{token}",
            post(survey123_webhook::<L, P>),
        )
        .route("/webhooks/auth0-logs", post(auth0_logs_webhook::<L, P>))
        .route(
            "/webhooks/okta",
            get(hooks::okta_verification::<L, P>).post(hooks::okta_events::<L, P>),
        )
        .route(
            "/hooks/okta/registration",
            post(hooks::okta_registration::<L, P>),
        )
        .route(
            "/hooks/entra/attribute-collection",
            post(hooks::entra_attribute_collection::<L, P>),
        )
        .route("/approvals/slack", post(approvals::slack_action::<L, P>))
        .route("/approvals/{id}", post(approvals::signed_decision::<L, P>))
        .route(
            "/approvals/{id}/link",
            get(approvals::link_page::<L, P>).post(approvals::link_decide::<L, P>),
        )
        .route(
            "/webhooks/survey123-approvals/{token}",
            post(approvals::survey123_decision::<L, P>),
        )
        .route("/health", get(health))
        .route("/status", get(status::<L, P>))
        .merge(super::admin::routes::<L, P>())
        // One byte over the limit lets the handler tell "too large" from
        // "exactly at the limit"; axum refuses anything larger before reading it.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES + 1))
        .fallback(not_found)
        .with_state(state)
}

async fn health() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "No such route.")
}

async fn standard_webhook<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
    };
    let now = state.clock.now();
    let delivery = match verify_standard(&state, &headers, &body, now) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(code = e.code(), "standard webhook refused: {e}");
            return intake_error(&e);
        }
    };
    let request = match standard::parse(&body) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(delivery = %delivery.as_string(), code = e.code(), "sign-up refused: {e}");
            return intake_error(&e);
        }
    };
    let hash = payload_hash(&body);
    let handled = state
        .provisioner
        .handle_or_defer(
            &delivery,
            &hash,
            &request,
            &Default::default(),
            state.jobs.as_deref(),
            now,
        )
        .await;
    respond(&handled)
}

/// The headers of every HTML page with personal data or a form (the
/// administrator's page, the approval confirmations): never cached, never
/// framed, no referrer, no sniffing, and the page's own CSP.
pub(crate) fn protect_page(r: &mut Response, csp: &str) {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// Checks a Standard Webhooks delivery against the broker's keys.
pub(crate) fn verify_standard<L, P>(
    state: &AppState<L, P>,
    headers: &HeaderMap,
    body: &[u8],
    now: UnixMillis,
) -> Result<crate::domain::DeliveryKey, IntakeError> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    signature::verify(
        WebhookHeaders {
            id: h("webhook-id"),
            timestamp: h("webhook-timestamp"),
            signature: h("webhook-signature"),
        },
        body,
        &state.standard_keys,
        now.div_euclid(1000),
        state.tolerance_secs,
    )
}

/// Seat status of every pool, for operators and dashboards. Authenticated
/// with a bearer token compared in constant time; personal data, so never
/// cached.
async fn status<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
) -> Response {
    if state.status_tokens.is_empty() {
        return error_response(
            StatusCode::NOT_FOUND,
            "source_not_configured",
            "No status token is configured.",
        );
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !crate::intake::static_secret_matches(presented, &state.status_tokens) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A valid bearer token is required.",
        );
    }
    let rules = state.provisioner.policy().rules();
    match crate::status::pools(&**state.provisioner.ledger(), rules).await {
        Ok(pools) => {
            let mut r = (StatusCode::OK, axum::Json(json!({"pools": pools}))).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            tracing::error!("status: {e}");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "The seat store is unavailable.",
            )
        }
    }
}

/// `POST /webhooks/typeform`: `Typeform-Signature` over the raw body.
async fn typeform_webhook<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(src) = state.sources.get(typeform::SOURCE) else {
        return source_not_configured();
    };
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
    };
    let sig = headers
        .get(typeform::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let signup = typeform::verify(sig, &body, &src.secrets)
        .and_then(|()| typeform::parse(&body, &src.fields.or(&typeform::default_fields())));
    form_signup(&state, typeform::SOURCE, signup).await
}

/// `POST /webhooks/tally`: `Tally-Signature` over the raw body.
async fn tally_webhook<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(src) = state.sources.get(tally::SOURCE) else {
        return source_not_configured();
    };
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
    };
    let sig = headers
        .get(tally::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let signup = tally::verify(sig, &body, &src.secrets)
        .and_then(|()| tally::parse(&body, &src.fields.or(&tally::default_fields())));
    form_signup(&state, tally::SOURCE, signup).await
}

/// `POST /webhooks/survey123/{token}`: Survey123 cannot sign, so the
/// unguessable path token is the secret. `editData` deliveries are
/// acknowledged and ignored. With the source's `layer_url`, the record is
/// re-read from the survey's layer and only its attributes count
/// (`survey123_reread`).
async fn survey123_webhook<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    Path(token): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(src) = state.sources.get(survey123::SOURCE) else {
        return source_not_configured();
    };
    if let Err(e) = survey123::verify_token(&token, &src.secrets) {
        tracing::warn!(source = survey123::SOURCE, code = e.code(), "refused: {e}");
        return intake_error(&e);
    }
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
    };
    let fields = src.fields.or(&survey123::default_fields());
    let parsed = match &src.reread {
        None => survey123::parse(&body, &fields),
        Some(reread) => {
            let portal = &**state.provisioner.portal();
            match super::survey123_reread::signup(portal, reread, &body, &fields).await {
                Ok(event) => Ok(event),
                Err(refusal) => return refusal.response(survey123::SOURCE),
            }
        }
    };
    match parsed {
        Ok(survey123::Survey123Event::Signup(s)) => {
            form_signup(&state, survey123::SOURCE, Ok(s)).await
        }
        Ok(survey123::Survey123Event::Ignored { reason }) => (
            StatusCode::OK,
            axum::Json(json!({"status": "ignored", "reason": reason})),
        )
            .into_response(),
        Err(e) => form_signup(&state, survey123::SOURCE, Err(e)).await,
    }
}

/// `POST /webhooks/auth0-logs`: an Auth0 log stream batch. Each successful
/// sign-up record (`ss`) is handled on its own, in order; other records are
/// skipped. A record that cannot be parsed is logged and skipped, so one bad
/// record never blocks the stream. The batch is answered 503 only when some
/// record must be retried (Auth0 then resends it; finished records replay).
async fn auth0_logs_webhook<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // The log stream's route is configured under `auth0_logs`.
    let Some(src) = state.sources.get("auth0_logs") else {
        return source_not_configured();
    };
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let records = match auth0::verify(authorization, &body, &src.secrets)
        .and_then(|()| auth0::parse(&body))
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(source = auth0::SOURCE, code = e.code(), "refused: {e}");
            return intake_error(&e);
        }
    };
    let (mut handled, mut skipped, mut retry) = (0u32, 0u32, None);
    for record in records {
        match record {
            Ok(auth0::Auth0Item::Signup(s)) => {
                let hash = fingerprint(&s.request);
                let s = hooks::auth0_signup(&state, src, s).await;
                let h = provision_hashed(&state, Some(src), &s, &hash, state.clock.now()).await;
                handled += 1;
                if let Outcome::RetryLater { .. } = h.outcome {
                    retry = Some(h);
                }
            }
            Ok(auth0::Auth0Item::Ignored { .. }) => skipped += 1,
            Err((log_id, e)) => {
                tracing::warn!(source = auth0::SOURCE, log_id = %log_id, code = e.code(), "record skipped: {e}");
                skipped += 1;
            }
        }
    }
    match retry {
        Some(h) => respond(&h),
        None => (
            StatusCode::OK,
            axum::Json(json!({"status": "accepted", "signups": handled, "skipped": skipped})),
        )
            .into_response(),
    }
}

/// Runs a form's verified, parsed sign-up and answers the form's way.
async fn form_signup<L: SeatLedger, P: Portal>(
    state: &AppState<L, P>,
    source: &str,
    signup: Result<Signup, IntakeError>,
) -> Response {
    match signup {
        Ok(s) => {
            respond_form(&provision(state, state.sources.get(source), &s, state.clock.now()).await)
        }
        Err(e) => {
            tracing::warn!(source, code = e.code(), "refused: {e}");
            intake_error(&e)
        }
    }
}

/// Reads an intake body within [`MAX_BODY_BYTES`].
pub(crate) fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, IntakeError> {
    match body {
        Ok(b) if b.len() <= MAX_BODY_BYTES => Ok(b),
        Ok(_) => Err(IntakeError::BodyTooLarge),
        Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(IntakeError::BodyTooLarge),
        Err(_) => Err(IntakeError::MalformedBody(
            "the body could not be read".into(),
        )),
    }
}

/// Runs one sign-up from a sender adapter through the workflow. The payload
/// fingerprint is taken over the normalised request, so a sender that
/// re-wraps the same sign-up differently (another batch, another envelope)
/// still matches its first delivery. When the portal does not create the
/// member within the deadline and a job queue is wired, the seat is kept and
/// the member queued (202 `accepted`) rather than released: forms such as
/// Survey123 do not resend a refused delivery.
pub(crate) async fn provision<L: SeatLedger, P: Portal>(
    state: &AppState<L, P>,
    src: Option<&Source>,
    signup: &Signup,
    now: UnixMillis,
) -> Handled {
    provision_hashed(state, src, signup, &fingerprint(&signup.request), now).await
}

/// [`provision`] with the payload fingerprint taken elsewhere: for sign-ups
/// completed from a provider's API, the fingerprint is the delivery's own
/// content, so a retry matches even if the profile changed in between.
pub(crate) async fn provision_hashed<L: SeatLedger, P: Portal>(
    state: &AppState<L, P>,
    src: Option<&Source>,
    signup: &Signup,
    hash: &str,
    now: UnixMillis,
) -> Handled {
    state
        .provisioner
        .handle_or_defer(
            &signup.key,
            hash,
            &signup.request,
            &source_overrides(src),
            state.jobs.as_deref(),
            now,
        )
        .await
}

/// What a sender's configuration overrides (its approval setting).
pub(crate) fn source_overrides(src: Option<&Source>) -> Overrides {
    Overrides {
        approval: src.and_then(|s| s.approval),
        ..Overrides::default()
    }
}

/// The payload fingerprint of a normalised value.
pub(crate) fn fingerprint<T: serde::Serialize>(value: &T) -> String {
    payload_hash(&serde_json::to_vec(value).unwrap_or_default())
}

/// The answer for form senders (Typeform, Tally, Survey123). They retry
/// anything but a 2xx (Typeform even disables a webhook on 404/410), so every
/// outcome a retry cannot change is a 2xx with the refusal recorded in the
/// body and the log; only "retry later" is a 503.
pub fn respond_form(handled: &Handled) -> Response {
    let replayed = handled.replayed;
    let body = match &handled.outcome {
        Outcome::RetryLater { .. } => return respond(handled),
        Outcome::Provisioned { pool, username, .. } => {
            json!({"status": "provisioned", "pool": pool, "username": username, "replayed": replayed})
        }
        Outcome::AlreadyMember { pool, username } => {
            json!({"status": "already_member", "pool": pool, "username": username, "replayed": replayed})
        }
        Outcome::Accepted { .. } | Outcome::Pending { .. } | Outcome::Waitlisted { .. } => {
            return respond(handled);
        }
        Outcome::PoolFull { pool, seats } => {
            tracing::info!(pool = %pool, "form sign-up refused: pool full");
            json!({"status": "refused", "code": "pool_full",
                   "message": format!("All {seats} seats of pool {pool} are taken."), "replayed": replayed})
        }
        Outcome::Rejected { code, message } | Outcome::PortalFailed { code, message } => {
            tracing::info!(code = %code, "form sign-up refused");
            json!({"status": "refused", "code": code, "message": message, "replayed": replayed})
        }
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// 404 for a sender that is not switched on.
pub(crate) fn source_not_configured() -> Response {
    intake_error(&IntakeError::SourceNotConfigured)
}

/// Hex SHA-256 of a raw body: the payload fingerprint kept with a delivery.
pub fn payload_hash(body: &[u8]) -> String {
    Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The one mapping from a workflow outcome to HTTP.
///
/// | outcome | status |
/// |---|---|
/// | provisioned | 201 (200 when replayed) |
/// | accepted (seat reserved, member queued) | 202 |
/// | pending approval / waitlisted | 202 |
/// | already a member | 200 |
/// | pool full | 409 `pool_full` |
/// | rejected | 422 with its code |
/// | retry later | 503 + `Retry-After` |
/// | portal refused | 502 with its code |
pub fn respond(handled: &Handled) -> Response {
    let replayed = handled.replayed;
    let (status, body) = match &handled.outcome {
        Outcome::Provisioned {
            pool,
            username,
            invitation,
            adopted,
        } => (
            if replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            },
            json!({"status": "provisioned", "pool": pool, "username": username,
                   "invitation": if *invitation { "email" } else { "password" },
                   "adopted": adopted, "replayed": replayed}),
        ),
        Outcome::Accepted { pool, username } => (
            StatusCode::ACCEPTED,
            json!({"status": "accepted", "pool": pool, "username": username, "replayed": replayed}),
        ),
        Outcome::Pending { pool, request_id } => (
            StatusCode::ACCEPTED,
            json!({"status": "pending", "pool": pool, "request_id": request_id,
                   "message": "Request received, pending approval.", "replayed": replayed}),
        ),
        Outcome::Waitlisted {
            pool,
            request_id,
            position,
        } => (
            StatusCode::ACCEPTED,
            json!({"status": "waitlisted", "pool": pool, "request_id": request_id, "position": position,
                   "message": format!("All seats of pool {pool} are taken; you are number {position} on the waiting list."),
                   "replayed": replayed}),
        ),
        Outcome::AlreadyMember { pool, username } => (
            StatusCode::OK,
            json!({"status": "already_member", "pool": pool, "username": username, "replayed": replayed}),
        ),
        Outcome::PoolFull { pool, seats } => (
            StatusCode::CONFLICT,
            json!({"code": "pool_full", "message": format!("All {seats} seats of pool {pool} are taken."),
                   "pool": pool, "replayed": replayed}),
        ),
        Outcome::Rejected { code, message } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"code": code, "message": message, "replayed": replayed}),
        ),
        Outcome::RetryLater {
            code,
            message,
            retry_after_secs,
        } => {
            let mut r = (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"code": code, "message": message})),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            return r;
        }
        Outcome::PortalFailed { code, message } => (
            StatusCode::BAD_GATEWAY,
            json!({"code": code, "message": message, "replayed": replayed}),
        ),
    };
    (status, axum::Json(body)).into_response()
}

pub(crate) fn intake_error(e: &IntakeError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    error_response(status, e.code(), &e.to_string())
}

/// A JSON error body `{code, message}`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

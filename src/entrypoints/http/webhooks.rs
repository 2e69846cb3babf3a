//! The sign-up webhooks of senders that can wait for the portal: Standard
//! Webhooks (`/webhooks/standard`), Typeform, Tally, Survey123 and the Auth0
//! log stream. Each route reads the request, verifies and parses it through
//! its intake adapter, runs [`Provisioner::sign_up`] and renders the outcome
//! the sender's way.
//!
//! When the portal does not create the member within the deadline and a job
//! queue is wired, the seat is kept and the member queued (202 `accepted`)
//! rather than released: forms such as Survey123 do not resend a refused
//! delivery ([`Creation::InRequestOrQueue`]).
//!
//! [`Provisioner::sign_up`]: crate::provisioning::Provisioner::sign_up

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::errors::{intake_error, reread_refusal, source_not_configured};
use super::render::{self, Reply};
use super::request::{
    fingerprint, header_value, payload_hash, read_body, source_and_body, standard_headers,
};
use super::state::AppState;
use crate::domain::Overrides;
use crate::intake::sources::Source;
use crate::intake::{
    IntakeError, Signup, auth0, signature, standard, survey123, survey123_reread, tally, typeform,
};
use crate::portal::Portal;
use crate::provisioning::{Creation, Handled, Outcome};
use crate::seats::SeatLedger;

/// `POST /webhooks/standard`: Standard Webhooks signed with the broker's
/// keys; the raw body is the payload fingerprint.
pub(crate) async fn standard_webhook<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
    };
    let now = state.clock.now();
    let delivery = match signature::verify(
        standard_headers(&headers),
        &body,
        &state.standard_keys,
        now.div_euclid(1000),
        state.tolerance_secs,
    ) {
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
    let handled = state
        .provisioner
        .sign_up(
            &delivery,
            &payload_hash(&body),
            &request,
            &Overrides::default(),
            in_request_or_queue(&state),
            now,
        )
        .await;
    render::signup(&handled, Reply::Rest)
}

/// `POST /webhooks/typeform`: `Typeform-Signature` over the raw body.
pub(crate) async fn typeform_webhook<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (src, body) = match source_and_body(&state.sources, typeform::SOURCE, body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let signup = typeform::verify(
        header_value(&headers, typeform::SIGNATURE_HEADER),
        &body,
        &src.secrets,
    )
    .and_then(|()| typeform::parse(&body, &src.fields.or(&typeform::default_fields())));
    form_signup(&state, typeform::SOURCE, signup).await
}

/// `POST /webhooks/tally`: `Tally-Signature` over the raw body.
pub(crate) async fn tally_webhook<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (src, body) = match source_and_body(&state.sources, tally::SOURCE, body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let signup = tally::verify(
        header_value(&headers, tally::SIGNATURE_HEADER),
        &body,
        &src.secrets,
    )
    .and_then(|()| tally::parse(&body, &src.fields.or(&tally::default_fields())));
    form_signup(&state, tally::SOURCE, signup).await
}

/// `POST /webhooks/survey123/{token}`: Survey123 cannot sign, so the
/// unguessable path token is the secret. `editData` deliveries are
/// acknowledged and ignored. With the source's `layer_url`, the record is
/// re-read from the survey's layer and only its attributes count
/// ([`survey123_reread`]).
pub(crate) async fn survey123_webhook<L: SeatLedger, P: Portal>(
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
            match survey123_reread::signup(&*state.layers, reread, &body, &fields).await {
                Ok(event) => Ok(event),
                Err(refusal) => return reread_refusal(&refusal, survey123::SOURCE),
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
pub(crate) async fn auth0_logs_webhook<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // The log stream's route is configured under `auth0_logs`.
    let (src, body) = match source_and_body(&state.sources, "auth0_logs", body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let records = match auth0::verify(
        header_value(&headers, header::AUTHORIZATION.as_str()),
        &body,
        &src.secrets,
    )
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
                // The record itself is the fingerprint: a retry matches even
                // when the profile fetched from the API changed in between.
                let hash = fingerprint(&s.request);
                let s = state.profiles.auth0_signup(src, s).await;
                // A batch holds many records inside one function timeout:
                // each is reserved and queued like the identity providers'
                // hooks (issue 13), never created in the request when a
                // queue exists.
                let creation = match state.jobs() {
                    Some(sink) => Creation::Queued(sink),
                    None => Creation::InRequest,
                };
                let h = state
                    .provisioner
                    .sign_up(
                        &s.key,
                        &hash,
                        &s.request,
                        &src.overrides(),
                        creation,
                        state.clock.now(),
                    )
                    .await;
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
        Some(h) => render::signup(&h, Reply::Rest),
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
            let hash = fingerprint(&s.request);
            let handled = sign_up_waiting(state, state.sources.get(source), &s, &hash).await;
            render::signup(&handled, Reply::Form)
        }
        Err(e) => {
            tracing::warn!(source, code = e.code(), "refused: {e}");
            intake_error(&e)
        }
    }
}

/// One sign-up of a sender that can wait for the portal, with its source's
/// overrides; the queue takes over when the portal is slow.
async fn sign_up_waiting<L: SeatLedger, P: Portal>(
    state: &AppState<L, P>,
    src: Option<&Source>,
    signup: &Signup,
    hash: &str,
) -> Handled {
    state
        .provisioner
        .sign_up(
            &signup.key,
            hash,
            &signup.request,
            &src.map(Source::overrides).unwrap_or_default(),
            in_request_or_queue(state),
            state.clock.now(),
        )
        .await
}

/// In the request, with the queue (when there is one) for a slow portal.
fn in_request_or_queue<L, P>(state: &AppState<L, P>) -> Creation<'_> {
    match state.jobs() {
        Some(sink) => Creation::InRequestOrQueue(sink),
        None => Creation::InRequest,
    }
}

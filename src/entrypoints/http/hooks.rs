//! The identity providers' routes, which must answer within 2–3 seconds:
//!
//! - `GET` + `POST /webhooks/okta`: Okta event hook (verification challenge;
//!   batches of events, each handled on its own);
//! - `POST /hooks/okta/registration`: Okta registration inline hook (`ALLOW`,
//!   or `DENY` with the reason shown to the person);
//! - `POST /hooks/entra/attribute-collection`: Entra External ID
//!   `OnAttributeCollectionSubmit` (`continueWithDefaultBehavior`, or
//!   `showBlockPage` with the reason).
//!
//! Each verifies, decides and reserves, then hands the member's creation to
//! the job queue ([`Creation::Queued`]); without a queue it creates the
//! member in the request.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::errors::{intake_error, source_not_configured};
use super::render::{self, Reply};
use super::request::{fingerprint, header_value, read_body, source_and_body};
use super::state::AppState;
use crate::domain::UnixMillis;
use crate::intake::entra::{self, AttributeCollectionReply};
use crate::intake::okta::{self, OktaItem, RegistrationReply};
use crate::intake::reply::HookAnswer;
use crate::intake::sources::Source;
use crate::intake::{IntakeError, Signup};
use crate::portal::Portal;
use crate::provisioning::{Creation, Handled, Outcome};
use crate::seats::SeatLedger;

/// The fast path: reserve and queue when a queue is configured, otherwise
/// the whole workflow in the request.
async fn sign_up_fast<L: SeatLedger, P: Portal>(
    state: &AppState<L, P>,
    src: &Source,
    signup: &Signup,
    hash: &str,
    now: UnixMillis,
) -> Handled {
    let creation = match state.jobs() {
        Some(sink) => Creation::Queued(sink),
        None => Creation::InRequest,
    };
    // The sender's overrides (its approval setting) apply on both paths.
    state
        .provisioner
        .sign_up(
            &signup.key,
            hash,
            &signup.request,
            &src.overrides(),
            creation,
            now,
        )
        .await
}

fn okta_secret<'h>(headers: &'h HeaderMap, src: &Source) -> Option<&'h str> {
    header_value(
        headers,
        src.header.as_deref().unwrap_or(okta::DEFAULT_AUTH_HEADER),
    )
}

/// `GET /webhooks/okta`: Okta's one-time verification.
pub(crate) async fn okta_verification<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
) -> Response {
    let Some(src) = state.sources.get(okta::SOURCE) else {
        return source_not_configured();
    };
    let answer = okta::verify(okta_secret(&headers, src), b"", &src.secrets)
        .and_then(|()| okta::verification_response(header_value(&headers, okta::CHALLENGE_HEADER)));
    match answer {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(e) => {
            tracing::warn!(
                source = okta::SOURCE,
                code = e.code(),
                "verification refused: {e}"
            );
            intake_error(&e)
        }
    }
}

/// `POST /webhooks/okta`: a batch of events. Each user event is handled on
/// its own; `user.session.start` only for people without a seat. Answered
/// 200 unless some event must be retried (503: Okta retries once).
pub(crate) async fn okta_events<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (src, body) = match source_and_body(&state.sources, okta::SOURCE, body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let events = match okta::verify(okta_secret(&headers, src), &body, &src.secrets)
        .and_then(|()| okta::parse_events(&body))
    {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(source = okta::SOURCE, code = e.code(), "refused: {e}");
            return intake_error(&e);
        }
    };
    let fields = src.fields.or(&okta::default_fields());
    let (mut accepted, mut skipped, mut retry) = (0u32, 0u32, None);
    for event in events {
        let ev = match event {
            Ok(OktaItem::User(ev)) => ev,
            Ok(OktaItem::Ignored { .. }) => {
                skipped += 1;
                continue;
            }
            Err((uuid, e)) => {
                tracing::warn!(source = okta::SOURCE, uuid = %uuid, code = e.code(), "event skipped: {e}");
                skipped += 1;
                continue;
            }
        };
        let Some(signup) = state.profiles.okta_signup(src, &ev, &fields).await else {
            skipped += 1;
            continue;
        };
        if ev.only_if_no_seat {
            match state.provisioner.holds_seat(&signup.request).await {
                Ok(true) => {
                    skipped += 1;
                    continue;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!("ledger: {e}");
                    retry = Some(Handled {
                        outcome: Outcome::retry(
                            "store_unavailable",
                            "The seat store is unavailable.",
                            30,
                        ),
                        replayed: false,
                    });
                    continue;
                }
            }
        }
        // The event itself is the fingerprint: a retry matches even when the
        // profile fetched from the API changed in between.
        let hash = fingerprint(&(&ev.key, &ev.event_type, &ev.okta_user_id, &ev.request));
        let handled = sign_up_fast(&state, src, &signup, &hash, state.clock.now()).await;
        accepted += 1;
        if let Outcome::RetryLater { .. } = handled.outcome {
            retry = Some(handled);
        } else {
            tracing::info!(source = okta::SOURCE, event = %ev.key.id, event_type = %ev.event_type, outcome = ?handled.outcome, "okta event handled");
        }
    }
    match retry {
        Some(h) => render::signup(&h, Reply::Rest),
        None => (
            StatusCode::OK,
            axum::Json(json!({"status": "accepted", "signups": accepted, "skipped": skipped})),
        )
            .into_response(),
    }
}

/// `POST /hooks/okta/registration`: ALLOW with a seat reserved, or DENY with
/// the reason. Always 200 once authenticated: Okta wants refusals as
/// commands, not statuses.
pub(crate) async fn okta_registration<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (src, body) = match source_and_body(&state.sources, "okta_registration", body) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let reply = RegistrationReply {
        pending: src.pending_answer,
    };
    let signup = okta::verify(okta_secret(&headers, src), &body, &src.secrets)
        .and_then(|()| okta::parse_registration(&body, &src.fields.or(&okta::default_fields())));
    let signup = match signup {
        Ok(s) => s,
        Err(
            e @ (IntakeError::MissingField(_)
            | IntakeError::UnmappedField { .. }
            | IntakeError::InvalidField { .. }),
        ) => {
            // A sign-up form without what we need: tell the person.
            tracing::info!(
                source = okta::REGISTRATION_SOURCE,
                code = e.code(),
                "registration denied: {e}"
            );
            return render::hook(&reply, &HookAnswer::MissingInformation);
        }
        Err(e) => {
            tracing::warn!(
                source = okta::REGISTRATION_SOURCE,
                code = e.code(),
                "refused: {e}"
            );
            return intake_error(&e);
        }
    };
    let handled = sign_up_fast(
        &state,
        src,
        &signup,
        &fingerprint(&signup.request),
        state.clock.now(),
    )
    .await;
    tracing::info!(source = okta::REGISTRATION_SOURCE, event = %signup.key.id, outcome = ?handled.outcome, "registration answered");
    render::signup(&handled, Reply::Hook(&reply))
}

/// `POST /hooks/entra/attribute-collection`: continue with a seat reserved,
/// or a block page with the reason. 401 for a token that fails verification;
/// 400 for a body that is not an attribute-collection event (not JSON, not
/// UTF-8, empty, truncated, of the wrong shape); 200 with one action
/// otherwise.
pub(crate) async fn entra_attribute_collection<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (Some(src), Some(verifier)) = (state.sources.get(entra::SOURCE), &state.entra) else {
        return source_not_configured();
    };
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
    };
    let now = state.clock.now();
    let claims = match verifier
        .verify(header_value(&headers, header::AUTHORIZATION.as_str()), now)
        .await
    {
        Ok(c) => c,
        Err(e) => return intake_error(&e),
    };
    let signup =
        match entra::parse_verified(&body, &src.fields.or(&entra::default_fields()), &claims) {
            Ok(s) => s,
            Err(e @ IntakeError::BadSignature) => return intake_error(&e),
            Err(e) if entra::is_envelope_error(&e) => return intake_error(&e),
            Err(e) => {
                tracing::info!(
                    source = entra::SOURCE,
                    code = e.code(),
                    "sign-up blocked: {e}"
                );
                return render::hook(&AttributeCollectionReply, &HookAnswer::MissingInformation);
            }
        };
    let handled = sign_up_fast(&state, src, &signup, &fingerprint(&signup.request), now).await;
    tracing::info!(source = entra::SOURCE, correlation = %signup.key.id, outcome = ?handled.outcome, "attribute collection answered");
    render::signup(&handled, Reply::Hook(&AttributeCollectionReply))
}

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
//! the job queue ([`crate::provisioning::Provisioner::accept`]); without a
//! queue it creates the member in the request.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::http::{
    AppState, fingerprint, intake_error, read_body, respond, source_not_configured,
    source_overrides,
};
use crate::config::Secret;
use crate::domain::UnixMillis;
use crate::intake::entra::{self, SubmitDecision};
use crate::intake::okta::{self, OktaItem, OktaUserEvent, RegistrationDecision};
use crate::intake::sources::{PendingAnswer, ProviderApi, Source};
use crate::intake::{IntakeError, Signup, auth0};
use crate::portal::Portal;
use crate::provisioning::{Handled, Outcome};
use crate::seats::SeatLedger;

/// How long a profile look-up may take inside a 3-second hook.
const PROFILE_TIMEOUT: Duration = Duration::from_millis(1200);

/// The fast path: reserve and queue when a queue is configured, otherwise
/// the whole workflow in the request.
pub(crate) async fn accept<L: SeatLedger, P: Portal>(
    state: &AppState<L, P>,
    src: &Source,
    signup: &Signup,
    hash: &str,
    now: UnixMillis,
) -> Handled {
    let overrides = source_overrides(Some(src));
    match &state.jobs {
        Some(sink) => {
            state
                .provisioner
                .accept(
                    &signup.key,
                    hash,
                    &signup.request,
                    &Default::default(),
                    &**sink,
                    now,
                )
                .await
        }
        None => {
            state
                .provisioner
                .handle_with(&signup.key, hash, &signup.request, &overrides, now)
                .await
        }
    }
}

fn okta_secret<'h>(headers: &'h HeaderMap, src: &Source) -> Option<&'h str> {
    let name = src.header.as_deref().unwrap_or(okta::DEFAULT_AUTH_HEADER);
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `GET /webhooks/okta`: Okta's one-time verification.
pub(crate) async fn okta_verification<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
) -> Response {
    let Some(src) = state.sources.get(okta::SOURCE) else {
        return source_not_configured();
    };
    let answer = okta::verify(okta_secret(&headers, src), b"", &src.secrets).and_then(|()| {
        okta::verification_response(
            headers
                .get(okta::CHALLENGE_HEADER)
                .and_then(|v| v.to_str().ok()),
        )
    });
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
    let Some(src) = state.sources.get(okta::SOURCE) else {
        return source_not_configured();
    };
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
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
        let Some(signup) = okta_signup(&state, src, &ev, &fields).await else {
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
        let handled = accept(&state, src, &signup, &hash, state.clock.now()).await;
        accepted += 1;
        if let Outcome::RetryLater { .. } = handled.outcome {
            retry = Some(handled);
        } else {
            tracing::info!(source = okta::SOURCE, event = %ev.key.id, event_type = %ev.event_type, outcome = ?handled.outcome, "okta event handled");
        }
    }
    match retry {
        Some(h) => respond(&h),
        None => (
            StatusCode::OK,
            axum::Json(json!({"status": "accepted", "signups": accepted, "skipped": skipped})),
        )
            .into_response(),
    }
}

/// The sign-up of one user event: from the Okta users API when configured
/// (events carry no profile), else from the event alone.
async fn okta_signup<L: SeatLedger, P: Portal>(
    state: &AppState<L, P>,
    src: &Source,
    ev: &OktaUserEvent,
    fields: &crate::intake::FieldMap,
) -> Option<Signup> {
    match (&src.api, http_client(state)) {
        (Some(api), Some(http)) => match fetch_okta_profile(http, api, &ev.okta_user_id).await {
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

/// The shared outbound client; `None` (logged) if TLS cannot be set up.
fn http_client<L, P>(state: &AppState<L, P>) -> Option<&reqwest::Client> {
    if let Some(c) = state.http.client.get() {
        return Some(c);
    }
    match reqwest::Client::builder().build() {
        Ok(c) => Some(state.http.client.get_or_init(|| c)),
        Err(e) => {
            tracing::error!("outbound HTTP client: {}", e.without_url());
            None
        }
    }
}

/// `GET {base}/api/v1/users/{id}` with the API token (`SSWS`).
async fn fetch_okta_profile(
    http: &reqwest::Client,
    api: &ProviderApi,
    user_id: &str,
) -> Result<Value, String> {
    if user_id.is_empty() || !user_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("the event's user id is not an Okta id".into());
    }
    let url = format!("{}/api/v1/users/{user_id}", api.base);
    let response = http
        .get(url)
        .header(
            header::AUTHORIZATION,
            format!("SSWS {}", api.token.expose()),
        )
        .header(header::ACCEPT, "application/json")
        .timeout(PROFILE_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("request failed: {}", e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    response
        .json::<Value>()
        .await
        .map_err(|e| format!("not JSON: {}", e.without_url()))
}

/// An Auth0 log stream sign-up completed from the Management API when it is
/// configured (log records carry no names); otherwise as it came, which the
/// log says.
pub(crate) async fn auth0_signup<L: SeatLedger, P: Portal>(
    state: &AppState<L, P>,
    src: &Source,
    signup: Signup,
) -> Signup {
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
    match fetch_auth0_user(state, api, &user_id).await {
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
async fn fetch_auth0_user<L, P>(
    state: &AppState<L, P>,
    api: &ProviderApi,
    user_id: &str,
) -> Result<Value, String> {
    let http = http_client(state).ok_or("no HTTP client")?;
    let token = auth0_token(state, http, api).await?;
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
        *state.http.auth0_token.lock().await = None;
    }
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    response
        .json::<Value>()
        .await
        .map_err(|e| format!("not JSON: {}", e.without_url()))
}

async fn auth0_token<L, P>(
    state: &AppState<L, P>,
    http: &reqwest::Client,
    api: &ProviderApi,
) -> Result<Secret, String> {
    let mut cached = state.http.auth0_token.lock().await;
    if let Some((token, until)) = cached.as_ref()
        && std::time::Instant::now() < *until
    {
        return Ok(token.clone());
    }
    let (client_id, client_secret) = api
        .token
        .expose()
        .split_once(':')
        .ok_or("the Auth0 client is not client_id:client_secret")?;
    let response = http
        .post(format!("{}/oauth/token", api.base))
        .json(&json!({
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "audience": format!("{}/api/v2/", api.base),
        }))
        .timeout(PROFILE_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("token request failed: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("token request: HTTP {}", response.status()));
    }
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("token answer not JSON: {}", e.without_url()))?;
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or("token answer without access_token")?;
    let lifetime = body
        .get("expires_in")
        .and_then(Value::as_u64)
        .unwrap_or(3600);
    let until =
        std::time::Instant::now() + Duration::from_secs(lifetime.saturating_sub(60).max(30));
    let token = Secret::new(token);
    *cached = Some((token.clone(), until));
    Ok(token)
}

/// Percent-encodes a path segment (Auth0 ids contain `|`).
fn url_escape(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `POST /hooks/okta/registration`: ALLOW with a seat reserved, or DENY with
/// the reason. Always 200 once authenticated: Okta wants refusals as
/// commands, not statuses.
pub(crate) async fn okta_registration<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(src) = state.sources.get("okta_registration") else {
        return source_not_configured();
    };
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
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
            return registration_answer(&RegistrationDecision::Deny {
                summary: "Your sign-up is missing information we need (e-mail address).".into(),
                reason: "INVALID_PROFILE".into(),
                location: "data.userProfile.email".into(),
            });
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
    let handled = accept(
        &state,
        src,
        &signup,
        &fingerprint(&signup.request),
        state.clock.now(),
    )
    .await;
    let decision = match &handled.outcome {
        Outcome::Accepted { .. } | Outcome::Provisioned { .. } | Outcome::AlreadyMember { .. } => {
            RegistrationDecision::Allow
        }
        Outcome::Pending { .. } => match src.pending_answer {
            PendingAnswer::Allow => RegistrationDecision::Allow,
            PendingAnswer::Deny => RegistrationDecision::Deny {
                summary: "Your request was received and is pending approval. You will be told when it is decided.".into(),
                reason: "PENDING_APPROVAL".into(),
                location: "data.userProfile.email".into(),
            },
        },
        Outcome::Waitlisted { position, .. } => RegistrationDecision::Deny {
            summary: format!("All seats for your organization are taken; you are number {position} on the waiting list."),
            reason: "WAITLISTED".into(),
            location: "data.userProfile.organization".into(),
        },
        Outcome::PoolFull { .. } => RegistrationDecision::NoSeatsLeft,
        Outcome::Rejected { code, .. } if code == "no_matching_pool" => {
            RegistrationDecision::NotEligible
        }
        Outcome::RetryLater { .. } => RegistrationDecision::Deny {
            summary: "Sign-up is temporarily unavailable. Please try again in a few minutes."
                .into(),
            reason: "TEMPORARILY_UNAVAILABLE".into(),
            location: "data.userProfile.email".into(),
        },
        Outcome::Rejected { .. } | Outcome::PortalFailed { .. } => RegistrationDecision::Deny {
            summary: "Your sign-up could not be accepted. Please contact the administrator.".into(),
            reason: "NOT_ACCEPTED".into(),
            location: "data.userProfile.email".into(),
        },
    };
    tracing::info!(source = okta::REGISTRATION_SOURCE, event = %signup.key.id, outcome = ?handled.outcome, "registration answered");
    registration_answer(&decision)
}

fn registration_answer(decision: &RegistrationDecision) -> Response {
    (
        StatusCode::OK,
        axum::Json(okta::registration_response(decision)),
    )
        .into_response()
}

/// `POST /hooks/entra/attribute-collection`: continue with a seat reserved,
/// or a block page with the reason. 401 for a token that fails verification;
/// 200 with one action otherwise.
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
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let claims = match verifier.verify(authorization, now).await {
        Ok(c) => c,
        Err(e) => return intake_error(&e),
    };
    let signup =
        match entra::parse_verified(&body, &src.fields.or(&entra::default_fields()), &claims) {
            Ok(s) => s,
            Err(e @ IntakeError::BadSignature) => return intake_error(&e),
            Err(e) => {
                tracing::info!(
                    source = entra::SOURCE,
                    code = e.code(),
                    "sign-up blocked: {e}"
                );
                return entra_answer(&SubmitDecision::Block(
                "Your sign-up is missing information we need. Please contact the administrator."
                    .into(),
            ));
            }
        };
    let handled = accept(&state, src, &signup, &fingerprint(&signup.request), now).await;
    tracing::info!(source = entra::SOURCE, correlation = %signup.key.id, outcome = ?handled.outcome, "attribute collection answered");
    entra_answer(&match &handled.outcome {
        Outcome::Accepted { .. } | Outcome::Provisioned { .. } | Outcome::AlreadyMember { .. } => {
            SubmitDecision::Continue
        }
        Outcome::Pending { .. } => SubmitDecision::Block(
            "Request received, pending approval. You will be told by e-mail when it is decided."
                .into(),
        ),
        Outcome::Waitlisted { position, .. } => SubmitDecision::Block(format!(
            "All seats for your organization are taken; you are number {position} on the waiting list."
        )),
        Outcome::PoolFull { .. } => SubmitDecision::Block(
            "No seats are left for your organization. Please contact your coordinator.".into(),
        ),
        Outcome::Rejected { code, .. } if code == "no_matching_pool" => SubmitDecision::Block(
            "Sign-up is not open for your organization or e-mail address.".into(),
        ),
        Outcome::RetryLater { .. } => SubmitDecision::Block(
            "Sign-up is temporarily unavailable. Please try again in a few minutes.".into(),
        ),
        Outcome::Rejected { .. } | Outcome::PortalFailed { .. } => SubmitDecision::Block(
            "Your sign-up could not be accepted. Please contact the administrator.".into(),
        ),
    })
}

fn entra_answer(decision: &SubmitDecision) -> Response {
    (StatusCode::OK, axum::Json(decision.to_json())).into_response()
}

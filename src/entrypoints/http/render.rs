//! The one place a workflow result becomes an HTTP answer.
//!
//! A sign-up's [`Outcome`] is answered in one of three ways, chosen by the
//! route ([`Reply`]): as REST (the status says it all), as a form sender
//! wants it (2xx for anything a retry cannot change), or as an identity
//! provider's hook wants it (200 with a command in the sender's own
//! format, which its adapter provides as data: [`HookReply`]). A
//! decision's [`DecisionOutcome`] likewise ([`DecisionReply`]): JSON, the
//! same for Survey123 (2xx for anything a retry cannot change), a
//! confirmation page, a Slack message, or the administrator's page.
//!
//! | outcome | REST | form | hook |
//! |---|---|---|---|
//! | provisioned | 201 (200 when replayed) | 200 | admitted |
//! | accepted (seat reserved, member queued) | 202 | 202 | admitted |
//! | pending approval / waitlisted | 202 | 202 | pending / waitlisted |
//! | already a member | 200 | 200 | admitted |
//! | pool full | 409 `pool_full` | 200 `refused` | pool full |
//! | rejected | 422 with its code | 200 `refused` | not eligible / not accepted |
//! | retry later | 503 + `Retry-After` | 503 + `Retry-After` | try later |
//! | portal refused | 502 with its code | 200 `refused` | not accepted |

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::admin::html::Flash;
use super::errors::error_response;
use super::pages::{esc, page};
use crate::domain::Verdict;
use crate::intake::reply::{HookAnswer, HookReply};
use crate::intake::slack;
use crate::provisioning::{DecisionOutcome, Handled, Outcome};

/// How a sender wants a sign-up's outcome answered.
#[derive(Clone, Copy)]
pub(crate) enum Reply<'a> {
    /// The status says it all (Standard Webhooks, and a log-stream batch
    /// that must be retried).
    Rest,
    /// Form senders (Typeform, Tally, Survey123) retry anything but a 2xx
    /// (Typeform even disables a webhook on 404/410), so every outcome a
    /// retry cannot change is a 2xx with the refusal in the body and the
    /// log; only "retry later" is a 503.
    Form,
    /// An identity provider's hook: always 200 once authenticated, with
    /// the sender's own command; the sender wants refusals as commands, not
    /// statuses.
    Hook(&'a dyn HookReply),
}

/// Answers a sign-up's outcome the way the sender wants it.
pub(crate) fn signup(handled: &Handled, reply: Reply<'_>) -> Response {
    match reply {
        Reply::Rest => rest(handled),
        Reply::Form => form(handled),
        Reply::Hook(r) => hook(r, &hook_answer(&handled.outcome)),
    }
}

/// The hook answer of an outcome.
pub(crate) fn hook_answer(outcome: &Outcome) -> HookAnswer {
    match outcome {
        Outcome::Accepted { .. } | Outcome::Provisioned { .. } | Outcome::AlreadyMember { .. } => {
            HookAnswer::Admitted
        }
        Outcome::Pending { .. } => HookAnswer::PendingApproval,
        Outcome::Waitlisted { position, .. } => HookAnswer::Waitlisted {
            position: *position,
        },
        Outcome::PoolFull { .. } => HookAnswer::PoolFull,
        Outcome::Rejected { code, .. } if code == "no_matching_pool" => HookAnswer::NotEligible,
        Outcome::RetryLater { .. } => HookAnswer::TryLater,
        Outcome::Rejected { .. } | Outcome::PortalFailed { .. } => HookAnswer::NotAccepted,
    }
}

/// A hook's answer: 200 with the sender's command.
pub(crate) fn hook(reply: &dyn HookReply, answer: &HookAnswer) -> Response {
    (StatusCode::OK, axum::Json(reply.reply(answer))).into_response()
}

/// The REST answer (see the module's table).
fn rest(handled: &Handled) -> Response {
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

/// The form senders' answer (see [`Reply::Form`]).
fn form(handled: &Handled) -> Response {
    let replayed = handled.replayed;
    let body = match &handled.outcome {
        Outcome::RetryLater { .. }
        | Outcome::Accepted { .. }
        | Outcome::Pending { .. }
        | Outcome::Waitlisted { .. } => return rest(handled),
        Outcome::Provisioned { pool, username, .. } => {
            json!({"status": "provisioned", "pool": pool, "username": username, "replayed": replayed})
        }
        Outcome::AlreadyMember { pool, username } => {
            json!({"status": "already_member", "pool": pool, "username": username, "replayed": replayed})
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

/// How a decision on a request is answered.
#[derive(Clone, Copy)]
pub(crate) enum DecisionReply<'a> {
    /// JSON with a status per outcome (signed decisions).
    Json,
    /// JSON, but 200 for "already decided" and "not found": Survey123
    /// retries anything but a 2xx, so refusals go in the body.
    Survey123,
    /// The confirmation page of a one-time link.
    Page,
    /// A Slack message naming the request and the approver.
    Slack {
        /// The request id.
        request_id: &'a str,
        /// The Slack user who pressed the button.
        user: &'a str,
    },
    /// The administrator's page: a redirect that shows the result once.
    Admin {
        /// The request id (for the log).
        request_id: &'a str,
    },
}

/// Answers a decision the way its channel wants it.
pub(crate) fn decision(outcome: &DecisionOutcome, reply: DecisionReply<'_>) -> Response {
    match reply {
        DecisionReply::Json => decision_json(outcome),
        DecisionReply::Survey123 => {
            let mut r = decision_json(outcome);
            if r.status() == StatusCode::CONFLICT || r.status() == StatusCode::NOT_FOUND {
                *r.status_mut() = StatusCode::OK;
            }
            r
        }
        DecisionReply::Page => decision_page(outcome),
        DecisionReply::Slack { request_id, user } => {
            slack_text(&decision_slack_text(outcome, request_id, user))
        }
        DecisionReply::Admin { request_id } => {
            let flash = admin_flash(outcome, request_id);
            see_other(&format!("/admin?{}", flash.query()))
        }
    }
}

/// A Slack message (ephemeral: only the person who pressed sees it).
pub(crate) fn slack_text(text: &str) -> Response {
    (StatusCode::OK, axum::Json(slack::reply(text))).into_response()
}

/// 303 to `to`: after a POST the browser GETs the next page.
pub(crate) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

fn decision_json(outcome: &DecisionOutcome) -> Response {
    match outcome {
        DecisionOutcome::Decided { request, verdict } => (
            StatusCode::OK,
            axum::Json(json!({"status": "decided", "request_id": request.id,
                              "decision": verdict.as_str(), "state": request.state.as_str()})),
        )
            .into_response(),
        DecisionOutcome::AlreadyDecided { state } => (
            StatusCode::CONFLICT,
            axum::Json(json!({"code": "already_decided", "state": state.as_str(),
                              "message": format!("This request was already decided ({}); nothing changed.", state.as_str().to_lowercase())})),
        )
            .into_response(),
        DecisionOutcome::Expired => error_response(
            StatusCode::CONFLICT,
            "request_expired",
            "This request expired before the decision; nothing changed.",
        ),
        DecisionOutcome::NotFound => {
            error_response(StatusCode::NOT_FOUND, "request_not_found", "No such request.")
        }
        DecisionOutcome::PoolFull => error_response(
            StatusCode::CONFLICT,
            "pool_full",
            "The pool is full; nothing changed. Decide again when a seat frees.",
        ),
        DecisionOutcome::DeliveryReused => error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "delivery_id_reused",
            "This delivery id was already used with a different body; nothing changed.",
        ),
        DecisionOutcome::Unavailable(e) => {
            tracing::error!("decision: {e}");
            let mut r = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "The decision could not be recorded; try again.",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(30));
            r
        }
    }
}

fn decision_page(outcome: &DecisionOutcome) -> Response {
    match outcome {
        DecisionOutcome::Decided { verdict, .. } => page(
            StatusCode::OK,
            "Done",
            &format!(
                "<p>The request was {}.</p>",
                match verdict {
                    Verdict::Approve => "approved; the ArcGIS account is being created",
                    Verdict::Deny => "denied",
                }
            ),
        ),
        DecisionOutcome::AlreadyDecided { state } => page(
            StatusCode::CONFLICT,
            "Already decided",
            &format!(
                "<p>This request was already decided ({}). Nothing changed.</p>",
                esc(&state.as_str().to_lowercase())
            ),
        ),
        DecisionOutcome::Expired => page(
            StatusCode::CONFLICT,
            "Expired",
            "<p>This request expired. Nothing changed.</p>",
        ),
        DecisionOutcome::NotFound => page(
            StatusCode::NOT_FOUND,
            "No such request",
            "<p>This request does not exist.</p>",
        ),
        DecisionOutcome::PoolFull => page(
            StatusCode::CONFLICT,
            "Pool full",
            "<p>The pool is full. Nothing changed; decide again when a seat frees.</p>",
        ),
        // Only signed webhook decisions are deliveries.
        DecisionOutcome::DeliveryReused => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not accepted",
            "<p>This decision was already used. Nothing changed.</p>",
        ),
        DecisionOutcome::Unavailable(e) => {
            tracing::error!("link decision: {e}");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "<p>The decision could not be recorded. Try again in a minute.</p>",
            )
        }
    }
}

fn decision_slack_text(outcome: &DecisionOutcome, id: &str, user: &str) -> String {
    match outcome {
        DecisionOutcome::Decided { verdict, .. } => format!(
            "Request {id} {} by <@{user}>.",
            match verdict {
                Verdict::Approve => "approved",
                Verdict::Deny => "denied",
            }
        ),
        DecisionOutcome::AlreadyDecided { state } => format!(
            "Request {id} was already decided ({}). Nothing changed.",
            state.as_str().to_lowercase()
        ),
        DecisionOutcome::Expired => format!("Request {id} had expired. Nothing changed."),
        DecisionOutcome::NotFound => format!("Request {id} does not exist."),
        DecisionOutcome::PoolFull => {
            format!("Pool full: request {id} stays pending until a seat frees.")
        }
        DecisionOutcome::DeliveryReused => {
            format!("Request {id}: this decision was already used. Nothing changed.")
        }
        DecisionOutcome::Unavailable(e) => {
            tracing::error!("slack decision: {e}");
            format!("Request {id}: the decision could not be recorded; try again.")
        }
    }
}

fn admin_flash(outcome: &DecisionOutcome, id: &str) -> Flash {
    match outcome {
        DecisionOutcome::Decided {
            verdict: Verdict::Approve,
            ..
        } => Flash::Approved,
        DecisionOutcome::Decided {
            verdict: Verdict::Deny,
            ..
        } => Flash::Denied,
        DecisionOutcome::AlreadyDecided { state } => Flash::AlreadyDecided(state.as_str()),
        DecisionOutcome::Expired => Flash::Expired,
        DecisionOutcome::NotFound => Flash::NotFound,
        DecisionOutcome::PoolFull => Flash::PoolFull,
        DecisionOutcome::DeliveryReused => Flash::NotFound,
        DecisionOutcome::Unavailable(why) => {
            tracing::error!(request = %id, "admin decision failed: {why}");
            Flash::Unavailable
        }
    }
}

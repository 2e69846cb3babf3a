//! Every way a decision on a pending request can arrive, each verified:
//!
//! - `POST /approvals/{id}`: Standard Webhooks signed with the approval
//!   keys (`APPROVAL_WEBHOOK_SECRETS`, never the sign-up keys), body
//!   `{"request_id": "…", "decision": "approve"|"deny", "approver": "…",
//!   "comment": "…"}` whose `request_id` must be the path's, for Power
//!   Automate Approvals, scripts, other systems; single use: its
//!   `webhook-id` is a delivery (a retry is answered again, a reuse with
//!   another body refused);
//! - `GET`/`POST /approvals/{id}/link`: one-time signed links from the
//!   notification. The GET only renders a confirmation page (mail scanners
//!   open links); its POST decides. Single use comes from the ledger's
//!   conditional transition; links expire with the request;
//! - `POST /approvals/slack`: Slack interactive buttons (`X-Slack-Signature`
//!   v0, approver allow-list), answered at once: the member's creation is
//!   queued;
//! - `POST /webhooks/survey123-approvals/{token}`: a Survey123 approval
//!   survey's `editData` on the request record, whose status field says
//!   approved or denied; with `layer_url` the record is re-read from the
//!   survey's layer and its editor must be an allowed approver.
//!
//! Each route verifies and parses through intake, calls
//! [`Provisioner::decide_request`] and renders the result its channel's
//! way. A decision on a request already decided or expired changes nothing
//! and says so (409).
//!
//! [`Provisioner::decide_request`]: crate::provisioning::Provisioner::decide_request

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::errors::{intake_error, reread_refusal, source_not_configured};
use super::pages::{esc, page};
use super::render::{self, DecisionReply};
use super::request::{header_value, payload_hash, read_body, standard_headers};
use super::state::AppState;
use crate::domain::{DeliveryKey, UnixMillis, Verdict};
use crate::intake::approvals::parse_signed_decision;
use crate::intake::{
    IntakeError, signature, slack, static_secret_matches, survey123, survey123_reread,
};
use crate::portal::Portal;
use crate::seats::SeatLedger;

/// `POST /approvals/{id}`, signed as Standard Webhooks.
pub(crate) async fn signed_decision<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let keys = &state.approval_routes.webhook_keys;
    if keys.is_empty() {
        return source_not_configured();
    }
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
    };
    let now = state.clock.now();
    let delivery = match signature::verify(
        standard_headers(&headers),
        &body,
        keys,
        now.div_euclid(1000),
        state.tolerance_secs,
    ) {
        Ok(d) => DeliveryKey {
            source: "approval".into(),
            id: d.id,
        },
        Err(e) => {
            tracing::warn!(code = e.code(), "approval webhook refused: {e}");
            return intake_error(&e);
        }
    };
    let decision = match parse_signed_decision(&body, &id) {
        Ok(d) => d,
        Err(e) => return intake_error(&e),
    };
    let delivered = state
        .provisioner
        .decide_delivered(
            &delivery,
            &payload_hash(&body),
            &decision.request_id,
            decision.verdict,
            &format!("webhook:{}", decision.approver),
            decision.comment.as_deref(),
            state.jobs(),
            now,
        )
        .await;
    if delivered.replayed {
        tracing::info!(delivery = %delivery.as_string(), "signed decision answered again (replay)");
    }
    render::decision(&delivered.outcome, DecisionReply::Json)
}

/// The query (GET) or form (POST) of a link.
#[derive(Debug, Deserialize)]
pub(crate) struct LinkParams {
    decision: String,
    exp: i64,
    sig: String,
}

fn checked_link<L, P>(
    state: &AppState<L, P>,
    id: &str,
    p: &LinkParams,
    now: UnixMillis,
) -> Result<Verdict, Box<Response>> {
    let Some(signer) = state.approval_routes.links.as_ref() else {
        return Err(Box::new(page(
            StatusCode::NOT_FOUND,
            "Not available",
            "<p>Approval links are not enabled.</p>",
        )));
    };
    let verdict = Verdict::parse(&p.decision);
    match verdict {
        Some(v) if signer.check(id, v, p.exp, &p.sig, now) => Ok(v),
        _ => Err(Box::new(page(
            StatusCode::FORBIDDEN,
            "Link not valid",
            "<p>This link is not valid or has expired. Use the administrator's page instead.</p>",
        ))),
    }
}

/// `GET /approvals/{id}/link`: a confirmation page only; nothing changes.
pub(crate) async fn link_page<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    Path(id): Path<String>,
    Query(p): Query<LinkParams>,
) -> Response {
    let now = state.clock.now();
    let verdict = match checked_link(&state, &id, &p, now) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let v = match state.provisioner.request_view(&id).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            return page(
                StatusCode::NOT_FOUND,
                "No such request",
                "<p>This request does not exist.</p>",
            );
        }
        Err(e) => {
            tracing::error!("link page: {e}");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "<p>The request could not be read. Try again in a minute.</p>",
            );
        }
    };
    let name = [v.first_name.as_deref(), v.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let action = match verdict {
        Verdict::Approve => "Approve",
        Verdict::Deny => "Deny",
    };
    let body = format!(
        "<dl><dt>Person</dt><dd>{name} &lt;{email}&gt;</dd><dt>Organization</dt><dd>{org}</dd>\
<dt>Pool</dt><dd>{pool}</dd><dt>Gets</dt><dd>{role}, {ut}</dd><dt>State</dt><dd>{st}</dd></dl>\
<form method=\"post\" action=\"/approvals/{id}/link\">\
<input type=\"hidden\" name=\"decision\" value=\"{d}\"><input type=\"hidden\" name=\"exp\" value=\"{exp}\">\
<input type=\"hidden\" name=\"sig\" value=\"{sig}\"><button type=\"submit\">{action} this request</button></form>",
        name = esc(&name),
        email = esc(&v.email),
        org = esc(v.organization.as_deref().unwrap_or("-")),
        pool = esc(&v.pool),
        role = esc(&v.role),
        ut = esc(&v.user_type),
        st = esc(&v.state.as_str().to_lowercase()),
        id = esc(&id),
        d = verdict.as_str(),
        exp = p.exp,
        sig = esc(&p.sig),
    );
    page(StatusCode::OK, &format!("{action} access?"), &body)
}

/// `POST /approvals/{id}/link`: decides, once.
pub(crate) async fn link_decide<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    Path(id): Path<String>,
    axum::Form(p): axum::Form<LinkParams>,
) -> Response {
    let now = state.clock.now();
    let verdict = match checked_link(&state, &id, &p, now) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let outcome = state
        .provisioner
        .decide_request(&id, verdict, "link", None, state.jobs(), now)
        .await;
    render::decision(&outcome, DecisionReply::Page)
}

/// `POST /approvals/slack`: an interactive button (`block_actions`) whose
/// `action_id` is `approve` or `deny` and whose `value` is the request id.
pub(crate) async fn slack_action<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(slack_config) = state.approval_routes.slack.as_ref() else {
        return source_not_configured();
    };
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
    };
    let now = state.clock.now();
    if let Err(e) = slack::verify_slack(
        header_value(&headers, "x-slack-request-timestamp"),
        header_value(&headers, "x-slack-signature"),
        &body,
        &slack_config.signing_secrets,
        now.div_euclid(1000),
    ) {
        tracing::warn!(code = e.code(), "slack action refused: {e}");
        return intake_error(&e);
    }
    let action = match slack::parse_action(&body) {
        Ok(a) => a,
        Err(e) => return intake_error(&e),
    };
    let user = action.user.as_str();
    if !slack_config.approvers.iter().any(|a| a == user) {
        tracing::warn!(user = %user, "slack user not in the approver list");
        return render::slack_text(&format!(
            "<@{user}> is not allowed to decide access requests. Nothing changed."
        ));
    }
    let outcome = state
        .provisioner
        .decide_request(
            &action.request_id,
            action.verdict,
            &format!("slack:{user}"),
            None,
            state.jobs(),
            now,
        )
        .await;
    render::decision(
        &outcome,
        DecisionReply::Slack {
            request_id: &action.request_id,
            user,
        },
    )
}

/// `POST /webhooks/survey123-approvals/{token}`: the approval survey's
/// `editData` on the request record. Fields: `request_id`, `status`
/// (approved/denied; anything else decides nothing), `comment`, and who
/// decided.
///
/// With the source's `layer_url` the record is re-read from the approval
/// survey's layer ([`survey123_reread`]): every field comes from the record,
/// the approver is its editor-tracking field (`editor_field`, default
/// `Editor`), and with `approvers` configured anyone else is refused 403
/// `approver_not_allowed`. Without it the payload's `approver` attribute is
/// taken at its word: the path token is then the only proof.
pub(crate) async fn survey123_decision<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    Path(token): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    const SOURCE: &str = "survey123_approvals";
    let Some(src) = state.sources.get(SOURCE) else {
        return source_not_configured();
    };
    if !static_secret_matches(&token, &src.secrets) {
        return intake_error(&IntakeError::BadSignature);
    }
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return intake_error(&IntakeError::MalformedBody(e.to_string())),
    };
    if value["eventType"].as_str() != Some(survey123::EDIT_EVENT) {
        return (
            StatusCode::OK,
            axum::Json(json!({"status": "ignored", "reason": "only editData carries a decision"})),
        )
            .into_response();
    }
    let record = match &src.reread {
        Some(reread) => match survey123_reread::approval(&*state.layers, reread, &body).await {
            Ok(d) => d,
            Err(refusal) => return reread_refusal(&refusal, SOURCE),
        },
        None => survey123_reread::approval_record_from_payload(&value),
    };
    let (Some(id), Some(status)) = (record.request_id, record.status) else {
        return intake_error(&IntakeError::MissingField("request_id/status"));
    };
    let Some(verdict) = Verdict::parse(&status) else {
        // Still pending or another value: nothing to decide.
        return (
            StatusCode::OK,
            axum::Json(
                json!({"status": "ignored", "reason": "the status is not approved or denied"}),
            ),
        )
            .into_response();
    };
    let approver = match &src.reread {
        Some(reread) => match survey123_reread::approver(reread, record.editor.as_deref()) {
            Ok(a) => a,
            Err(refusal) => return reread_refusal(&refusal, SOURCE),
        },
        None => record.editor.unwrap_or_else(|| "survey123".into()),
    };
    let outcome = state
        .provisioner
        .decide_request(
            &id,
            verdict,
            &format!("survey123:{approver}"),
            record.comment.as_deref(),
            state.jobs(),
            state.clock.now(),
        )
        .await;
    render::decision(&outcome, DecisionReply::Survey123)
}

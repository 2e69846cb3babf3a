//! Every way a decision on a pending request can arrive, each verified:
//!
//! - `POST /approvals/{id}`: Standard Webhooks signed (the broker's keys),
//!   body `{"decision": "approve"|"deny", "approver": "…", "comment": "…"}`,
//!   for Power Automate Approvals, scripts, other systems;
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
//! A decision on a request already decided or expired changes nothing and
//! says so (409).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use super::http::{
    AppState, error_response, intake_error, protect_page, read_body, source_not_configured,
    verify_standard,
};
use super::survey123_reread::{self, RecordDecision};
use crate::config::Secret;
use crate::domain::{UnixMillis, Verdict};
use crate::ids::{hex, unhex_mac};
use crate::intake::{IntakeError, static_secret_matches, survey123};
use crate::notify::links::LinkSigner;
use crate::portal::Portal;
use crate::provisioning::{DecisionOutcome, view};
use crate::queue::JobSink;
use crate::seats::SeatLedger;

/// How decisions may arrive besides signed webhooks.
#[derive(Clone, Default)]
pub struct ApprovalConfig {
    /// Signs and checks the one-time links.
    pub links: Option<Arc<LinkSigner>>,
    /// Slack interactive buttons.
    pub slack: Option<SlackApprovals>,
}

/// Slack's signing secret(s) and who may decide.
#[derive(Clone, Debug)]
pub struct SlackApprovals {
    /// Signing secrets (several for rotation).
    pub signing_secrets: Vec<Secret>,
    /// Slack user ids allowed to decide (`U012ABCDEF`).
    pub approvers: Vec<String>,
}

fn sink<L, P>(state: &AppState<L, P>) -> Option<&dyn JobSink> {
    state.jobs.as_deref()
}

/// The JSON answer for a decision.
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

/// Body of a signed decision.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    decision: String,
    approver: String,
    #[serde(default)]
    comment: Option<String>,
}

/// `POST /approvals/{id}`, signed as Standard Webhooks.
pub(crate) async fn signed_decision<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
    };
    let now = state.clock.now();
    if let Err(e) = verify_standard(&state, &headers, &body, now) {
        tracing::warn!(code = e.code(), "approval webhook refused: {e}");
        return intake_error(&e);
    }
    let parsed: DecisionBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return intake_error(&IntakeError::MalformedBody(e.to_string())),
    };
    let Some(verdict) = Verdict::parse(&parsed.decision) else {
        return intake_error(&IntakeError::InvalidField {
            field: "decision",
            reason: "must be approve or deny".into(),
        });
    };
    let approver = match crate::intake::clean_text("approver", Some(&parsed.approver)) {
        Ok(Some(a)) => a,
        Ok(None) => return intake_error(&IntakeError::MissingField("approver")),
        Err(e) => return intake_error(&e),
    };
    let comment = match crate::intake::clean_text("comment", parsed.comment.as_deref()) {
        Ok(c) => c,
        Err(e) => return intake_error(&e),
    };
    let outcome = state
        .provisioner
        .decide_request(
            &id,
            verdict,
            &format!("webhook:{approver}"),
            comment.as_deref(),
            sink(&state),
            now,
        )
        .await;
    decision_json(&outcome)
}

/// The query (GET) or form (POST) of a link.
#[derive(Debug, Deserialize)]
pub(crate) struct LinkParams {
    decision: String,
    exp: i64,
    sig: String,
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t}</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
button{{font-size:1.1rem;padding:.6rem 1.2rem}}dt{{font-weight:600}}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    );
    let mut r = (status, Html(html)).into_response();
    protect_page(
        &mut r,
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    );
    r
}

/// HTML-escapes text.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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
    let record = match state.provisioner.ledger().request(&id).await {
        Ok(Some(r)) => r,
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
    let v = view(&record);
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
        .decide_request(&id, verdict, "link", None, sink(&state), now)
        .await;
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

/// Largest clock difference accepted on Slack's signed timestamp.
const SLACK_TOLERANCE_SECS: i64 = 300;

/// Checks `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{ts}:{body}")>`.
pub fn verify_slack(
    timestamp: Option<&str>,
    presented: Option<&str>,
    body: &[u8],
    secrets: &[Secret],
    now_secs: i64,
) -> Result<(), IntakeError> {
    let ts_text = timestamp.ok_or(IntakeError::MissingHeader("x-slack-request-timestamp"))?;
    let ts: i64 = ts_text
        .trim()
        .parse()
        .map_err(|_| IntakeError::InvalidHeader("x-slack-request-timestamp"))?;
    if (now_secs - ts).abs() > SLACK_TOLERANCE_SECS {
        return Err(IntakeError::StaleTimestamp);
    }
    let sig = presented
        .ok_or(IntakeError::MissingHeader("x-slack-signature"))?
        .trim()
        .strip_prefix("v0=")
        .and_then(unhex_mac)
        // A malformed signature is a wrong one.
        .ok_or(IntakeError::BadSignature)?;
    let mut ok = false;
    for secret in secrets {
        // ok: HMAC takes keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC accepts any key length");
        mac.update(b"v0:");
        mac.update(ts_text.trim().as_bytes());
        mac.update(b":");
        mac.update(body);
        ok |= mac.verify_slice(&sig).is_ok();
    }
    if ok {
        Ok(())
    } else {
        Err(IntakeError::BadSignature)
    }
}

/// Signs like Slack does (tests and tools).
pub fn sign_slack(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // ok: HMAC takes keys of any length.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex(&mac.finalize().into_bytes()))
}

/// `POST /approvals/slack`: an interactive button (`block_actions`) whose
/// `action_id` is `approve` or `deny` and whose `value` is the request id.
pub(crate) async fn slack_action<L: SeatLedger, P: Portal>(
    State(state): State<Arc<AppState<L, P>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(slack) = state.approval_routes.slack.as_ref() else {
        return source_not_configured();
    };
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return intake_error(&e),
    };
    let now = state.clock.now();
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = verify_slack(
        h("x-slack-request-timestamp"),
        h("x-slack-signature"),
        &body,
        &slack.signing_secrets,
        now.div_euclid(1000),
    ) {
        tracing::warn!(code = e.code(), "slack action refused: {e}");
        return intake_error(&e);
    }
    let payload: Option<Value> = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "payload")
        .and_then(|(_, v)| serde_json::from_str(&v).ok());
    let Some(payload) = payload else {
        return intake_error(&IntakeError::MalformedBody("no payload field".into()));
    };
    let user = payload["user"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let action = &payload["actions"][0];
    let verdict = action["action_id"].as_str().and_then(Verdict::parse);
    let id = action["value"].as_str().unwrap_or_default().to_string();
    let (Some(verdict), false) = (verdict, id.is_empty()) else {
        return intake_error(&IntakeError::MalformedBody(
            "expected an approve or deny button with the request id as value".into(),
        ));
    };
    if !slack.approvers.iter().any(|a| a == &user) {
        tracing::warn!(user = %user, "slack user not in the approver list");
        return slack_reply(&format!(
            "<@{user}> is not allowed to decide access requests. Nothing changed."
        ));
    }
    let outcome = state
        .provisioner
        .decide_request(
            &id,
            verdict,
            &format!("slack:{user}"),
            None,
            sink(&state),
            now,
        )
        .await;
    slack_reply(&match outcome {
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
        DecisionOutcome::Unavailable(e) => {
            tracing::error!("slack decision: {e}");
            format!("Request {id}: the decision could not be recorded; try again.")
        }
    })
}

fn slack_reply(text: &str) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"response_type": "ephemeral", "replace_original": false, "text": text})),
    )
        .into_response()
}

/// `POST /webhooks/survey123-approvals/{token}`: the approval survey's
/// `editData` on the request record. Fields: `request_id`, `status`
/// (approved/denied; anything else decides nothing), `comment`, and who
/// decided.
///
/// With the source's `layer_url` the record is re-read from the approval
/// survey's layer (`survey123_reread`): every field comes from the record,
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
        Some(reread) => {
            let portal = &**state.provisioner.portal();
            match survey123_reread::decision(portal, reread, &body).await {
                Ok(d) => d,
                Err(refusal) => return refusal.response(SOURCE),
            }
        }
        None => payload_decision(&value),
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
            Err(refusal) => return refusal.response(SOURCE),
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
            sink(&state),
            state.clock.now(),
        )
        .await;
    // Survey123 retries anything but a 2xx: report refusals in the body.
    let mut r = decision_json(&outcome);
    if r.status() == StatusCode::CONFLICT || r.status() == StatusCode::NOT_FOUND {
        *r.status_mut() = StatusCode::OK;
    }
    r
}

/// The decision as the payload states it (no `layer_url`): the
/// attributes `request_id`, `status`, `approver` (as the editor) and
/// `comment`.
fn payload_decision(value: &Value) -> RecordDecision {
    let attrs = &value["feature"]["attributes"];
    let text = |name: &str| {
        attrs[name]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    RecordDecision {
        request_id: text("request_id").map(str::to_string),
        status: text("status").map(str::to_string),
        comment: crate::intake::clean_text("comment", text("comment"))
            .ok()
            .flatten(),
        editor: crate::intake::clean_text("approver", text("approver"))
            .ok()
            .flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_signatures_follow_v0() {
        // Slack's documented example.
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let ts = 1531420618;
        assert_eq!(
            sign_slack(secret, ts, body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
        let secrets = [Secret::new(secret)];
        let sig = sign_slack(secret, ts, body);
        assert!(verify_slack(Some("1531420618"), Some(&sig), body, &secrets, ts + 10).is_ok());
        assert_eq!(
            verify_slack(Some("1531420618"), Some(&sig), body, &secrets, ts + 301),
            Err(IntakeError::StaleTimestamp)
        );
        assert_eq!(
            verify_slack(Some("1531420618"), Some(&sig), b"x", &secrets, ts),
            Err(IntakeError::BadSignature)
        );
        assert!(verify_slack(None, Some(&sig), body, &secrets, ts).is_err());
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}

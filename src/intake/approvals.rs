//! A decision on a pending request sent as a signed webhook
//! (`POST /approvals/{id}`, Standard Webhooks, with the approval keys of
//! their own): the body `{"request_id": "…", "decision": "approve"|"deny",
//! "approver": "…", "comment": "…"}`, for Power Automate Approvals, scripts
//! and other systems. The signature is checked by [`super::signature`]
//! before this parse; the request id is inside what is signed and must be
//! the one in the path, so a captured decision decides nothing else.

use serde::Deserialize;

use super::{IntakeError, clean_text};
use crate::domain::Verdict;

/// A parsed, cleaned signed decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDecision {
    /// The request decided (equal to the path's id).
    pub request_id: String,
    /// Approve or deny.
    pub verdict: Verdict,
    /// Who decided (recorded as `webhook:<approver>`).
    pub approver: String,
    /// Why, if said.
    pub comment: Option<String>,
}

/// Body of a signed decision.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    request_id: String,
    decision: String,
    approver: String,
    #[serde(default)]
    comment: Option<String>,
}

/// Parses and cleans the body: unknown fields, a `request_id` other than
/// `path_id`, a verdict other than approve/deny, an empty approver or
/// control characters are refused.
pub fn parse_signed_decision(body: &[u8], path_id: &str) -> Result<SignedDecision, IntakeError> {
    let parsed: DecisionBody =
        serde_json::from_slice(body).map_err(|e| IntakeError::MalformedBody(e.to_string()))?;
    if parsed.request_id != path_id {
        return Err(IntakeError::InvalidField {
            field: "request_id",
            reason: "must be the request in the path".into(),
        });
    }
    let Some(verdict) = Verdict::parse(&parsed.decision) else {
        return Err(IntakeError::InvalidField {
            field: "decision",
            reason: "must be approve or deny".into(),
        });
    };
    let approver = match clean_text("approver", Some(&parsed.approver))? {
        Some(a) => a,
        None => return Err(IntakeError::MissingField("approver")),
    };
    let comment = clean_text("comment", parsed.comment.as_deref())?;
    Ok(SignedDecision {
        request_id: parsed.request_id,
        verdict,
        approver,
        comment,
    })
}

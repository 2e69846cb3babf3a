//! A sign-up request's life (approval and waitlist): [`RequestState`], and
//! an approver's [`Verdict`].

use serde::{Deserialize, Serialize};

/// Where a sign-up request stands (approval or waitlist). PENDING and
/// WAITLISTED are *open* (at most one per pool + person); the others are
/// *closed* and final as far as the workflow is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RequestState {
    /// Waiting for an approver's decision.
    Pending,
    /// Waiting in line for a seat of a full pool.
    Waitlisted,
    /// Approved: the workflow goes on to reserve and create the member.
    Approved,
    /// Refused by an approver.
    Denied,
    /// Nobody decided (or no seat freed) before `expires_at`.
    Expired,
}

impl RequestState {
    /// Every state, open ones first.
    pub const ALL: [RequestState; 5] = [
        RequestState::Pending,
        RequestState::Waitlisted,
        RequestState::Approved,
        RequestState::Denied,
        RequestState::Expired,
    ];

    /// The stored spelling (`PENDING`, `WAITLISTED`, `APPROVED`, `DENIED`,
    /// `EXPIRED`).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "PENDING",
            RequestState::Waitlisted => "WAITLISTED",
            RequestState::Approved => "APPROVED",
            RequestState::Denied => "DENIED",
            RequestState::Expired => "EXPIRED",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(RequestState::Pending),
            "WAITLISTED" => Some(RequestState::Waitlisted),
            "APPROVED" => Some(RequestState::Approved),
            "DENIED" => Some(RequestState::Denied),
            "EXPIRED" => Some(RequestState::Expired),
            _ => None,
        }
    }

    /// PENDING or WAITLISTED: the request still waits, and blocks another
    /// request of the same person in the same pool.
    pub fn is_open(self) -> bool {
        matches!(self, RequestState::Pending | RequestState::Waitlisted)
    }
}

/// An approver's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Give the seat.
    Approve,
    /// Refuse; the hold is released.
    Deny,
}

impl Verdict {
    /// `approve` / `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Deny => "deny",
        }
    }

    /// Parses `approve`/`approved`/`deny`/`denied`/`reject`/`rejected` (any case).
    pub fn parse(s: &str) -> Option<Verdict> {
        match s.trim().to_ascii_lowercase().as_str() {
            "approve" | "approved" => Some(Verdict::Approve),
            "deny" | "denied" | "reject" | "rejected" => Some(Verdict::Deny),
            _ => None,
        }
    }
}

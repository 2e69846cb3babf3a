//! What a delivery came to ([`Outcome`]). Stored as JSON for replays,
//! rendered to each sender's reply in one place (`entrypoints::http::render`).
//! The outcomes every path shares (store trouble, no pool, a portal failure)
//! are built here, so their codes and messages are written once.

use serde::{Deserialize, Serialize};

use crate::portal::PortalError;

/// The result of handling one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// A seat was taken and the member created (or adopted).
    Provisioned {
        /// Pool.
        pool: String,
        /// The member's username.
        username: String,
        /// Whether AGOL e-mails an invitation (vs. an active account).
        invitation: bool,
        /// Whether an existing member (from a crashed attempt) was adopted.
        adopted: bool,
    },
    /// A seat was reserved and the member's creation queued (the Okta and
    /// Entra hooks, which cannot wait for the portal).
    Accepted {
        /// Pool.
        pool: String,
        /// The intended username (the worker may end on a numbered one).
        username: String,
    },
    /// The request waits for an approver's decision.
    Pending {
        /// Pool.
        pool: String,
        /// The request's id (approval links and webhooks name it).
        request_id: String,
    },
    /// The pool is full; the request waits in line.
    Waitlisted {
        /// Pool.
        pool: String,
        /// The request's id.
        request_id: String,
        /// Place in line when it joined (1 = next).
        position: u32,
    },
    /// The person already holds a seat in the pool.
    AlreadyMember {
        /// Pool.
        pool: String,
        /// The member's username.
        username: String,
    },
    /// Every seat of the pool is taken.
    PoolFull {
        /// Pool.
        pool: String,
        /// The pool's size.
        seats: u32,
    },
    /// The request is refused for good (no pool, reused delivery id).
    Rejected {
        /// Stable code.
        code: String,
        /// Human message.
        message: String,
    },
    /// Nothing was kept; the sender should retry later.
    RetryLater {
        /// Stable code.
        code: String,
        /// Human message.
        message: String,
        /// Suggested wait.
        retry_after_secs: u32,
    },
    /// The portal refused the member for good; the seat was released.
    PortalFailed {
        /// Stable code.
        code: String,
        /// Human message.
        message: String,
    },
}

impl Outcome {
    pub(crate) fn retry(code: &str, message: &str, secs: u32) -> Outcome {
        Outcome::RetryLater {
            code: code.to_string(),
            message: message.to_string(),
            retry_after_secs: secs,
        }
    }

    /// The outcome's stable code, as metrics and logs count it: the
    /// status for the ones without a code of their own (`provisioned`,
    /// `accepted`, `pending`, `waitlisted`, `already_member`, `pool_full`),
    /// the code otherwise.
    pub fn code(&self) -> &str {
        match self {
            Outcome::Provisioned { .. } => "provisioned",
            Outcome::Accepted { .. } => "accepted",
            Outcome::Pending { .. } => "pending",
            Outcome::Waitlisted { .. } => "waitlisted",
            Outcome::AlreadyMember { .. } => "already_member",
            Outcome::PoolFull { .. } => "pool_full",
            Outcome::Rejected { code, .. }
            | Outcome::RetryLater { code, .. }
            | Outcome::PortalFailed { code, .. } => code,
        }
    }

    /// The pool the outcome names, if any.
    pub fn pool(&self) -> Option<&str> {
        match self {
            Outcome::Provisioned { pool, .. }
            | Outcome::Accepted { pool, .. }
            | Outcome::Pending { pool, .. }
            | Outcome::Waitlisted { pool, .. }
            | Outcome::AlreadyMember { pool, .. }
            | Outcome::PoolFull { pool, .. } => Some(pool),
            Outcome::Rejected { .. }
            | Outcome::RetryLater { .. }
            | Outcome::PortalFailed { .. } => None,
        }
    }

    /// Whether this outcome is the delivery's last word rather than a
    /// transient failure the sender should retry.
    pub fn is_final(&self) -> bool {
        !matches!(self, Outcome::RetryLater { .. })
    }

    /// Whether this outcome is stored for replays: only answers that are
    /// final in every sender's terms (2xx or 4xx). A portal refusal is a 502
    /// for REST senders, and the cause may pass (the organization buys
    /// licences of the user type, a group is created), so its retry runs
    /// again instead of getting the stored refusal.
    pub fn stored_for_replay(&self) -> bool {
        !matches!(
            self,
            Outcome::RetryLater { .. } | Outcome::PortalFailed { .. }
        )
    }
}

/// An outcome and whether it was replayed from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// The outcome.
    pub outcome: Outcome,
    /// True when this answer was stored by an earlier attempt.
    pub replayed: bool,
}

impl Handled {
    pub(crate) fn fresh(outcome: Outcome) -> Self {
        Handled {
            outcome,
            replayed: false,
        }
    }
}

/// The seat store could not be read or written: retry later.
pub(super) fn store_unavailable() -> Outcome {
    Outcome::retry("store_unavailable", "The seat store is unavailable.", 30)
}

/// No pool accepts the request: refused for good, nothing written.
pub(super) fn no_matching_pool() -> Outcome {
    Outcome::Rejected {
        code: "no_matching_pool".into(),
        message: "No pool accepts this request (e-mail domain, organization or pool field).".into(),
    }
}

/// What a member the portal did not create comes to: "retry later" for
/// trouble a retry may cure, a refusal otherwise (the seat is released
/// either way by the caller).
pub(super) fn failure_outcome(err: &PortalError) -> Outcome {
    match err {
        PortalError::Unavailable(_) | PortalError::Protocol(_) => Outcome::retry(
            "portal_unavailable",
            "ArcGIS Online did not answer in time; the seat was released. Retry later.",
            60,
        ),
        PortalError::Unanswered(_) => Outcome::retry(
            "portal_unavailable",
            "ArcGIS Online did not answer in time; whether the member was made is not known yet, so the seat is kept until it is looked up. Retry later.",
            60,
        ),
        PortalError::Config(_) => Outcome::retry(
            "portal_misconfigured",
            "The broker's ArcGIS connection is misconfigured; the seat was released. An operator must fix it.",
            300,
        ),
        PortalError::Auth(_) => Outcome::retry(
            "portal_auth_failed",
            "The broker's ArcGIS administrator credentials were refused; the seat was released. An operator must fix the credentials.",
            300,
        ),
        PortalError::NotInvited { .. } => Outcome::PortalFailed {
            code: "portal_refused".into(),
            message: "ArcGIS Online refused to create the member (no seat of this user type left in the organization, an incompatible role, or an invalid e-mail); the seat was released.".into(),
        },
        // The portal's own text (group ids, internal messages) stays in
        // the log (the caller logs the error); outward, a stable code and a
        // fixed message (issue 13).
        PortalError::Rejected { code, .. } => match code.as_str() {
            "group_not_found" => Outcome::PortalFailed {
                code: code.clone(),
                message: "A group this pool gives is missing in ArcGIS Online; the seat was released. An operator must fix the rules or the group.".into(),
            },
            "username_unavailable" => Outcome::PortalFailed {
                code: code.clone(),
                message: "No free username was found for this person; the seat was released.".into(),
            },
            _ => Outcome::PortalFailed {
                code: "portal_rejected".into(),
                message: "ArcGIS Online rejected the request; the seat was released. The details are in the broker's log.".into(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13: the portal's own text (group ids, internal messages)
    /// reached response bodies and stored outcomes. Outward, a stable code
    /// and a fixed message; the details stay in the log.
    #[test]
    fn a_portal_rejection_says_nothing_of_the_portals_own_text() {
        let secret_ish = "Group 0f3a9c1e22b84d7f not accessible; internal error at node-7";
        for code in ["group_not_found", "username_unavailable", "COM_0042", ""] {
            let outcome = failure_outcome(&PortalError::Rejected {
                code: code.into(),
                message: secret_ish.into(),
            });
            let Outcome::PortalFailed { code: out, message } = &outcome else {
                panic!("{outcome:?}");
            };
            assert!(
                !message.contains("0f3a9c1e") && !message.contains("node-7"),
                "{message}"
            );
            let expected = if code == "group_not_found" || code == "username_unavailable" {
                code
            } else {
                "portal_rejected"
            };
            assert_eq!(out, expected);
        }
    }
}

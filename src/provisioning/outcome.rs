//! What a delivery came to. Stored as JSON for replays, mapped to HTTP in one
//! place (`entrypoints::http::respond`).

use serde::{Deserialize, Serialize};

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

    /// Whether this outcome is the delivery's last word (stored for replays)
    /// rather than a transient failure the sender should retry.
    pub fn is_final(&self) -> bool {
        !matches!(self, Outcome::RetryLater { .. })
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

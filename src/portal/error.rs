//! [`PortalError`]: how every portal port reports failure, classified by
//! what the caller should do.
//!
//! Shared vocabulary of the three ports and their adapters. It must not
//! carry a password or a token (the client scrubs them before an error
//! leaves it) and must not depend on any adapter.

/// Portal failures, classified by what the caller should do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PortalError {
    /// Retryable trouble (5xx, 429, timeouts, connection errors) that lasted
    /// past the retry budget or the deadline. Try again later.
    #[error("portal unavailable: {0}")]
    Unavailable(String),
    /// A write went out and no whole answer came back (a timeout, a
    /// connection lost mid-exchange), then the retry budget or the deadline
    /// ran out: the portal may have carried it out. Unknown, not failed: a
    /// look-up settles it. Transient, like [`PortalError::Unavailable`].
    #[error("portal did not answer: {0}")]
    Unanswered(String),
    /// The administrator credentials were refused, or a renewed token was
    /// refused again. Needs an operator.
    #[error("portal refused the administrator credentials: {0}")]
    Auth(String),
    /// `invite` answered with the username in `notInvited`: the portal refused
    /// this member and, as it does, gave no reason (name taken, no seat of the
    /// user type left, role × type mismatch, bad e-mail…).
    #[error("portal did not invite {username}")]
    NotInvited {
        /// The refused username.
        username: String,
    },
    /// The portal answered with an error object for a request it will not
    /// accept (unknown group, bad parameter). Permanent.
    #[error("portal rejected the request: {code} {message}")]
    Rejected {
        /// `messageCode` when present, else the numeric code.
        code: String,
        /// The portal's message.
        message: String,
    },
    /// The client itself is misconfigured (bad URL, plain http to a
    /// non-loopback host). Needs an operator; not retryable.
    #[error("portal client misconfigured: {0}")]
    Config(String),
    /// The answer was not the JSON we expect.
    #[error("unexpected answer from the portal: {0}")]
    Protocol(String),
}

impl PortalError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PortalError::Unavailable(_) | PortalError::Unanswered(_)
        )
    }

    /// Whether the call may have been carried out although it failed.
    pub fn maybe_done(&self) -> bool {
        matches!(self, PortalError::Unanswered(_))
    }
}

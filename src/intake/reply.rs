//! What a sign-up came to, in the words an identity provider's hook answers
//! the person with ([`HookAnswer`]), and the trait each such sender's
//! adapter implements to put it in its own wire format ([`HookReply`]).
//!
//! The mapping from the workflow's outcome to a [`HookAnswer`] is made once,
//! by the HTTP layer's renderer; the texts and codes each sender shows are
//! data in its adapter (`okta`, `entra`).

use serde_json::Value;

/// A hook's answer to the person signing up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAnswer {
    /// Go on: a seat is reserved (or the person already has one).
    Admitted,
    /// The request waits for an approver.
    PendingApproval,
    /// The pool is full; the person waits in line at this place (1 = next).
    Waitlisted {
        /// Place in line.
        position: u32,
    },
    /// The pool is full and has no waitlist.
    PoolFull,
    /// No pool accepts this person.
    NotEligible,
    /// Something a retry may cure (store or portal trouble).
    TryLater,
    /// Refused for good for another reason.
    NotAccepted,
    /// The sign-up lacks what the broker needs (an e-mail address).
    MissingInformation,
}

/// A sender whose reply is a command to its product rather than an HTTP
/// status (always 200 once authenticated).
pub trait HookReply: Send + Sync {
    /// The JSON body that tells the sender `answer`.
    fn reply(&self, answer: &HookAnswer) -> Value;
}

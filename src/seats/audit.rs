//! The audit port: [`AuditLog`], the trail of who did what, with
//! [`AuditEvent`].
//!
//! The trail only grows (see the module docs of [`crate::seats`]). This file
//! only defines the port: it must not know any store, and audit events never
//! touch seats, counters, claims or requests.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::domain::UnixMillis;
use crate::seats::error::LedgerError;

/// One line of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened.
    pub at: UnixMillis,
    /// Who: `okta:<event>`, `admin:<name>`, `slack:<user>`, `system`, …
    pub actor: String,
    /// What: "request.created", "request.approved", "seat.reserved",
    /// "member.created", …
    pub action: String,
    /// The pool concerned, if any.
    pub pool: Option<String>,
    /// The person concerned (lower-cased e-mail), if any.
    pub person: Option<String>,
    /// Why / details (free text, no secrets).
    pub detail: String,
}

/// The audit port: append an event, read the trail from a time on.
///
/// Futures are spelled out as `Send` so handlers can be spawned on a
/// multi-threaded runtime.
pub trait AuditLog: Send + Sync {
    /// Appends an audit event (never overwrites another one, even with the
    /// same `at`).
    fn audit(&self, e: &AuditEvent) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Audit events with `at >= since`, oldest first (ties in an
    /// adapter-defined order), at most `limit`.
    fn audit_since(
        &self,
        since: UnixMillis,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, LedgerError>> + Send;
}

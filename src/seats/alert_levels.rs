//! The alert level port: [`AlertLevels`], the level of usage alert each
//! subject (a pool, a user type, reconciliation) was last alerted at.
//!
//! The levels live in the store so that "once per crossing" holds across
//! runs and across processes: every scheduled run reads a subject's level,
//! decides (`domain::alert::evaluate`) and writes the new level with a
//! conditional write on the level it read. Of two runs deciding the same
//! crossing at once, exactly one write wins, and only its run sends the
//! alert, so an alert is never sent twice. What a level means and when it
//! moves is the workflow's business (`provisioning::alerts`); the store only
//! keeps one small number per subject.
//!
//! This file only defines the port: it must not know any store, and levels
//! never touch seats, counters, claims, requests or the audit trail.

use std::future::Future;

use crate::domain::{AlertSubject, UnixMillis};
use crate::seats::error::LedgerError;

/// The alert level port: read a subject's level, and move it from the level
/// read to a new one.
///
/// A level is `Some(n)` (the subject was last alerted at `n`) or `None`
/// (never alerted, or fallen back under every threshold); a subject never
/// written reads `None`.
///
/// Every adapter keeps these rules:
///
/// - `set_alert_level` writes `new` only when the subject's level is still
///   `expected` (`None` matching a subject never written), in ONE
///   conditional write, and says whether it wrote. Of concurrent sets from
///   the same expected level exactly one writes.
/// - subjects are independent; levels are kept until overwritten (they
///   never expire: one small record per pool and user type).
///
/// Futures are spelled out as `Send` so the scheduled run can be spawned on
/// a multi-threaded runtime.
pub trait AlertLevels: Send + Sync {
    /// The subject's level (`None` when never written or fallen back).
    fn alert_level(
        &self,
        subject: &AlertSubject,
    ) -> impl Future<Output = Result<Option<u8>, LedgerError>> + Send;

    /// Moves the subject's level from `expected` to `new` (see the trait
    /// docs); `true` when it wrote, `false` when the level was no longer
    /// `expected` (another run moved it first) and nothing was written.
    fn set_alert_level(
        &self,
        subject: &AlertSubject,
        expected: Option<u8>,
        new: Option<u8>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;
}

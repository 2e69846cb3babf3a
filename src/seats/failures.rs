//! The failures port: [`FailureLog`], sign-ups whose member could not be
//! created, kept visible until their retention ends, with [`FailedSignup`]
//! and the order every adapter lists them in (`newest_first`).
//!
//! One failure per pool + person, the latest wins (see the module docs of
//! [`crate::seats`]). This file only defines the port: it must not know any
//! store, and failures never touch seats, counters or claims.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::domain::{ClaimKey, PoolId, UnixMillis};
use crate::seats::error::LedgerError;

/// A sign-up whose member could not be created; its seat was given back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedSignup {
    /// Pool and person.
    pub key: ClaimKey,
    /// The delivery (`source:id`).
    pub delivery: String,
    /// The username that was intended, if known.
    pub username: Option<String>,
    /// Stable code (e.g. `portal_unavailable`, `portal_refused`).
    pub code: String,
    /// Human message (no secrets).
    pub message: String,
    /// When it was recorded.
    pub at: UnixMillis,
}

/// Sorts failures the way [`FailureLog::failures`] lists them: newest
/// first, ties by person, so every adapter gives the same order.
pub(crate) fn newest_first(failures: &mut [FailedSignup]) {
    failures.sort_by(|a, b| {
        b.at.cmp(&a.at)
            .then_with(|| a.key.person.cmp(&b.key.person))
    });
}

/// The failures port: record a failed sign-up, list a pool's retained ones.
///
/// Futures are spelled out as `Send` so handlers can be spawned on a
/// multi-threaded runtime.
pub trait FailureLog: Send + Sync {
    /// Records (or overwrites: one per pool + person, the latest wins) a
    /// failed sign-up, kept until `retain_until`.
    fn record_failure(
        &self,
        failure: &FailedSignup,
        retain_until: UnixMillis,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// The failures recorded for a pool whose retention has not passed at
    /// `now`, newest first.
    fn failures(
        &self,
        pool: &PoolId,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Vec<FailedSignup>, LedgerError>> + Send;
}

//! The requests port: [`RequestStore`], sign-up requests waiting for a
//! decision or a seat, with [`SignupRecord`] and [`RequestChange`], and the
//! helpers every adapter shares (`oldest_first`, `request_id_taken`,
//! [`RequestChange`]'s move).
//!
//! The rules it must keep (one open request per pool + person, a decision
//! taken once, closed requests carrying their retention) are in the module
//! docs of [`crate::seats`]. This file only defines the port: it must not
//! know any store, and requests never touch seats, counters or claims.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::domain::{ClaimKey, PoolId, RequestState, UnixMillis};
use crate::seats::error::LedgerError;

/// A sign-up waiting for a decision or a seat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupRecord {
    /// Random unguessable id (hex), used in links and URLs.
    pub id: String,
    /// Pool and person (one open request per pool + person).
    pub key: ClaimKey,
    /// The delivery that asked (`source:id`).
    pub delivery: String,
    /// The applicant's data and what they get: opaque JSON written by the
    /// workflow.
    pub payload: String,
    /// Where the request stands.
    pub state: RequestState,
    /// Set when a seat is held for this request (its claim's id).
    pub claim_id: Option<String>,
    /// When the request was made.
    pub created_at: UnixMillis,
    /// Pending/waitlisted requests past this are expired by the workflow.
    pub expires_at: UnixMillis,
    /// When the last transition happened.
    pub decided_at: Option<UnixMillis>,
    /// Who made the last transition (`admin:<name>`, `slack:<user>`,
    /// `system`, …).
    pub decided_by: Option<String>,
    /// Why (an approver's comment, `expired`, …; no secrets).
    pub reason: Option<String>,
    /// While closed: when the request (with the applicant's personal data)
    /// may be deleted. `None` while open, and for a request closed before
    /// retention existed (kept until removed by hand).
    #[serde(default)]
    pub retain_until: Option<UnixMillis>,
}

/// What `transition_request` writes besides the new state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestChange {
    /// Stored as `decided_at`.
    pub at: UnixMillis,
    /// Stored as `decided_by` (`None` clears it).
    pub by: Option<String>,
    /// Stored as `reason` (`None` clears it).
    pub reason: Option<String>,
    /// `Some(x)` sets `claim_id` to `x` (`Some(None)` clears it); `None`
    /// leaves it as it is.
    pub claim_id: Option<Option<String>>,
    /// Stored as `retain_until` when the request moves to a closed state
    /// (the decision's time plus the retention); ignored, and the stored
    /// value cleared, when it moves to an open one.
    pub retain_until: Option<UnixMillis>,
}

impl RequestChange {
    /// `record` after this change and the move to `to`: what every adapter
    /// stores.
    pub(crate) fn apply(&self, record: &SignupRecord, to: RequestState) -> SignupRecord {
        SignupRecord {
            state: to,
            decided_at: Some(self.at),
            decided_by: self.by.clone(),
            reason: self.reason.clone(),
            claim_id: match &self.claim_id {
                Some(set) => set.clone(),
                None => record.claim_id.clone(),
            },
            // Why clear on an open state: a reopened request waits again and
            // must not be deleted under the person.
            retain_until: if to.is_open() {
                None
            } else {
                self.retain_until
            },
            ..record.clone()
        }
    }
}

/// Sorts requests the way [`RequestStore::requests`] lists them: oldest
/// first, ties by id, so every adapter gives the same order.
pub(crate) fn oldest_first(requests: &mut [SignupRecord]) {
    requests.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// The error `create_request` returns when the id is already taken by another
/// request (ids must be fresh random values; reusing one is a bug).
pub(crate) fn request_id_taken() -> LedgerError {
    LedgerError::Corrupt("a sign-up request with this id already exists".into())
}

/// The requests port: sign-up requests created, read, listed by state and
/// moved between states with one conditional write each. See the module
/// docs of [`crate::seats`] for the contract.
///
/// Futures are spelled out as `Send` so handlers can be spawned on a
/// multi-threaded runtime.
pub trait RequestStore: Send + Sync {
    /// Creates a sign-up request. Returns `Ok(None)` when created;
    /// `Ok(Some(existing))` when the person already has an OPEN (Pending or
    /// Waitlisted) request in this pool (nothing written). Closed requests do
    /// not block a new one. A request created in a closed state takes no
    /// open slot. An `id` already used by another request is refused as
    /// [`LedgerError::Corrupt`] (nothing written). `retain_until` is stored
    /// as given (the workflow creates open requests, without one).
    fn create_request(
        &self,
        r: &SignupRecord,
    ) -> impl Future<Output = Result<Option<SignupRecord>, LedgerError>> + Send;

    /// One request by id.
    fn request(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<SignupRecord>, LedgerError>> + Send;

    /// A pool's requests in `state`, oldest first (`created_at`, then `id`).
    /// For Waitlisted this IS the queue order.
    fn requests(
        &self,
        pool: &PoolId,
        state: RequestState,
    ) -> impl Future<Output = Result<Vec<SignupRecord>, LedgerError>> + Send;

    /// Moves a request from `from` to `to` atomically (a conditional write:
    /// only if its state is still `from`), setting `decided_at`,
    /// `decided_by` and `reason` from `change` (and `claim_id` when
    /// `change.claim_id` is `Some`), and `retain_until` from `change` when
    /// `to` is closed (cleared when `to` is open; see
    /// [`RequestChange::retain_until`]). Returns `Ok(Some(updated))` when this
    /// call made the change, `Ok(None)` when the state was not `from`
    /// (someone decided first: double click, replay) or the id is unknown;
    /// nothing is written then. Moving out of Pending/Waitlisted to a closed
    /// state frees the pool + person "open request" slot; moving a closed
    /// request back to an open state answers `Ok(None)` (nothing written)
    /// when the person has another open request in the pool meanwhile.
    fn transition_request(
        &self,
        id: &str,
        from: RequestState,
        to: RequestState,
        change: &RequestChange,
    ) -> impl Future<Output = Result<Option<SignupRecord>, LedgerError>> + Send;
}

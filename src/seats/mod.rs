//! The seat ledger: who holds which seat of which pool, and which webhook
//! deliveries have been handled.
//!
//! This module defines the [`SeatLedger`] port and its vocabulary. Adapters
//! live beside it: [`dynamo::DynamoLedger`] (DynamoDB, the deployed store),
//! [`sqlite::SqliteLedger`] (an embedded SQLite file, for single-machine
//! installs) and [`memory::MemoryLedger`] (in-process, for the workflow's unit
//! tests and benchmarks). Every adapter must pass the same contract suite
//! (`tests/ledger_contract.rs`).
//!
//! # Semantics every adapter must keep
//!
//! - **No oversell.** `reserve` raises a pool's `used` counter only while
//!   `used < capacity`, atomically with creating the claim. Concurrent
//!   reservations for the last seat: exactly one wins.
//! - **One seat per person per pool.** A claim is keyed by pool + person
//!   (lower-cased e-mail). A second `reserve` for the same key takes no seat
//!   and returns the existing claim.
//! - **Compensation is safe.** `release` deletes a claim and gives its seat
//!   back only when the caller names the claim's `claim_id`, so a late
//!   compensation can never free somebody else's (re-made) claim. Releasing
//!   twice is harmless.
//! - **Deliveries are idempotent.** `begin_delivery` takes a lease on a
//!   delivery key together with the payload's hash; see [`DeliveryBegin`].
//! - **A worker keeps its reservation alive.** `touch` refreshes a RESERVED
//!   claim's `updated_at` only for the claim id that made it, so the
//!   stale-reservation sweeper leaves a claim alone while its worker retries.
//! - **Failed sign-ups stay visible.** `record_failure` keeps one
//!   [`FailedSignup`] per pool + person (the latest wins) until its
//!   retention ends; failures never touch seats, counters or claims.
//! - **One open sign-up request per pool + person.** `create_request` writes
//!   a [`SignupRecord`] only when the person has no PENDING or WAITLISTED
//!   request in the pool; closed ones (approved, denied, expired) do not
//!   count. `requests` lists a pool's requests in one state oldest first,
//!   which for WAITLISTED is the queue's order.
//! - **A decision is taken once.** `transition_request` moves a request from
//!   the state the caller saw to another one with one conditional write:
//!   of concurrent moves out of the same state exactly one succeeds, and the
//!   listing by state always agrees with the request.
//! - **Closed requests carry their retention.** A request moved to a
//!   closed state stores the change's `retain_until`; one moved to an open
//!   state stores none, so it never expires while it waits. Past
//!   `retain_until` the store deletes the request (DynamoDB by TTL, within
//!   about two days; SQLite by [`sqlite::SqliteLedger::purge_expired`]);
//!   reads do not hide a request whose time has passed but which is still
//!   stored.
//! - **The audit trail only grows.** `audit` appends an [`AuditEvent`];
//!   events with the same time are all kept, and `audit_since` reads them
//!   back oldest first. Requests and audit events never touch seats,
//!   counters or claims.
//!
//! Nothing here talks to the portal or knows about HTTP.

pub mod dynamo;
pub mod memory;
pub mod sqlite;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::domain::{ClaimKey, DeliveryKey, PoolId, RequestState, UnixMillis};

/// Where a claim is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClaimState {
    /// A seat is held; the member is not (yet) confirmed in the portal.
    Reserved,
    /// The member exists in the portal under `username`.
    Active,
}

impl ClaimState {
    /// The stored spelling (`RESERVED`, `ACTIVE`).
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimState::Reserved => "RESERVED",
            ClaimState::Active => "ACTIVE",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RESERVED" => Some(ClaimState::Reserved),
            "ACTIVE" => Some(ClaimState::Active),
            _ => None,
        }
    }
}

/// One held seat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// Pool and person.
    pub key: ClaimKey,
    /// Random id minted at reservation; `release` must name it.
    pub claim_id: String,
    /// Reserved or active.
    pub state: ClaimState,
    /// While RESERVED: the username the workflow intends to create (its first
    /// candidate), so a recovery after a crash can look for the member. Once
    /// ACTIVE: the member's actual username (set by `confirm`).
    pub username: Option<String>,
    /// The delivery that reserved the seat (`source:id`), for the audit trail.
    pub delivery: String,
    /// When the seat was reserved.
    pub reserved_at: UnixMillis,
    /// Last state change.
    pub updated_at: UnixMillis,
}

/// Everything `reserve` needs.
#[derive(Clone, Debug)]
pub struct ReserveRequest<'a> {
    /// Pool and person.
    pub key: &'a ClaimKey,
    /// The pool's seat count from the rules file. Passed on every call so the
    /// rules file stays the single source of truth for capacity.
    pub capacity: u32,
    /// The delivery asking (`source:id`).
    pub delivery: &'a str,
    /// A fresh random id for the claim if it gets created.
    pub claim_id: &'a str,
    /// The intended username (first candidate), kept on the RESERVED claim.
    pub username: &'a str,
    /// The current time.
    pub now: UnixMillis,
}

/// What `reserve` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// A seat was taken and a RESERVED claim created.
    Reserved(Claim),
    /// The person already holds a claim in this pool; no seat was taken.
    AlreadyHeld(Claim),
    /// Every seat of the pool is taken; nothing was written.
    PoolFull {
        /// Seats in use when the reservation was refused.
        used: u32,
    },
}

/// What `rekey` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rekey {
    /// The claim now belongs to the new person key (same id, state,
    /// username and seat).
    Moved(Claim),
    /// No claim with that id under the old key: nothing changed.
    NotFound,
    /// The new person already holds a claim in the pool (returned):
    /// nothing changed.
    Taken(Claim),
}

/// A pool's counter as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolUsage {
    /// The pool.
    pub pool: PoolId,
    /// Seats taken (reserved + active claims).
    pub used: u32,
}

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

/// Sorts failures the way [`SeatLedger::failures`] lists them: newest
/// first, ties by person, so every adapter gives the same order.
pub(crate) fn newest_first(failures: &mut [FailedSignup]) {
    failures.sort_by(|a, b| {
        b.at.cmp(&a.at)
            .then_with(|| a.key.person.cmp(&b.key.person))
    });
}

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

/// Sorts requests the way [`SeatLedger::requests`] lists them: oldest first,
/// ties by id, so every adapter gives the same order.
pub(crate) fn oldest_first(requests: &mut [SignupRecord]) {
    requests.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
}

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

/// What `begin_delivery` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryBegin {
    /// The lease is ours: handle the delivery, then `finish_delivery` or
    /// `abandon_delivery`. Also returned when a previous holder's lease has
    /// expired (it crashed), so a redelivery can take over.
    Started,
    /// Another attempt holds a live lease: answer "retry later".
    InProgress,
    /// Already handled: the stored outcome (opaque JSON written by the
    /// workflow) is to be answered again.
    Completed(String),
    /// The same key arrived earlier with a different payload: refuse.
    PayloadMismatch,
}

/// Ledger failures. Conditional-write refusals are not errors: they come back
/// as [`Reservation`] / [`DeliveryBegin`] values.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The store could not be reached or answered with a retryable error
    /// (throttling, transaction conflicts past the retry budget, timeouts).
    #[error("seat store unavailable: {0}")]
    Unavailable(String),
    /// The stored data is not what this code wrote (corrupt or foreign item).
    #[error("seat store holds unexpected data: {0}")]
    Corrupt(String),
    /// `confirm` found no claim with that key and claim id.
    #[error("claim not found")]
    ClaimNotFound,
}

/// The error `create_request` returns when the id is already taken by another
/// request (ids must be fresh random values; reusing one is a bug).
pub(crate) fn request_id_taken() -> LedgerError {
    LedgerError::Corrupt("a sign-up request with this id already exists".into())
}

/// The seat ledger port. All methods are atomic with respect to each other
/// for the same key; see the module docs for the contract.
///
/// Futures are spelled out as `Send` so handlers can be spawned on a
/// multi-threaded runtime.
pub trait SeatLedger: Send + Sync + 'static {
    /// Takes a seat for `req.key` if the pool has one free and the person has
    /// none; see [`Reservation`].
    fn reserve(
        &self,
        req: ReserveRequest<'_>,
    ) -> impl Future<Output = Result<Reservation, LedgerError>> + Send;

    /// Marks the claim ACTIVE under `username`. Idempotent: confirming an
    /// active claim with the same id again succeeds. Fails with
    /// [`LedgerError::ClaimNotFound`] if the claim is gone or has another id.
    fn confirm(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        username: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Claim, LedgerError>> + Send;

    /// Deletes the claim and gives its seat back, only if its id is
    /// `claim_id`. Returns whether a seat was given back (false when the
    /// claim was already gone or belongs to another reservation).
    fn release(
        &self,
        key: &ClaimKey,
        claim_id: &str,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;

    /// Moves the claim `claim_id` from `key` to the person key
    /// `new_person` in the same pool, when a member's e-mail changes: the
    /// same id, state, username and seat, so the pool's count does not
    /// change and a sign-up under the new e-mail finds the seat it already
    /// holds. Moving to the same person is [`Rekey::Moved`] with the claim
    /// unchanged.
    fn rekey(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        new_person: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Rekey, LedgerError>> + Send;

    /// Reads one claim.
    fn claim(
        &self,
        key: &ClaimKey,
    ) -> impl Future<Output = Result<Option<Claim>, LedgerError>> + Send;

    /// Reads every claim of a pool (status pages, reconciliation, tests).
    fn claims(&self, pool: &PoolId)
    -> impl Future<Output = Result<Vec<Claim>, LedgerError>> + Send;

    /// Reads a pool's counter (0 for a pool never used).
    fn usage(&self, pool: &PoolId) -> impl Future<Output = Result<PoolUsage, LedgerError>> + Send;

    /// Takes the lease on a delivery; see [`DeliveryBegin`]. `payload_hash`
    /// is compared with the stored one; `lease_ms` bounds how long a crashed
    /// attempt blocks a redelivery.
    fn begin_delivery(
        &self,
        key: &DeliveryKey,
        payload_hash: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> impl Future<Output = Result<DeliveryBegin, LedgerError>> + Send;

    /// Stores the final outcome of a delivery we hold the lease on; later
    /// `begin_delivery` calls return it until `retain_until`.
    fn finish_delivery(
        &self,
        key: &DeliveryKey,
        outcome_json: &str,
        now: UnixMillis,
        retain_until: UnixMillis,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Drops our lease without an outcome (a transient failure), so the
    /// sender's retry runs the delivery again.
    fn abandon_delivery(
        &self,
        key: &DeliveryKey,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Refreshes `updated_at` of a RESERVED claim with this id (the worker is
    /// still on it). Returns false (and writes nothing) when the claim is
    /// gone, has another id, or is ACTIVE.
    fn touch(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;

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

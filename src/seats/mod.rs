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
//!
//! Nothing here talks to the portal or knows about HTTP.

pub mod dynamo;
pub mod memory;
pub mod sqlite;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::domain::{DeliveryKey, PoolId, UnixMillis};

/// Identifies a claim: one person in one pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClaimKey {
    /// The pool the seat belongs to.
    pub pool: PoolId,
    /// The person: their lower-cased e-mail address ([`crate::domain::Email::key`]).
    pub person: String,
}

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
}

//! The claims port: [`ClaimStore`], who holds which seat of which pool, with
//! the pool counters, and its vocabulary ([`Claim`], [`ClaimState`],
//! [`ReserveRequest`], [`Reservation`], [`Rekey`], [`PoolUsage`]).
//!
//! The rules it must keep (no oversell, one seat per person per pool, safe
//! compensation, a worker keeping its reservation alive) are in the module
//! docs of [`crate::seats`]. This file only defines the port: it must not
//! know any store, and it never touches deliveries, requests, failures or
//! the audit trail.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::domain::{ClaimKey, PoolId, UnixMillis};
use crate::seats::error::LedgerError;

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

impl ReserveRequest<'_> {
    /// The RESERVED claim this reservation creates when it takes a seat:
    /// what every adapter stores.
    pub(crate) fn reserved_claim(&self) -> Claim {
        Claim {
            key: self.key.clone(),
            claim_id: self.claim_id.to_string(),
            state: ClaimState::Reserved,
            username: Some(self.username.to_string()),
            delivery: self.delivery.to_string(),
            reserved_at: self.now,
            updated_at: self.now,
        }
    }
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

/// The claims port: seats taken, confirmed, moved and given back, atomically
/// with the pool's counter. All methods are atomic with respect to each
/// other for the same key; see the module docs of [`crate::seats`].
///
/// Futures are spelled out as `Send` so handlers can be spawned on a
/// multi-threaded runtime.
pub trait ClaimStore: Send + Sync {
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

    /// Refreshes `updated_at` of a RESERVED claim with this id (the worker is
    /// still on it). Returns false (and writes nothing) when the claim is
    /// gone, has another id, or is ACTIVE.
    fn touch(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;
}

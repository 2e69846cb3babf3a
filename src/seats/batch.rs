//! The sign-up's happy path in two writes: [`SignupBatch`], which makes the
//! writes of several ports that a new member needs at the same moment as
//! one write of the store (one DynamoDB `TransactWriteItems`, one SQLite
//! transaction, one critical section in memory):
//!
//! - [`SignupBatch::open`]: the delivery's lease for an attempt and the
//!   person's reservation, both or neither;
//! - [`SignupBatch::close`]: the claim activated, the audit record appended
//!   and the outcome stored under the attempt's lease, all or nothing.
//!
//! Each is only a shortcut for writes the other ports make one by one, with
//! the same rules and conditions ([`refusal`](super::deliveries) for the
//! lease, the reservation's capacity and one claim per person, the
//! transition's expected id and stage, the lease holder for the outcome).
//! When the shortcut does not apply (the delivery was seen before, the
//! person holds a claim, the pool is full, the claim or the lease moved on)
//! it writes nothing and says so, and the caller takes the steps one by one,
//! which explain and handle each case. So the happy path costs two round
//! trips, and every other path is what it was.
//!
//! This file declares the port only; it must not know any store.

use std::future::Future;

use crate::domain::{ClaimKey, DeliveryKey, UnixMillis};
use crate::seats::audit::AuditEvent;
use crate::seats::claims::{Claim, Expect, ReserveRequest};
use crate::seats::deliveries::DeliveryBegin;
use crate::seats::error::LedgerError;

/// The lease a new attempt asks for (as [`super::DeliveryStore::begin_delivery`]).
#[derive(Clone, Copy, Debug)]
pub struct LeaseRequest<'a> {
    /// The delivery.
    pub key: &'a DeliveryKey,
    /// The attempt that will hold the lease.
    pub attempt: &'a str,
    /// The body's hash.
    pub payload_hash: &'a str,
    /// Now.
    pub now: UnixMillis,
    /// How long the lease lasts.
    pub lease_ms: i64,
}

/// What [`SignupBatch::open`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// The lease is the attempt's and the seat is reserved: this claim.
    Both(Claim),
    /// Nothing written: the delivery has a record, and this is what
    /// `begin_delivery` answers for it (a replay, in progress, a reused id;
    /// or `Started` when the live lease is this attempt's already).
    Delivery(DeliveryBegin),
    /// Nothing written: the person holds a claim in the pool, or the pool
    /// is full (or the write met a concurrent one). Take the steps one by
    /// one.
    Neither,
}

/// The happy path's closing write ([`SignupBatch::close`]).
#[derive(Clone, Copy, Debug)]
pub struct CloseRequest<'a> {
    /// The claim to activate.
    pub claim: &'a ClaimKey,
    /// What it must still be: its id, one of these stages.
    pub expect: Expect<'a>,
    /// The member's username.
    pub username: &'a str,
    /// The audit record to append.
    pub audit: &'a AuditEvent,
    /// The delivery whose outcome is stored.
    pub delivery: &'a DeliveryKey,
    /// The attempt that must still hold the delivery's lease.
    pub attempt: &'a str,
    /// The outcome, as stored for replays.
    pub outcome_json: &'a str,
    /// Now.
    pub now: UnixMillis,
    /// Until when the outcome answers replays.
    pub retain_until: UnixMillis,
}

/// Several ports' writes of a new member's sign-up, each batch one write.
/// See the module docs.
pub trait SignupBatch: Send + Sync {
    /// Takes the delivery's lease for `lease.attempt` and reserves the seat
    /// for `reserve` in one write, only when the delivery has no record
    /// that refuses the lease, the person holds no claim in the pool and a
    /// seat is free; otherwise writes nothing ([`Opened`]).
    fn open(
        &self,
        lease: LeaseRequest<'_>,
        reserve: ReserveRequest<'_>,
    ) -> impl Future<Output = Result<Opened, LedgerError>> + Send;

    /// Activates the claim, appends the audit record and stores the outcome
    /// in one write, only when the claim is still what `expect` names and
    /// the lease still `attempt`'s. `true`: all written; `false`: nothing.
    fn close(
        &self,
        req: CloseRequest<'_>,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;
}

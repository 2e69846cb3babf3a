//! The seat ledger: who holds which seat of which pool, and which webhook
//! deliveries have been handled.
//!
//! The ledger is seven ports that never interact, and one that batches
//! their writes, each in its own file with its vocabulary, so a caller asks
//! only for what it uses:
//!
//! - [`ClaimStore`] (`claims.rs`): seats, claims and pool counters;
//! - [`DeliveryStore`] (`deliveries.rs`): webhook idempotency, with the
//!   delivery-lease rule every adapter applies;
//! - [`RequestStore`] (`requests.rs`): sign-up requests awaiting a decision
//!   or a seat;
//! - [`AuditLog`] (`audit.rs`): the audit trail;
//! - [`FailureLog`] (`failures.rs`): failed sign-ups kept visible;
//! - [`SignupBatch`] (`batch.rs`): a new member's writes of several of the
//!   ports above made as one (the lease with the reservation; the
//!   activation with the audit record and the stored outcome), so the
//!   happy path costs two round trips;
//! - [`SignInThrottle`] (`sign_ins.rs`): the administrator's sign-in
//!   attempts counted per time window, per client address and in all, so
//!   every process shares one limit. Not a claim: it touches nothing else;
//! - [`AlertLevels`] (`alert_levels.rs`): the usage alert level each pool,
//!   user type or reconciliation was last alerted at, moved by a
//!   conditional write so two runs never send the same alert. Not a claim
//!   either.
//!
//! [`SeatLedger`] is all eight together, what the workflow and the servers
//! take; every type implementing the eight is one. They share one error,
//! [`LedgerError`] (`error.rs`). Adapters live beside them, one struct per
//! backend implementing all eight: [`dynamo::DynamoLedger`] (DynamoDB, the
//! deployed store), [`sqlite::SqliteLedger`] (an embedded SQLite file, for
//! single-machine installs) and [`memory::MemoryLedger`] (in-process, for
//! the workflow's unit tests and benchmarks). Every adapter must pass the
//! same contract suite (`tests/ledger_contract.rs`). [`faulty::FaultyLedger`]
//! wraps any of them and fails, loses the reply of, or pauses a chosen
//! operation, for the tests of what the workflow does when the store
//! misbehaves between two writes.
//!
//! # Semantics every adapter must keep
//!
//! - **No oversell** ([`ClaimStore`]). `reserve` raises a pool's `used`
//!   counter only while `used < capacity`, atomically with creating the
//!   claim. Concurrent reservations for the last seat: exactly one wins.
//! - **One seat per person per pool** ([`ClaimStore`]). A claim is keyed by
//!   pool + person (lower-cased e-mail). A second `reserve` for the same key
//!   takes no seat and returns the existing claim.
//! - **Every change is conditional** ([`ClaimStore::transition`]). A
//!   claim is RESERVED with a [`Hold`] (in flight, held for approval,
//!   queued for a job, outcome unknown) or ACTIVE. `transition` applies one
//!   [`Change`] (activate, hold otherwise, touch, release) only when the
//!   claim still has the id the caller names (the reservation that owns
//!   it) *and* is in one of the [`Stage`]s the caller expects ([`Expect`]),
//!   in one conditional write; otherwise it changes nothing and returns the
//!   claim as it is ([`Transition::Refused`]). So a late compensation never
//!   frees somebody else's re-made claim, a denial never deletes an ACTIVE
//!   one, and of two racing callers exactly one wins. Releasing gives the
//!   seat back with the same write; releasing twice is harmless.
//!   `rekey` (an e-mail change) moves the claim only as it was read.
//!   Which transitions the workflow makes, and when, is the state machine
//!   in `provisioning/claims.rs`, the only caller that writes claims.
//! - **Deliveries are idempotent** ([`DeliveryStore`]). `begin_delivery`
//!   takes a lease on a delivery key together with the payload's hash, for
//!   one attempt (a fresh token per run of the delivery); see
//!   [`DeliveryBegin`]. The same attempt repeating it while its lease is
//!   live is answered `Started` again (its first reply was lost); any other
//!   attempt waits for the lease to end. `finish_delivery` and
//!   `abandon_delivery` write only while the lease is still that attempt's
//!   (a conditional write), so a late one whose lease expired and was taken
//!   over changes nothing, and say whether they wrote. Records stored
//!   before attempts were are held by no attempt and expire as before.
//! - **A worker keeps its reservation alive** ([`ClaimStore`]). A
//!   [`Change::Touch`] refreshes a RESERVED claim's `updated_at` for the
//!   claim id that made it, so the sweeper leaves a claim alone while its
//!   worker retries. The sweeper settles only claims in flight or unknown,
//!   never one held for approval or queued.
//! - **Failed sign-ups stay visible** ([`FailureLog`]). `record_failure`
//!   keeps one [`FailedSignup`] per pool + person (the latest wins) until its
//!   retention ends; failures never touch seats, counters or claims. The
//!   other way round, a release that fails a sign-up ([`Change::Fail`])
//!   writes its failure in the release's own atomic write, so a seat is
//!   never given back with nothing saying what became of the sign-up.
//! - **One open sign-up request per pool + person** ([`RequestStore`]).
//!   `create_request` writes a [`SignupRecord`] only when the person has no
//!   PENDING or WAITLISTED request in the pool; closed ones (approved,
//!   denied, expired) do not count. `requests` lists a pool's requests in one
//!   state oldest first, which for WAITLISTED is the queue's order.
//! - **A decision is taken once** ([`RequestStore`]). `transition_request`
//!   moves a request from the state the caller saw to another one with one
//!   conditional write: of concurrent moves out of the same state exactly
//!   one succeeds, and the listing by state always agrees with the request.
//! - **Closed requests carry their retention** ([`RequestStore`]). A request
//!   moved to a closed state stores the change's `retain_until`; one moved to
//!   an open state stores none, so it never expires while it waits. Past
//!   `retain_until` the store deletes the request (DynamoDB by TTL, within
//!   about two days; SQLite by [`sqlite::SqliteLedger::purge_expired`]);
//!   reads do not hide a request whose time has passed but which is still
//!   stored.
//! - **The audit trail only grows** ([`AuditLog`]). `audit` appends an
//!   [`AuditEvent`]; events with the same time are all kept, and
//!   `audit_since` reads them back oldest first. Requests and audit events
//!   never touch seats, counters or claims.
//! - **Sign-in attempts stay within their limits** ([`SignInThrottle`]).
//!   `take_sign_in` counts an attempt for its address and in all in one
//!   atomic write, only while both counts of the window are below their
//!   limits; of concurrent takes never more succeed than the limits allow.
//!   `give_back_sign_in` lowers both by one, never below zero. Windows are
//!   independent; counts of a past window may be forgotten (DynamoDB by
//!   TTL, SQLite by [`sqlite::SqliteLedger::purge_expired`]).
//! - **An alert level moves once** ([`AlertLevels`]).
//!   `set_alert_level` writes the new level only while the subject's level
//!   is still the one the caller read, in one conditional write; of
//!   concurrent moves from one level exactly one writes. Levels never
//!   expire and touch nothing else.
//!
//! Nothing here talks to the portal or knows about HTTP, and this file only
//! gathers: the ports and the adapters never import it back (they import the
//! port files), so it re-exports their vocabulary without a cycle.

mod alert_levels;
mod audit;
mod batch;
mod claims;
mod deliveries;
mod error;
mod failures;
mod requests;
mod sign_ins;

pub mod dynamo;
pub mod faulty;
pub mod memory;
pub mod sqlite;

pub use alert_levels::AlertLevels;
pub use audit::{AuditEvent, AuditLog};
pub use batch::{CloseRequest, LeaseRequest, Opened, SignupBatch};
pub use claims::{
    Change, Claim, ClaimState, ClaimStore, Expect, Hold, PoolUsage, Rekey, Reservation,
    ReserveRequest, Stage, Transition,
};
pub use deliveries::{DeliveryBegin, DeliveryStore, LeaseHolder};
pub use error::LedgerError;
pub use failures::{FailedSignup, FailureLog};
pub use requests::{RequestChange, RequestStore, SignupRecord};
pub use sign_ins::{SignInAttempt, SignInCounts, SignInSlot, SignInThrottle};

/// The whole seat ledger: the eight ports together, what the workflow and
/// the servers take. Implemented for every type implementing the eight (see
/// the module docs for the contract); a caller that needs only some of them
/// asks for those instead.
pub trait SeatLedger:
    ClaimStore
    + DeliveryStore
    + FailureLog
    + RequestStore
    + AuditLog
    + SignupBatch
    + SignInThrottle
    + AlertLevels
    + Send
    + Sync
    + 'static
{
}

impl<T> SeatLedger for T where
    T: ClaimStore
        + DeliveryStore
        + FailureLog
        + RequestStore
        + AuditLog
        + SignupBatch
        + SignInThrottle
        + AlertLevels
        + Send
        + Sync
        + 'static
{
}

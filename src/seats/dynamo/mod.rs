//! [`DynamoLedger`]: the seat ledger in one DynamoDB table, the deployed
//! store.
//!
//! Every guarantee of [`crate::seats`] rests on DynamoDB conditions, never on
//! read-then-write in this process:
//!
//! - `reserve` is ONE `TransactWriteItems`: raise the pool counter while
//!   `used < capacity` and put the claim if absent. The cancellation reasons
//!   tell which condition failed.
//! - `release` is one transaction: delete the claim if its `claim_id` matches
//!   and lower the counter.
//! - deliveries are conditional `PutItem`/`UpdateItem`/`DeleteItem` calls;
//!   lease and retention expiry are compared with stored times in the
//!   condition, never left to DynamoDB's TTL deletion (which may lag by days),
//!   and finishing or abandoning is conditioned on the lease's `attempt`.
//! - `touch` is one conditional `UpdateItem` (this claim id, still RESERVED);
//!   failed sign-ups are plain `PutItem`s in the pool's partition, and
//!   `failures` drops expired ones itself, TTL deletion being lazy.
//! - a sign-up request is written in ONE transaction with its listing item
//!   and (while open) its pool + person guard, put only if absent, so a
//!   second open request is refused by DynamoDB. `transition_request` reads
//!   the request, then in one transaction puts it back on condition that its
//!   state and revision are still what was read, moves the listing item and
//!   adds or deletes the guard: of concurrent moves exactly one wins. A
//!   closed request and its listing item carry `ttl`, so DynamoDB deletes
//!   them once their retention has passed.
//! - a new member's happy path is two transactions (`batch.rs`): the
//!   delivery's lease with the reservation's counter and claim, and the
//!   claim's activation with the audit record (and its day's marker) and
//!   the stored outcome, with the separate writes' conditions.
//! - audit events are conditional `PutItem`s (never overwriting) into one
//!   partition per UTC day, after a marker of the day; `audit_since` Queries
//!   the markers, then the days, in order. Nothing here ever Scans.
//! - an administrator's sign-in attempt is one conditional `UpdateItem`
//!   (`ADD`) on its window's item, counted only while the total and the
//!   address's count are below their limits; the item carries `ttl`.
//! - an alert level is one conditional `UpdateItem` on the subject's item,
//!   on condition that its level is still the one read.
//!
//! Transaction conflicts (concurrent transactions on the same counter) are
//! retried with full-jitter backoff within a [`ConflictRetry`] budget and
//! counted ([`DynamoLedger::conflicts_retried`]). The item layout and the
//! item ↔ domain mapping live in the private `item` module and nowhere else.
//! This module must not know about the portal or HTTP, and the errors it
//! returns carry a short description only, never the SDK's debug output.
//!
//! # Files
//!
//! This file holds the struct and its constructor. Beside it, one thing per
//! file: `retry.rs` (the budget and the retrying engine), `errors.rs` (SDK
//! errors, single-write refusals and cancellation reasons), `item.rs` (item
//! layout and mapping), `access.rs` (the reads, queries, transactions and
//! write builders every operation shares), `table.rs` ([`create_table`],
//! [`client_for_endpoint`]), `round_trips.rs` (the request count, see
//! [`DynamoLedger::round_trips`]), and one file per port: `claims.rs`,
//! `deliveries.rs`, `requests.rs`, `failures.rs`, `audit.rs`, `sign_ins.rs`,
//! `alert_levels.rs`, and `batch.rs` for the batches of several ports' writes. This file
//! imports only the retry engine, the table helpers and the counter, which
//! never import it back.

#[cfg(test)]
mod fake_tests;

mod access;
mod alert_levels;
mod audit;
mod batch;
mod claims;
mod deliveries;
mod errors;
mod failures;
mod item;
mod requests;
mod retry;
mod round_trips;
mod sign_ins;
mod table;

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;

use crate::seats::error::LedgerError;

pub use retry::ConflictRetry;
pub use table::{client_for_endpoint, create_table};

use retry::Step;
use round_trips::RoundTrips;

/// The seat ledger on DynamoDB; see the module docs for the table layout.
#[derive(Debug)]
pub struct DynamoLedger {
    client: Client,
    table: String,
    retry: ConflictRetry,
    /// Why atomic: reservations run concurrently on a shared ledger, and the
    /// count is only a statistic, so relaxed increments suffice.
    conflicts_retried: AtomicU64,
    /// The last UTC day whose `AUDIT_DAYS` marker this ledger wrote, so
    /// `audit` writes the marker once per day, not once per event. Only a
    /// saving: writing it again is harmless.
    audit_day_marked: Mutex<Option<String>>,
    /// Requests sent through `client` (attempts, retries included).
    round_trips: RoundTrips,
}

impl DynamoLedger {
    /// A ledger on `table_name` (which must exist, see [`create_table`]) with
    /// the default [`ConflictRetry`] budget.
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        let round_trips = RoundTrips::default();
        DynamoLedger {
            client: round_trips.install(&client),
            round_trips,
            table: table_name.into(),
            retry: ConflictRetry::default(),
            conflicts_retried: AtomicU64::new(0),
            audit_day_marked: Mutex::new(None),
        }
    }

    /// Replaces the conflict retry budget (tests use short delays).
    pub fn with_conflict_retry(mut self, retry: ConflictRetry) -> Self {
        self.retry = retry;
        self
    }

    /// How many times an operation was retried because of a transaction
    /// conflict since this ledger was made.
    pub fn conflicts_retried(&self) -> u64 {
        self.conflicts_retried.load(Ordering::Relaxed)
    }

    /// How many requests this ledger has sent to DynamoDB (every attempt,
    /// the SDK's retries included): what tests and benchmarks count a
    /// sign-up's round trips with.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.get()
    }

    /// The table this ledger writes to.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// Runs `attempt` until it is done, retrying conflicts and races within
    /// the budget (see [`retry::retrying`]).
    async fn retrying<T, F, Fut>(&self, what: &str, attempt: F) -> Result<T, LedgerError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Step<T>, LedgerError>>,
    {
        retry::retrying(&self.retry, &self.conflicts_retried, what, attempt).await
    }
}

//! The sign-in throttle port: [`SignInThrottle`], the administrator's
//! sign-in attempts counted per time window, per client address and in all,
//! with [`SignInAttempt`], [`SignInSlot`] and [`SignInCounts`].
//!
//! The counts live in the store so that every process (every Lambda
//! instance, every local server on one SQLite file) shares them: a limit
//! holds however many processes the guesses are spread over. Taking a slot
//! is one atomic write that counts the attempt only while both counts are
//! below their limits, so parallel attempts never overshoot a limit. What
//! the limits are, how long a window lasts and what an address is, is the
//! administrator's page's business (`entrypoints/http/admin/throttle.rs`);
//! the store only counts.
//!
//! This file only defines the port: it must not know any store, and the
//! counts never touch seats, counters, claims, requests or the audit trail
//! (this is not a claim: nothing here goes through the claim state machine).

use std::future::Future;

use crate::domain::UnixMillis;
use crate::seats::error::LedgerError;

/// One sign-in attempt to count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInAttempt<'a> {
    /// The window's start (epoch milliseconds): its counts are kept apart
    /// from every other window's.
    pub window: UnixMillis,
    /// The window's end (epoch milliseconds): after it the counts may be
    /// forgotten (DynamoDB's TTL, SQLite's purge, the memory ledger's next
    /// write).
    pub until: UnixMillis,
    /// The client's address as the page keys it (never empty: an unknown
    /// client has a key of its own).
    pub address: &'a str,
    /// Most attempts one address may have counted in the window.
    pub per_address: u32,
    /// Most attempts all addresses together may have counted in the window.
    pub global: u32,
}

/// What taking a slot came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInSlot {
    /// Counted for the address and in all: the secret may be checked.
    Taken,
    /// The address has its limit's worth counted: nothing written.
    AddressLimit,
    /// All addresses together have the global limit's worth counted:
    /// nothing written.
    GlobalLimit,
}

/// The counts of one window, as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignInCounts {
    /// Attempts counted for the address.
    pub address: u32,
    /// Attempts counted for all addresses together.
    pub global: u32,
}

/// The sign-in throttle port: take a slot (count an attempt within the
/// limits), give one back (the attempt was the right secret), read the
/// counts.
///
/// Every adapter keeps these rules:
///
/// - `take_sign_in` counts the attempt for the address and in all in ONE
///   atomic write, and only when the window's global count is below
///   `global` and the address's count below `per_address`; otherwise it
///   writes nothing and says which limit was reached (the global one when
///   both are). Of concurrent takes, never more succeed than the limits
///   allow.
/// - `give_back_sign_in` lowers both counts of the window by one when the
///   address has one counted, in one atomic write; otherwise it writes
///   nothing. Counts never go below zero.
/// - windows are independent: a new window starts at zero.
///
/// Futures are spelled out as `Send` so handlers can be spawned on a
/// multi-threaded runtime.
pub trait SignInThrottle: Send + Sync {
    /// Counts an attempt within the limits (see the trait docs).
    fn take_sign_in(
        &self,
        attempt: &SignInAttempt<'_>,
    ) -> impl Future<Output = Result<SignInSlot, LedgerError>> + Send;

    /// Takes back one attempt of `address` counted in `window` (see the
    /// trait docs).
    fn give_back_sign_in(
        &self,
        window: UnixMillis,
        address: &str,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// The counts of `window` for `address` and in all (zero when none).
    fn sign_in_counts(
        &self,
        window: UnixMillis,
        address: &str,
    ) -> impl Future<Output = Result<SignInCounts, LedgerError>> + Send;
}

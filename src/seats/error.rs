//! [`LedgerError`]: the one error every port of the seat ledger answers
//! with, so the ports and their adapters share it without importing each
//! other.
//!
//! It must stay vocabulary only: no port, no adapter, no I/O.

/// Ledger failures. Conditional-write refusals are not errors: they come back
/// as [`Reservation`](crate::seats::Reservation) /
/// [`DeliveryBegin`](crate::seats::DeliveryBegin) values.
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

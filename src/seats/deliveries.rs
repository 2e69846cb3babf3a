//! The deliveries port: [`DeliveryStore`], which webhook deliveries have
//! been handled (idempotency), with [`DeliveryBegin`], and the
//! delivery-lease rule every adapter applies: [`StoredDelivery`] (a stored
//! record, whatever the store's encoding) and [`refusal`] (what that record
//! answers a new `begin_delivery`).
//!
//! The rule is written here once. Adapters read their record, map it to a
//! [`StoredDelivery`] and ask [`refusal`]; they keep their own atomicity
//! (one SQLite transaction, one mutex, a DynamoDB conditional write whose
//! refusal this rule then explains). This file must not know any store, and
//! it never touches claims, counters, requests, failures or the audit trail.

use std::future::Future;

use crate::domain::{DeliveryKey, UnixMillis};
use crate::seats::error::LedgerError;

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

/// The deliveries port: a lease per delivery key with its payload's hash,
/// then the outcome answered again to redeliveries. All methods are atomic
/// with respect to each other for the same key; see the module docs of
/// [`crate::seats`].
///
/// Futures are spelled out as `Send` so handlers can be spawned on a
/// multi-threaded runtime.
pub trait DeliveryStore: Send + Sync {
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
}

/// A stored delivery record, as every adapter reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredDelivery {
    /// The hash of the payload that took the lease.
    pub(crate) payload_hash: String,
    /// Where the delivery is.
    pub(crate) status: DeliveryStatus,
}

/// Where a stored delivery is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DeliveryStatus {
    /// A handler holds the lease until `lease_until` (inclusive).
    InProgress {
        /// The last millisecond of the lease.
        lease_until: UnixMillis,
    },
    /// Handled; `outcome` is answered again until `retain_until` (inclusive).
    Complete {
        /// The outcome (opaque JSON written by the workflow).
        outcome: String,
        /// The last millisecond the outcome is answered.
        retain_until: UnixMillis,
    },
}

/// The delivery-lease rule: what the stored record (if any) answers a
/// `begin_delivery` with `payload_hash` at `now`, or `None` when the key is
/// free and the lease is to be taken (then the answer is
/// [`DeliveryBegin::Started`]).
pub(crate) fn refusal(
    stored: Option<&StoredDelivery>,
    payload_hash: &str,
    now: UnixMillis,
) -> Option<DeliveryBegin> {
    let record = stored?;
    let same_payload = record.payload_hash == payload_hash;
    match &record.status {
        DeliveryStatus::InProgress { .. } if !same_payload => Some(DeliveryBegin::PayloadMismatch),
        // Why: a live lease means another attempt is working on it; an
        // expired one means that attempt died, and the same payload may take
        // over.
        DeliveryStatus::InProgress { lease_until } if *lease_until >= now => {
            Some(DeliveryBegin::InProgress)
        }
        DeliveryStatus::InProgress { .. } => None,
        // Past retention the key is forgotten, whatever the payload: start
        // afresh.
        DeliveryStatus::Complete { retain_until, .. } if *retain_until < now => None,
        DeliveryStatus::Complete { .. } if !same_payload => Some(DeliveryBegin::PayloadMismatch),
        DeliveryStatus::Complete { outcome, .. } => Some(DeliveryBegin::Completed(outcome.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: DeliveryStatus, hash: &str) -> StoredDelivery {
        StoredDelivery {
            status,
            payload_hash: hash.into(),
        }
    }

    #[test]
    fn a_live_lease_refuses_with_in_progress_and_an_expired_one_does_not() {
        let r = record(DeliveryStatus::InProgress { lease_until: 100 }, "h");
        assert_eq!(refusal(Some(&r), "h", 100), Some(DeliveryBegin::InProgress));
        assert_eq!(refusal(Some(&r), "h", 101), None);
        assert_eq!(
            refusal(Some(&r), "other", 101),
            Some(DeliveryBegin::PayloadMismatch)
        );
    }

    #[test]
    fn a_completed_record_answers_until_its_retention_ends() {
        let r = record(
            DeliveryStatus::Complete {
                outcome: "{\"ok\":true}".into(),
                retain_until: 500,
            },
            "h",
        );
        assert_eq!(
            refusal(Some(&r), "h", 500),
            Some(DeliveryBegin::Completed("{\"ok\":true}".into()))
        );
        assert_eq!(
            refusal(Some(&r), "other", 500),
            Some(DeliveryBegin::PayloadMismatch)
        );
        assert_eq!(refusal(Some(&r), "other", 501), None);
    }

    #[test]
    fn a_key_never_seen_is_free() {
        assert_eq!(refusal(None, "h", 100), None);
    }
}

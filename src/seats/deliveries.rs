//! The deliveries port: [`DeliveryStore`], which webhook deliveries have
//! been handled (idempotency), with [`DeliveryBegin`] and [`LeaseHolder`],
//! and the delivery-lease rules every adapter applies: [`StoredDelivery`] (a
//! stored record, whatever the store's encoding), [`refusal`] (what that
//! record answers a new `begin_delivery`), [`finishable_by`] and
//! [`abandonable_by`] (which records a `finish_delivery` or an
//! `abandon_delivery` may write).
//!
//! A lease belongs to an **attempt**: one run of a delivery, named by a
//! fresh random token the workflow draws for it and stored with the lease.
//! So a store call retried by the same attempt (the reply to its first
//! write was lost) finds its own lease and carries on at once, while any
//! other attempt waits for the lease to end; and a late finish or abandon
//! by an attempt whose lease expired and was taken over writes nothing.
//! Records stored before attempts were (no attempt) are held by nobody in
//! particular: no attempt matches them, and their leases expire as before
//! (only [`LeaseHolder::Any`] abandons one).
//!
//! The rules are written here once. Adapters read their record, map it to a
//! [`StoredDelivery`] and ask the rules (or write the same rules as the
//! condition of their write); they keep their own atomicity (one SQLite
//! transaction, one mutex, a DynamoDB conditional write whose refusal this
//! rule then explains). This file must not know any store, and it never
//! touches claims, counters, requests, failures or the audit trail.

use std::future::Future;

use crate::domain::{DeliveryKey, UnixMillis};
use crate::seats::error::LedgerError;

/// What `begin_delivery` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryBegin {
    /// The lease is ours: handle the delivery, then `finish_delivery` or
    /// `abandon_delivery`. Also returned when a previous holder's lease has
    /// expired (it crashed), so a redelivery can take over, and when the
    /// live lease is already this attempt's (the reply to its first
    /// `begin_delivery` was lost and the call was repeated).
    Started,
    /// Another attempt holds a live lease: answer "retry later".
    InProgress,
    /// Already handled: the stored outcome (opaque JSON written by the
    /// workflow) is to be answered again.
    Completed(String),
    /// The same key arrived earlier with a different payload: refuse.
    PayloadMismatch,
}

/// Whose lease [`DeliveryStore::abandon_delivery`] drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseHolder<'a> {
    /// Only the lease this attempt holds: the normal case, so a late
    /// abandon never drops the lease of an attempt that took over.
    Attempt(&'a str),
    /// Whichever attempt holds the lease, records stored before attempts
    /// were included. Only for a caller that knows the holder is dead: the
    /// CSV import, which holds its file's lock, clearing a lease on one of
    /// its own rows left by a run that died.
    Any,
}

/// The deliveries port: a lease per delivery key, held by one attempt, with
/// its payload's hash, then the outcome answered again to redeliveries. All
/// methods are atomic with respect to each other for the same key; see the
/// module docs here and of [`crate::seats`].
///
/// Futures are spelled out as `Send` so handlers can be spawned on a
/// multi-threaded runtime.
pub trait DeliveryStore: Send + Sync {
    /// Takes the lease on a delivery for `attempt` (a fresh token per run of
    /// the delivery); see [`DeliveryBegin`]. `payload_hash` is compared with
    /// the stored one; `lease_ms` bounds how long a crashed attempt blocks a
    /// redelivery. Repeated by the same attempt while its lease is live, it
    /// answers [`DeliveryBegin::Started`] again and writes nothing.
    fn begin_delivery(
        &self,
        key: &DeliveryKey,
        attempt: &str,
        payload_hash: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> impl Future<Output = Result<DeliveryBegin, LedgerError>> + Send;

    /// Stores the final outcome of a delivery whose lease `attempt` holds;
    /// later `begin_delivery` calls return it until `retain_until`. Writes
    /// only while the record still carries `attempt` (so a repeated call
    /// writes the same outcome again): `Ok(false)` when it wrote nothing
    /// because the record is gone (abandoned) or another attempt took the
    /// lease over after it expired.
    fn finish_delivery(
        &self,
        key: &DeliveryKey,
        attempt: &str,
        outcome_json: &str,
        now: UnixMillis,
        retain_until: UnixMillis,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;

    /// Drops the lease without an outcome (a transient failure), so the
    /// sender's retry runs the delivery again. Drops only a lease `holder`
    /// names, and never a stored outcome: `Ok(false)` when it wrote
    /// nothing.
    fn abandon_delivery(
        &self,
        key: &DeliveryKey,
        holder: LeaseHolder<'_>,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;
}

/// A stored delivery record, as every adapter reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredDelivery {
    /// The hash of the payload that took the lease.
    pub(crate) payload_hash: String,
    /// The attempt that took the lease (and, once complete, finished it);
    /// `None` on records stored before attempts were, which no attempt
    /// holds.
    pub(crate) attempt: Option<String>,
    /// Where the delivery is.
    pub(crate) status: DeliveryStatus,
}

impl StoredDelivery {
    /// Whether the record carries `attempt`.
    fn held_by(&self, attempt: &str) -> bool {
        self.attempt.as_deref() == Some(attempt)
    }
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
/// `begin_delivery` by `attempt` with `payload_hash` at `now`, or `None` when
/// the key is free and the lease is to be written (then the answer is
/// [`DeliveryBegin::Started`]). `Some(Started)` means the live lease is
/// already this attempt's: nothing is to be written.
pub(crate) fn refusal(
    stored: Option<&StoredDelivery>,
    attempt: &str,
    payload_hash: &str,
    now: UnixMillis,
) -> Option<DeliveryBegin> {
    let record = stored?;
    let same_payload = record.payload_hash == payload_hash;
    match &record.status {
        DeliveryStatus::InProgress { .. } if !same_payload => Some(DeliveryBegin::PayloadMismatch),
        // Why: a live lease of this very attempt means the reply to its own
        // write was lost and the call was repeated: the lease is ours
        // already, and waiting for it to end would block the delivery for
        // nothing.
        DeliveryStatus::InProgress { lease_until }
            if *lease_until >= now && record.held_by(attempt) =>
        {
            Some(DeliveryBegin::Started)
        }
        // Why: a live lease of another attempt (or of a record stored before
        // attempts were) means that attempt is working on it; an expired one
        // means that attempt died, and the same payload may take over.
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

/// Whether `finish_delivery` by `attempt` may store its outcome on the
/// record: only while the record carries that attempt. In progress, that
/// is its lease (expired or not, nobody else took it over); complete, its
/// own outcome stored by an earlier try of the same call, written again.
/// A missing record (abandoned) stays missing: there is no payload hash to
/// keep, and a redelivery simply runs again (the workflow is idempotent per
/// claim).
pub(crate) fn finishable_by(stored: Option<&StoredDelivery>, attempt: &str) -> bool {
    stored.is_some_and(|record| record.held_by(attempt))
}

/// Whether `abandon_delivery` for `holder` may delete the record: only a
/// lease in progress (abandoning never erases a stored outcome), and only
/// one `holder` names.
pub(crate) fn abandonable_by(stored: Option<&StoredDelivery>, holder: LeaseHolder<'_>) -> bool {
    stored.is_some_and(|record| {
        matches!(record.status, DeliveryStatus::InProgress { .. })
            && match holder {
                LeaseHolder::Attempt(attempt) => record.held_by(attempt),
                LeaseHolder::Any => true,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attempt that wrote the records below.
    const HOLDER: &str = "a1";
    /// Any other attempt.
    const OTHER: &str = "a2";

    fn record(status: DeliveryStatus, hash: &str) -> StoredDelivery {
        StoredDelivery {
            status,
            payload_hash: hash.into(),
            attempt: Some(HOLDER.into()),
        }
    }

    fn complete(retain_until: UnixMillis) -> DeliveryStatus {
        DeliveryStatus::Complete {
            outcome: "{\"ok\":true}".into(),
            retain_until,
        }
    }

    #[test]
    fn a_live_lease_refuses_with_in_progress_and_an_expired_one_does_not() {
        let r = record(DeliveryStatus::InProgress { lease_until: 100 }, "h");
        assert_eq!(
            refusal(Some(&r), OTHER, "h", 100),
            Some(DeliveryBegin::InProgress)
        );
        assert_eq!(refusal(Some(&r), OTHER, "h", 101), None);
        assert_eq!(
            refusal(Some(&r), OTHER, "other", 101),
            Some(DeliveryBegin::PayloadMismatch)
        );
    }

    #[test]
    fn the_holders_own_live_lease_answers_started_and_its_expired_one_is_taken_again() {
        let r = record(DeliveryStatus::InProgress { lease_until: 100 }, "h");
        assert_eq!(
            refusal(Some(&r), HOLDER, "h", 100),
            Some(DeliveryBegin::Started)
        );
        assert_eq!(refusal(Some(&r), HOLDER, "h", 101), None);
        assert_eq!(
            refusal(Some(&r), HOLDER, "other", 100),
            Some(DeliveryBegin::PayloadMismatch)
        );
    }

    #[test]
    fn a_lease_stored_without_an_attempt_is_nobodys_and_expires_as_before() {
        let mut r = record(DeliveryStatus::InProgress { lease_until: 100 }, "h");
        r.attempt = None;
        assert_eq!(
            refusal(Some(&r), HOLDER, "h", 100),
            Some(DeliveryBegin::InProgress)
        );
        assert_eq!(refusal(Some(&r), HOLDER, "h", 101), None);
        assert!(!finishable_by(Some(&r), HOLDER));
        assert!(!abandonable_by(Some(&r), LeaseHolder::Attempt(HOLDER)));
        assert!(abandonable_by(Some(&r), LeaseHolder::Any));
    }

    #[test]
    fn a_completed_record_answers_until_its_retention_ends() {
        let r = record(complete(500), "h");
        assert_eq!(
            refusal(Some(&r), OTHER, "h", 500),
            Some(DeliveryBegin::Completed("{\"ok\":true}".into()))
        );
        assert_eq!(
            refusal(Some(&r), OTHER, "other", 500),
            Some(DeliveryBegin::PayloadMismatch)
        );
        assert_eq!(refusal(Some(&r), OTHER, "other", 501), None);
    }

    #[test]
    fn a_key_never_seen_is_free() {
        assert_eq!(refusal(None, HOLDER, "h", 100), None);
        assert!(!finishable_by(None, HOLDER));
        assert!(!abandonable_by(None, LeaseHolder::Any));
    }

    #[test]
    fn only_the_holder_finishes_and_only_a_lease_in_progress_is_abandoned() {
        let live = record(DeliveryStatus::InProgress { lease_until: 100 }, "h");
        assert!(finishable_by(Some(&live), HOLDER));
        assert!(!finishable_by(Some(&live), OTHER));
        assert!(abandonable_by(Some(&live), LeaseHolder::Attempt(HOLDER)));
        assert!(!abandonable_by(Some(&live), LeaseHolder::Attempt(OTHER)));
        assert!(abandonable_by(Some(&live), LeaseHolder::Any));

        let done = record(complete(500), "h");
        // The holder's own outcome may be written again (a repeated call),
        // but never abandoned, by anybody.
        assert!(finishable_by(Some(&done), HOLDER));
        assert!(!finishable_by(Some(&done), OTHER));
        assert!(!abandonable_by(Some(&done), LeaseHolder::Attempt(HOLDER)));
        assert!(!abandonable_by(Some(&done), LeaseHolder::Any));
    }
}

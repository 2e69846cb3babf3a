//! [`DeliveryStore`] on SQLite: the delivery lease, held by one attempt,
//! and its outcome, each write ONE `BEGIN IMMEDIATE` transaction. The lease
//! rule itself is the shared one ([`refusal`]); this file reads the record
//! and writes what the rule allows. Finishing and abandoning write the
//! shared holder rules as their `WHERE`, so they need no read.
//!
//! Only the deliveries table; this file must not touch claims, counters,
//! requests, failures or the audit trail.

use rusqlite::{Connection, params};

use crate::domain::{DeliveryKey, UnixMillis};
use crate::seats::deliveries::{
    DeliveryBegin, DeliveryStore, LeaseHolder, StoredDelivery, refusal,
};
use crate::seats::error::LedgerError;

use super::SqliteLedger;
use super::errors::TxError;
use super::rows::{COMPLETE, IN_PROGRESS, SELECT_DELIVERY, delivery_from_row, first};

/// The delivery record of `key`, if any.
pub(super) fn read_delivery(
    conn: &Connection,
    key: &DeliveryKey,
) -> Result<Option<StoredDelivery>, TxError> {
    let mut stmt = conn.prepare_cached(SELECT_DELIVERY)?;
    first(stmt.query(params![key.source, key.id])?, delivery_from_row)
}

/// Writes the lease of `attempt` on `key` (over an expired lease or a
/// record past its retention), which the caller has checked the rule
/// allows in the same transaction.
pub(super) fn insert_lease(
    tx: &Connection,
    key: &DeliveryKey,
    payload_hash: &str,
    attempt: &str,
    now: UnixMillis,
    lease_ms: i64,
) -> Result<(), TxError> {
    tx.prepare_cached(
        "INSERT INTO deliveries (source, id, status, payload_hash, lease_until, \
                 outcome, retain_until, updated_at, attempt) \
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6, ?7) \
                 ON CONFLICT (source, id) DO UPDATE SET status = excluded.status, \
                 payload_hash = excluded.payload_hash, lease_until = excluded.lease_until, \
                 outcome = NULL, retain_until = NULL, updated_at = excluded.updated_at, \
                 attempt = excluded.attempt",
    )?
    .execute(params![
        key.source,
        key.id,
        IN_PROGRESS,
        payload_hash,
        now.saturating_add(lease_ms),
        now,
        attempt,
    ])?;
    Ok(())
}

/// Stores the outcome under the lease `attempt` holds; whether it did
/// (the shared `finishable_by` rule, as a condition).
pub(super) fn store_outcome(
    tx: &Connection,
    key: &DeliveryKey,
    attempt: &str,
    outcome: &str,
    now: UnixMillis,
    retain_until: UnixMillis,
) -> Result<bool, TxError> {
    let changed = tx
        .prepare_cached(
            "UPDATE deliveries SET status = ?3, outcome = ?4, retain_until = ?5, \
                     lease_until = NULL, updated_at = ?6 \
                     WHERE source = ?1 AND id = ?2 AND attempt = ?7",
        )?
        .execute(params![
            key.source,
            key.id,
            COMPLETE,
            outcome,
            retain_until,
            now,
            attempt
        ])?;
    Ok(changed > 0)
}

impl DeliveryStore for SqliteLedger {
    async fn begin_delivery(
        &self,
        key: &DeliveryKey,
        attempt: &str,
        payload_hash: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> Result<DeliveryBegin, LedgerError> {
        let key = key.clone();
        let attempt = attempt.to_string();
        let payload_hash = payload_hash.to_string();
        self.write("begin_delivery", move |tx| {
            let stored = read_delivery(tx, &key)?;
            if let Some(answer) = refusal(stored.as_ref(), &attempt, &payload_hash, now) {
                return Ok(answer);
            }
            insert_lease(tx, &key, &payload_hash, &attempt, now, lease_ms)?;
            Ok(DeliveryBegin::Started)
        })
        .await
    }

    async fn finish_delivery(
        &self,
        key: &DeliveryKey,
        attempt: &str,
        outcome_json: &str,
        now: UnixMillis,
        retain_until: UnixMillis,
    ) -> Result<bool, LedgerError> {
        let key = key.clone();
        let attempt = attempt.to_string();
        let outcome = outcome_json.to_string();
        self.write("finish_delivery", move |tx| {
            // Why only a record this attempt holds (the shared
            // `finishable_by` rule): a record that is gone (abandoned) has no
            // payload hash to keep, and one taken over after its lease
            // expired belongs to another attempt. A NULL attempt (a record
            // written before schema version 6) never equals ours.
            store_outcome(tx, &key, &attempt, &outcome, now, retain_until)
        })
        .await
    }

    async fn abandon_delivery(
        &self,
        key: &DeliveryKey,
        holder: LeaseHolder<'_>,
    ) -> Result<bool, LedgerError> {
        let key = key.clone();
        // NULL stands for any holder.
        let attempt = match holder {
            LeaseHolder::Attempt(attempt) => Some(attempt.to_string()),
            LeaseHolder::Any => None,
        };
        self.write("abandon_delivery", move |tx| {
            // Why only in progress and only the named holder's (the shared
            // `abandonable_by` rule): abandoning must never erase an
            // outcome, nor the lease of an attempt that took over.
            let deleted = tx
                .prepare_cached(
                    "DELETE FROM deliveries WHERE source = ?1 AND id = ?2 AND status = ?3 \
                     AND (?4 IS NULL OR attempt = ?4)",
                )?
                .execute(params![key.source, key.id, IN_PROGRESS, attempt])?;
            Ok(deleted > 0)
        })
        .await
    }
}

//! [`DeliveryStore`] on SQLite: the delivery lease and its outcome, each
//! write ONE `BEGIN IMMEDIATE` transaction. The lease rule itself is the
//! shared one ([`refusal`]); this file reads the record and writes what the
//! rule allows.
//!
//! Only the deliveries table; this file must not touch claims, counters,
//! requests, failures or the audit trail.

use rusqlite::{Connection, params};

use crate::domain::{DeliveryKey, UnixMillis};
use crate::seats::deliveries::{DeliveryBegin, DeliveryStore, StoredDelivery, refusal};
use crate::seats::error::LedgerError;

use super::SqliteLedger;
use super::errors::TxError;
use super::rows::{COMPLETE, IN_PROGRESS, SELECT_DELIVERY, delivery_from_row, first};

/// The delivery record of `key`, if any.
fn read_delivery(conn: &Connection, key: &DeliveryKey) -> Result<Option<StoredDelivery>, TxError> {
    let mut stmt = conn.prepare_cached(SELECT_DELIVERY)?;
    first(stmt.query(params![key.source, key.id])?, delivery_from_row)
}

impl DeliveryStore for SqliteLedger {
    async fn begin_delivery(
        &self,
        key: &DeliveryKey,
        payload_hash: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> Result<DeliveryBegin, LedgerError> {
        let key = key.clone();
        let payload_hash = payload_hash.to_string();
        self.write("begin_delivery", move |tx| {
            if let Some(answer) = refusal(read_delivery(tx, &key)?.as_ref(), &payload_hash, now) {
                return Ok(answer);
            }
            tx.prepare_cached(
                "INSERT INTO deliveries (source, id, status, payload_hash, lease_until, \
                 outcome, retain_until, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6) \
                 ON CONFLICT (source, id) DO UPDATE SET status = excluded.status, \
                 payload_hash = excluded.payload_hash, lease_until = excluded.lease_until, \
                 outcome = NULL, retain_until = NULL, updated_at = excluded.updated_at",
            )?
            .execute(params![
                key.source,
                key.id,
                IN_PROGRESS,
                payload_hash,
                now.saturating_add(lease_ms),
                now,
            ])?;
            Ok(DeliveryBegin::Started)
        })
        .await
    }

    async fn finish_delivery(
        &self,
        key: &DeliveryKey,
        outcome_json: &str,
        now: UnixMillis,
        retain_until: UnixMillis,
    ) -> Result<(), LedgerError> {
        let key = key.clone();
        let outcome = outcome_json.to_string();
        let source = key.source.clone();
        // Why only an existing record: without it there is no payload
        // hash to keep; a redelivery simply runs again (the workflow is
        // idempotent per claim). The other adapters do the same.
        let changed = self
            .write("finish_delivery", move |tx| {
                Ok(tx
                    .prepare_cached(
                        "UPDATE deliveries SET status = ?3, outcome = ?4, retain_until = ?5, \
                         lease_until = NULL, updated_at = ?6 WHERE source = ?1 AND id = ?2",
                    )?
                    .execute(params![
                        key.source,
                        key.id,
                        COMPLETE,
                        outcome,
                        retain_until,
                        now
                    ])?)
            })
            .await?;
        if changed == 0 {
            tracing::warn!(
                source = %source,
                "delivery record vanished before its outcome was stored"
            );
        }
        Ok(())
    }

    async fn abandon_delivery(&self, key: &DeliveryKey) -> Result<(), LedgerError> {
        let key = key.clone();
        self.write("abandon_delivery", move |tx| {
            // Why only in progress: abandoning must never erase an outcome.
            tx.prepare_cached(
                "DELETE FROM deliveries WHERE source = ?1 AND id = ?2 AND status = ?3",
            )?
            .execute(params![key.source, key.id, IN_PROGRESS])?;
            Ok(())
        })
        .await
    }
}

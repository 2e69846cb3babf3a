//! [`AuditLog`] on SQLite: the audit trail, appended and read by
//! `(at, id)`, so events with the same `at` keep their arrival order.
//!
//! Only the audit table, whose rows are never updated or deleted here (nor
//! by the purge); this file must not touch seats, counters, claims or
//! requests.

use rusqlite::{Connection, params};

use crate::domain::UnixMillis;
use crate::seats::audit::{AuditEvent, AuditLog};
use crate::seats::error::LedgerError;

use super::SqliteLedger;
use super::errors::TxError;
use super::rows::{all, audit_from_row};

/// Appends `e` to the audit trail.
pub(super) fn insert_audit(tx: &Connection, e: &AuditEvent) -> Result<(), TxError> {
    tx.prepare_cached(
        "INSERT INTO audit (at, actor, action, pool, person, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![e.at, e.actor, e.action, e.pool, e.person, e.detail])?;
    Ok(())
}

impl AuditLog for SqliteLedger {
    async fn audit(&self, e: &AuditEvent) -> Result<(), LedgerError> {
        let e = e.clone();
        self.write("audit", move |tx| insert_audit(tx, &e)).await
    }

    async fn audit_since(
        &self,
        since: UnixMillis,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, LedgerError> {
        // Why saturate: SQLite's LIMIT is a signed 64-bit number.
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run("audit_since", move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT at, actor, action, pool, person, detail FROM audit \
                 WHERE at >= ?1 ORDER BY at, id LIMIT ?2",
            )?;
            all(stmt.query(params![since, limit])?, audit_from_row)
        })
        .await
    }
}

//! [`RequestStore`] on SQLite: sign-up requests, each write ONE
//! `BEGIN IMMEDIATE` transaction, with a partial unique index keeping one
//! open request per pool + person.
//!
//! Only the requests table, which does not reference `pools`; this file must
//! not touch seats, counters or claims.

use rusqlite::{Connection, params};

use crate::domain::{ClaimKey, PoolId, RequestState};
use crate::seats::error::LedgerError;
use crate::seats::requests::{RequestChange, RequestStore, SignupRecord, request_id_taken};

use super::SqliteLedger;
use super::errors::TxError;
use super::rows::{REQUEST_COLUMNS, all, first, request_from_row};

/// The request `id`, if any.
fn read_request(conn: &Connection, id: &str) -> Result<Option<SignupRecord>, TxError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?1"
    ))?;
    first(stmt.query(params![id])?, request_from_row)
}

/// The open (PENDING/WAITLISTED) request of a pool + person, if any.
fn read_open_request(conn: &Connection, key: &ClaimKey) -> Result<Option<SignupRecord>, TxError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REQUEST_COLUMNS} FROM requests \
         WHERE pool = ?1 AND person = ?2 AND state IN ('PENDING', 'WAITLISTED')"
    ))?;
    first(
        stmt.query(params![key.pool.as_str(), key.person])?,
        request_from_row,
    )
}

impl RequestStore for SqliteLedger {
    async fn create_request(&self, r: &SignupRecord) -> Result<Option<SignupRecord>, LedgerError> {
        let r = r.clone();
        self.write("create_request", move |tx| {
            // Why this order: an open request wins over an id clash, as in
            // the other adapters, so a retried create learns it exists.
            if r.state.is_open()
                && let Some(existing) = read_open_request(tx, &r.key)?
            {
                return Ok(Some(existing));
            }
            if read_request(tx, &r.id)?.is_some() {
                return Err(TxError::Ledger(request_id_taken()));
            }
            tx.prepare_cached(&format!(
                "INSERT INTO requests ({REQUEST_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))?
            .execute(params![
                r.id,
                r.key.pool.as_str(),
                r.key.person,
                r.delivery,
                r.payload,
                r.state.as_str(),
                r.claim_id,
                r.created_at,
                r.expires_at,
                r.decided_at,
                r.decided_by,
                r.reason,
                r.retain_until,
            ])?;
            Ok(None)
        })
        .await
    }

    async fn request(&self, id: &str) -> Result<Option<SignupRecord>, LedgerError> {
        let id = id.to_string();
        self.run("request", move |conn| read_request(conn, &id))
            .await
    }

    async fn requests(
        &self,
        pool: &PoolId,
        state: RequestState,
    ) -> Result<Vec<SignupRecord>, LedgerError> {
        let pool = pool.clone();
        self.run("requests", move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {REQUEST_COLUMNS} FROM requests WHERE pool = ?1 AND state = ?2 \
                 ORDER BY created_at, id"
            ))?;
            all(
                stmt.query(params![pool.as_str(), state.as_str()])?,
                request_from_row,
            )
        })
        .await
    }

    async fn transition_request(
        &self,
        id: &str,
        from: RequestState,
        to: RequestState,
        change: &RequestChange,
    ) -> Result<Option<SignupRecord>, LedgerError> {
        let id = id.to_string();
        let change = change.clone();
        // Why IMMEDIATE (`write`): the state read below stays true until our
        // update commits, so of concurrent moves out of `from` exactly one
        // wins.
        self.write("transition_request", move |tx| {
            let Some(current) = read_request(tx, &id)?.filter(|r| r.state == from) else {
                return Ok(None);
            };
            // Why check: reopening a closed request must not give the person
            // a second open one (the partial unique index would refuse it as
            // a constraint violation; this answers like the other adapters).
            if !from.is_open() && to.is_open() && read_open_request(tx, &current.key)?.is_some() {
                return Ok(None);
            }
            let updated = change.apply(&current, to);
            tx.prepare_cached(
                "UPDATE requests SET state = ?3, claim_id = ?4, decided_at = ?5, \
                 decided_by = ?6, reason = ?7, retain_until = ?8 WHERE id = ?1 AND state = ?2",
            )?
            .execute(params![
                id,
                from.as_str(),
                updated.state.as_str(),
                updated.claim_id,
                updated.decided_at,
                updated.decided_by,
                updated.reason,
                updated.retain_until,
            ])?;
            Ok(Some(updated))
        })
        .await
    }
}

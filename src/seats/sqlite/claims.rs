//! [`ClaimStore`] on SQLite: seats taken, confirmed, moved and given back,
//! each write ONE `BEGIN IMMEDIATE` transaction with the pool's counter.
//!
//! Only the claims and pools tables; this file must not touch deliveries,
//! requests, failures or the audit trail.

use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::{ClaimKey, PoolId, UnixMillis};
use crate::seats::claims::{
    Claim, ClaimState, ClaimStore, PoolUsage, Rekey, Reservation, ReserveRequest,
};
use crate::seats::error::LedgerError;

use super::SqliteLedger;
use super::errors::{TxError, corrupt};
use super::rows::{SELECT_CLAIM, SELECT_CLAIMS, all, claim_from_row, first, parse_used};

/// The claim of `key`, if any.
fn read_claim(conn: &Connection, key: &ClaimKey) -> Result<Option<Claim>, TxError> {
    let mut stmt = conn.prepare_cached(SELECT_CLAIM)?;
    first(
        stmt.query(params![key.pool.as_str(), key.person])?,
        claim_from_row,
    )
}

/// Seats used in `pool` (0 when it has no counter yet).
fn read_used(conn: &Connection, pool: &PoolId) -> Result<u32, TxError> {
    let used: Option<i64> = conn
        .prepare_cached("SELECT used FROM pools WHERE pool = ?1")?
        .query_row(params![pool.as_str()], |row| row.get(0))
        .optional()?;
    used.map_or(Ok(0), parse_used)
}

impl ClaimStore for SqliteLedger {
    async fn reserve(&self, req: ReserveRequest<'_>) -> Result<Reservation, LedgerError> {
        let capacity = req.capacity;
        let claim = req.reserved_claim();
        // Why IMMEDIATE (`write`): the write lock is taken before the reads,
        // so the checks below cannot be invalidated by another writer before
        // our insert (a DEFERRED transaction would fail to upgrade instead).
        self.write("reserve", move |tx| {
            // Why this order: an existing claim wins over a full pool, as in
            // the other adapters, so a retried sign-up learns it has a seat.
            if let Some(existing) = read_claim(tx, &claim.key)? {
                return Ok(Reservation::AlreadyHeld(existing));
            }
            let used = read_used(tx, &claim.key.pool)?;
            if used >= capacity {
                return Ok(Reservation::PoolFull { used });
            }
            tx.prepare_cached(
                "INSERT INTO pools (pool, used) VALUES (?1, 1) \
                 ON CONFLICT (pool) DO UPDATE SET used = used + 1",
            )?
            .execute(params![claim.key.pool.as_str()])?;
            tx.prepare_cached(
                "INSERT INTO claims (pool, person, claim_id, state, username, delivery, \
                 reserved_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?
            .execute(params![
                claim.key.pool.as_str(),
                claim.key.person,
                claim.claim_id,
                claim.state.as_str(),
                claim.username,
                claim.delivery,
                claim.reserved_at,
            ])?;
            Ok(Reservation::Reserved(claim))
        })
        .await
    }

    async fn confirm(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        username: &str,
        now: UnixMillis,
    ) -> Result<Claim, LedgerError> {
        let key = key.clone();
        let claim_id = claim_id.to_string();
        let username = username.to_string();
        self.write("confirm", move |tx| {
            // Why match the claim id: only the reservation that made the
            // claim may confirm it, never a claim made again since.
            let changed = tx
                .prepare_cached(
                    "UPDATE claims SET state = ?4, username = ?5, updated_at = ?6 \
                     WHERE pool = ?1 AND person = ?2 AND claim_id = ?3",
                )?
                .execute(params![
                    key.pool.as_str(),
                    key.person,
                    claim_id,
                    ClaimState::Active.as_str(),
                    username,
                    now,
                ])?;
            if changed == 0 {
                return Err(TxError::Ledger(LedgerError::ClaimNotFound));
            }
            let claim = read_claim(tx, &key)?.ok_or(LedgerError::ClaimNotFound)?;
            Ok(claim)
        })
        .await
    }

    async fn release(&self, key: &ClaimKey, claim_id: &str) -> Result<bool, LedgerError> {
        let key = key.clone();
        let claim_id = claim_id.to_string();
        self.write("release", move |tx| {
            // Why compare ids: a late compensation must not free a claim made
            // again, under a new id, after its own was released.
            let deleted = tx
                .prepare_cached(
                    "DELETE FROM claims WHERE pool = ?1 AND person = ?2 AND claim_id = ?3",
                )?
                .execute(params![key.pool.as_str(), key.person, claim_id])?;
            if deleted == 0 {
                return Ok(false);
            }
            let lowered = tx
                .prepare_cached("UPDATE pools SET used = used - 1 WHERE pool = ?1 AND used > 0")?
                .execute(params![key.pool.as_str()])?;
            if lowered == 0 {
                // Answering an error drops the transaction, which rolls the
                // delete back.
                return Err(corrupt("pool counter is zero while a claim exists"));
            }
            Ok(true)
        })
        .await
    }

    async fn rekey(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        new_person: &str,
        now: UnixMillis,
    ) -> Result<Rekey, LedgerError> {
        let key = key.clone();
        let claim_id = claim_id.to_string();
        let new_key = ClaimKey {
            pool: key.pool.clone(),
            person: new_person.to_string(),
        };
        self.write("rekey", move |tx| {
            match read_claim(tx, &key)? {
                Some(c) if c.claim_id == claim_id => {
                    if key.person == new_key.person {
                        return Ok(Rekey::Moved(c));
                    }
                }
                _ => return Ok(Rekey::NotFound),
            }
            if let Some(other) = read_claim(tx, &new_key)? {
                return Ok(Rekey::Taken(other));
            }
            tx.prepare_cached(
                "UPDATE claims SET person = ?1, updated_at = ?2 \
                 WHERE pool = ?3 AND person = ?4 AND claim_id = ?5",
            )?
            .execute(params![
                new_key.person,
                now,
                key.pool.as_str(),
                key.person,
                claim_id
            ])?;
            let moved = read_claim(tx, &new_key)?
                .ok_or_else(|| corrupt("a re-keyed claim cannot be read back"))?;
            Ok(Rekey::Moved(moved))
        })
        .await
    }

    async fn claim(&self, key: &ClaimKey) -> Result<Option<Claim>, LedgerError> {
        let key = key.clone();
        self.run("claim", move |conn| read_claim(conn, &key)).await
    }

    /// Every claim of the pool, oldest reservation first (ties by person).
    async fn claims(&self, pool: &PoolId) -> Result<Vec<Claim>, LedgerError> {
        let pool = pool.clone();
        self.run("claims", move |conn| {
            let mut stmt = conn.prepare_cached(SELECT_CLAIMS)?;
            all(stmt.query(params![pool.as_str()])?, claim_from_row)
        })
        .await
    }

    async fn usage(&self, pool: &PoolId) -> Result<PoolUsage, LedgerError> {
        let pool = pool.clone();
        self.run("usage", move |conn| {
            let used = read_used(conn, &pool)?;
            Ok(PoolUsage { pool, used })
        })
        .await
    }

    async fn touch(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        now: UnixMillis,
    ) -> Result<bool, LedgerError> {
        let key = key.clone();
        let claim_id = claim_id.to_string();
        self.write("touch", move |tx| {
            // Why match id and state: only the worker holding this very
            // reservation keeps it alive; an ACTIVE claim is settled.
            let changed = tx
                .prepare_cached(
                    "UPDATE claims SET updated_at = ?4 \
                     WHERE pool = ?1 AND person = ?2 AND claim_id = ?3 AND state = ?5",
                )?
                .execute(params![
                    key.pool.as_str(),
                    key.person,
                    claim_id,
                    now,
                    ClaimState::Reserved.as_str(),
                ])?;
            Ok(changed > 0)
        })
        .await
    }
}

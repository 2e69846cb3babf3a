//! [`ClaimStore`] on SQLite: seats taken, confirmed, moved and given back,
//! each write ONE `BEGIN IMMEDIATE` transaction with the pool's counter.
//!
//! Only the claims and pools tables; this file must not touch deliveries,
//! requests, failures or the audit trail.

use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::{ClaimKey, PoolId, UnixMillis};
use crate::seats::claims::{
    Change, Claim, ClaimStore, Expect, Hold, PoolUsage, Rekey, Reservation, ReserveRequest,
    Transition,
};
use crate::seats::error::LedgerError;
use crate::seats::failures::FailedSignup;

use super::SqliteLedger;
use super::errors::{TxError, corrupt};
use super::failures::insert_failure;
use super::rows::{SELECT_CLAIM, SELECT_CLAIMS, all, claim_from_row, first, parse_used};

/// The claim of `key`, if any.
pub(super) fn read_claim(conn: &Connection, key: &ClaimKey) -> Result<Option<Claim>, TxError> {
    let mut stmt = conn.prepare_cached(SELECT_CLAIM)?;
    first(
        stmt.query(params![key.pool.as_str(), key.person])?,
        claim_from_row,
    )
}

/// Seats used in `pool` (0 when it has no counter yet).
pub(super) fn read_used(conn: &Connection, pool: &PoolId) -> Result<u32, TxError> {
    let used: Option<i64> = conn
        .prepare_cached("SELECT used FROM pools WHERE pool = ?1")?
        .query_row(params![pool.as_str()], |row| row.get(0))
        .optional()?;
    used.map_or(Ok(0), parse_used)
}

/// Takes a seat for the new `claim`: the pool's counter raised, the claim
/// inserted. The caller has checked, in the same transaction, that the
/// person holds none and a seat is free.
pub(super) fn insert_claim(tx: &Connection, claim: &Claim) -> Result<(), TxError> {
    tx.prepare_cached(
        "INSERT INTO pools (pool, used) VALUES (?1, 1) \
             ON CONFLICT (pool) DO UPDATE SET used = used + 1",
    )?
    .execute(params![claim.key.pool.as_str()])?;
    tx.prepare_cached(
        "INSERT INTO claims (pool, person, claim_id, state, username, delivery, \
             reserved_at, updated_at, hold, activated_at, extended_until, warned_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        claim.key.pool.as_str(),
        claim.key.person,
        claim.claim_id,
        claim.state.as_str(),
        claim.username,
        claim.delivery,
        claim.reserved_at,
        claim.updated_at,
        claim.hold.map(Hold::as_str),
        claim.activated_at,
        claim.extended_until,
        claim.warned_at,
    ])?;
    Ok(())
}

/// Writes `next` over the claim of the same key and id (a transition the
/// caller has checked in the same transaction).
pub(super) fn update_claim(tx: &Connection, next: &Claim) -> Result<(), TxError> {
    tx.prepare_cached(
        "UPDATE claims SET state = ?4, hold = ?5, username = ?6, delivery = ?7, \
         updated_at = ?8, activated_at = ?9, extended_until = ?10, warned_at = ?11 \
         WHERE pool = ?1 AND person = ?2 AND claim_id = ?3",
    )?
    .execute(params![
        next.key.pool.as_str(),
        next.key.person,
        next.claim_id,
        next.state.as_str(),
        next.hold.map(Hold::as_str),
        next.username,
        next.delivery,
        next.updated_at,
        next.activated_at,
        next.extended_until,
        next.warned_at,
    ])?;
    Ok(())
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
            insert_claim(tx, &claim)?;
            Ok(Reservation::Reserved(claim))
        })
        .await
    }

    async fn transition(
        &self,
        key: &ClaimKey,
        expect: Expect<'_>,
        change: Change<'_>,
        now: UnixMillis,
    ) -> Result<Transition, LedgerError> {
        let key = key.clone();
        let claim_id = expect.claim_id.to_string();
        let stages = expect.stages.to_vec();
        let read_at = expect.updated_at;
        let change = OwnedChange::from(change);
        self.write("transition", move |tx| {
            // Why read then write inside the IMMEDIATE transaction: the write
            // lock is held from the read on, so the claim checked is the
            // claim changed. Only the reservation that made the claim, in a
            // stage the caller expects, is moved.
            let expect = Expect {
                claim_id: &claim_id,
                stages: &stages,
                updated_at: read_at,
            };
            let current = match read_claim(tx, &key)? {
                Some(c) if expect.matches(&c) => c,
                other => return Ok(Transition::Refused(other)),
            };
            if let OwnedChange::Release(failure) = &change {
                tx.prepare_cached(
                    "DELETE FROM claims WHERE pool = ?1 AND person = ?2 AND claim_id = ?3",
                )?
                .execute(params![key.pool.as_str(), key.person, claim_id])?;
                let lowered = tx
                    .prepare_cached(
                        "UPDATE pools SET used = used - 1 WHERE pool = ?1 AND used > 0",
                    )?
                    .execute(params![key.pool.as_str()])?;
                if lowered == 0 {
                    // Answering an error drops the transaction, which rolls
                    // the delete back.
                    return Err(corrupt("pool counter is zero while a claim exists"));
                }
                if let Some((failure, retain_until)) = failure {
                    insert_failure(tx, failure, *retain_until)?;
                }
                return Ok(Transition::Released);
            }
            let next = current.changed(change.as_change(), now);
            update_claim(tx, &next)?;
            Ok(Transition::Done(next))
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
}

/// A [`Change`] that owns its strings, to move into the blocking task.
enum OwnedChange {
    Activate(String),
    Rehold(Hold, Option<String>),
    /// A change that borrows nothing (touch, extend, warn).
    Plain(Change<'static>),
    /// A release, with the failure it records (`Change::Fail`).
    Release(Option<(FailedSignup, UnixMillis)>),
}

impl From<Change<'_>> for OwnedChange {
    fn from(c: Change<'_>) -> Self {
        match c {
            Change::Activate { username } => OwnedChange::Activate(username.to_string()),
            Change::Rehold { hold, delivery } => {
                OwnedChange::Rehold(hold, delivery.map(str::to_string))
            }
            Change::Touch => OwnedChange::Plain(Change::Touch),
            Change::Extend {
                until,
                activated_at,
            } => OwnedChange::Plain(Change::Extend {
                until,
                activated_at,
            }),
            Change::Warn { activated_at } => OwnedChange::Plain(Change::Warn { activated_at }),
            Change::Release => OwnedChange::Release(None),
            Change::Fail {
                failure,
                retain_until,
            } => OwnedChange::Release(Some((failure.clone(), retain_until))),
        }
    }
}

impl OwnedChange {
    fn as_change(&self) -> Change<'_> {
        match self {
            OwnedChange::Activate(username) => Change::Activate { username },
            OwnedChange::Rehold(hold, delivery) => Change::Rehold {
                hold: *hold,
                delivery: delivery.as_deref(),
            },
            OwnedChange::Plain(change) => *change,
            OwnedChange::Release(None) => Change::Release,
            OwnedChange::Release(Some((failure, retain_until))) => Change::Fail {
                failure,
                retain_until: *retain_until,
            },
        }
    }
}

//! Row ↔ domain mapping of the SQLite ledger: the columns each read
//! selects, in the order the mapping functions take them, and the stored
//! spellings of a delivery's status.
//!
//! This file only maps rows it is given: it runs no statement of its own,
//! and a row that breaks the mapping is corrupt data, never a panic.

use rusqlite::{Row, Rows};

use crate::domain::{ClaimKey, PoolId, RequestState, UnixMillis};
use crate::seats::audit::AuditEvent;
use crate::seats::claims::{Claim, ClaimState, Hold, PoolUsage};
use crate::seats::deliveries::{DeliveryStatus, StoredDelivery};
use crate::seats::failures::FailedSignup;
use crate::seats::requests::SignupRecord;

use super::errors::{TxError, corrupt};

/// The first row of `rows` mapped by `map`, `None` when there is none.
pub(super) fn first<T>(
    mut rows: Rows<'_>,
    map: fn(&Row<'_>) -> Result<T, TxError>,
) -> Result<Option<T>, TxError> {
    match rows.next()? {
        Some(row) => Ok(Some(map(row)?)),
        None => Ok(None),
    }
}

/// Every row of `rows` mapped by `map`, in order.
pub(super) fn all<T>(
    mut rows: Rows<'_>,
    map: fn(&Row<'_>) -> Result<T, TxError>,
) -> Result<Vec<T>, TxError> {
    let mut mapped = Vec::new();
    while let Some(row) = rows.next()? {
        mapped.push(map(row)?);
    }
    Ok(mapped)
}

/// Stored delivery status: a lease is held.
pub(super) const IN_PROGRESS: &str = "IN_PROGRESS";
/// Stored delivery status: handled, outcome kept.
pub(super) const COMPLETE: &str = "COMPLETE";

/// The claim of pool `?1` and person `?2`, in [`claim_from_row`]'s order.
pub(super) const SELECT_CLAIM: &str = "SELECT pool, person, claim_id, state, username, delivery, \
     reserved_at, updated_at, hold, activated_at, extended_until, warned_at \
     FROM claims WHERE pool = ?1 AND person = ?2";
/// The claims of pool `?1`, oldest reservation first (ties by person), in
/// [`claim_from_row`]'s order.
pub(super) const SELECT_CLAIMS: &str = "SELECT pool, person, claim_id, state, username, delivery, \
     reserved_at, updated_at, hold, activated_at, extended_until, warned_at \
     FROM claims WHERE pool = ?1 ORDER BY reserved_at, person";
/// The columns of a request, in [`request_from_row`]'s order.
pub(super) const REQUEST_COLUMNS: &str = "id, pool, person, delivery, payload, state, claim_id, \
     created_at, expires_at, decided_at, decided_by, reason, retain_until";
/// The failures of pool `?1` retained at `?2`, in
/// [`FailureLog::failures`](crate::seats::FailureLog::failures)'s order.
pub(super) const SELECT_FAILURES: &str = "SELECT pool, person, delivery, username, code, message, at \
     FROM failures WHERE pool = ?1 AND retain_until >= ?2 ORDER BY at DESC, person";

/// A stored pool name, checked.
pub(super) fn parse_pool(name: &str) -> Result<PoolId, TxError> {
    PoolId::parse(name).map_err(|_| corrupt("a stored pool name is not valid"))
}

/// A stored pool counter, checked.
pub(super) fn parse_used(used: i64) -> Result<u32, TxError> {
    u32::try_from(used).map_err(|_| corrupt("a pool counter is out of range"))
}

/// A pool's counter from a row of `pool, used`.
pub(super) fn pool_from_row(row: &Row<'_>) -> Result<PoolUsage, TxError> {
    let name: String = row.get(0)?;
    Ok(PoolUsage {
        pool: parse_pool(&name)?,
        used: parse_used(row.get(1)?)?,
    })
}

/// A claim from a row of [`SELECT_CLAIM`]'s columns.
pub(super) fn claim_from_row(row: &Row<'_>) -> Result<Claim, TxError> {
    let pool: String = row.get(0)?;
    let state: String = row.get(3)?;
    Ok(Claim {
        key: ClaimKey {
            pool: parse_pool(&pool)?,
            person: row.get(1)?,
        },
        claim_id: row.get(2)?,
        state: ClaimState::parse(&state).ok_or_else(|| corrupt("a claim has an unknown state"))?,
        username: row.get(4)?,
        delivery: row.get(5)?,
        reserved_at: row.get(6)?,
        updated_at: row.get(7)?,
        hold: match row.get::<_, Option<String>>(8)? {
            Some(h) => Some(Hold::parse(&h).ok_or_else(|| corrupt("a claim has an unknown hold"))?),
            None => None,
        },
        activated_at: row.get(9)?,
        extended_until: row.get(10)?,
        warned_at: row.get(11)?,
    })
}

/// A failed sign-up from a row of [`SELECT_FAILURES`]'s columns.
pub(super) fn failure_from_row(row: &Row<'_>) -> Result<FailedSignup, TxError> {
    let pool: String = row.get(0)?;
    Ok(FailedSignup {
        key: ClaimKey {
            pool: parse_pool(&pool)?,
            person: row.get(1)?,
        },
        delivery: row.get(2)?,
        username: row.get(3)?,
        code: row.get(4)?,
        message: row.get(5)?,
        at: row.get(6)?,
    })
}

/// A sign-up request from a row of [`REQUEST_COLUMNS`].
pub(super) fn request_from_row(row: &Row<'_>) -> Result<SignupRecord, TxError> {
    let pool: String = row.get(1)?;
    let state: String = row.get(5)?;
    Ok(SignupRecord {
        id: row.get(0)?,
        key: ClaimKey {
            pool: parse_pool(&pool)?,
            person: row.get(2)?,
        },
        delivery: row.get(3)?,
        payload: row.get(4)?,
        state: RequestState::parse(&state)
            .ok_or_else(|| corrupt("a sign-up request has an unknown state"))?,
        claim_id: row.get(6)?,
        created_at: row.get(7)?,
        expires_at: row.get(8)?,
        decided_at: row.get(9)?,
        decided_by: row.get(10)?,
        reason: row.get(11)?,
        retain_until: row.get(12)?,
    })
}

/// An audit event from a row of `at, actor, action, pool, person, detail`.
pub(super) fn audit_from_row(row: &Row<'_>) -> Result<AuditEvent, TxError> {
    Ok(AuditEvent {
        at: row.get(0)?,
        actor: row.get(1)?,
        action: row.get(2)?,
        pool: row.get(3)?,
        person: row.get(4)?,
        detail: row.get(5)?,
    })
}

/// The delivery record of source `?1` and id `?2`, in
/// [`delivery_from_row`]'s order.
pub(super) const SELECT_DELIVERY: &str = "SELECT status, payload_hash, lease_until, outcome, \
     retain_until, attempt FROM deliveries WHERE source = ?1 AND id = ?2";

/// A delivery record from a row of [`SELECT_DELIVERY`]'s columns.
pub(super) fn delivery_from_row(row: &Row<'_>) -> Result<StoredDelivery, TxError> {
    let status: String = row.get(0)?;
    let lease_until: Option<UnixMillis> = row.get(2)?;
    let outcome: Option<String> = row.get(3)?;
    let retain_until: Option<UnixMillis> = row.get(4)?;
    let status = match (status.as_str(), lease_until, outcome, retain_until) {
        (IN_PROGRESS, Some(lease_until), _, _) => DeliveryStatus::InProgress { lease_until },
        (COMPLETE, _, Some(outcome), Some(retain_until)) => DeliveryStatus::Complete {
            outcome,
            retain_until,
        },
        _ => {
            return Err(corrupt(
                "a delivery record has an unknown or partial status",
            ));
        }
    };
    Ok(StoredDelivery {
        payload_hash: row.get(1)?,
        // NULL on a record written before schema version 6: no attempt's.
        attempt: row.get(5)?,
        status,
    })
}

//! [`FailureLog`] on SQLite: one failed sign-up per pool + person (the
//! latest wins), listed while retained.
//!
//! Only the failures table, which does not reference `pools`; this file must
//! not touch seats, counters or claims.

use rusqlite::params;

use crate::domain::{PoolId, UnixMillis};
use crate::seats::error::LedgerError;
use crate::seats::failures::{FailedSignup, FailureLog};

use super::SqliteLedger;
use super::errors::TxError;
use super::rows::{SELECT_FAILURES, all, failure_from_row};

impl FailureLog for SqliteLedger {
    async fn record_failure(
        &self,
        failure: &FailedSignup,
        retain_until: UnixMillis,
    ) -> Result<(), LedgerError> {
        let failure = failure.clone();
        self.write("record_failure", move |tx| {
            insert_failure(tx, &failure, retain_until)
        })
        .await
    }

    async fn failures(
        &self,
        pool: &PoolId,
        now: UnixMillis,
    ) -> Result<Vec<FailedSignup>, LedgerError> {
        let pool = pool.clone();
        self.run("failures", move |conn| {
            let mut stmt = conn.prepare_cached(SELECT_FAILURES)?;
            all(stmt.query(params![pool.as_str(), now])?, failure_from_row)
        })
        .await
    }
}

/// Writes `failure` (one per pool + person, the latest wins) inside `tx`:
/// on its own, or with the release it explains (`Change::Fail`).
pub(super) fn insert_failure(
    tx: &rusqlite::Transaction<'_>,
    failure: &FailedSignup,
    retain_until: UnixMillis,
) -> Result<(), TxError> {
    tx.prepare_cached(
        "INSERT INTO failures (pool, person, delivery, username, code, message, at, \
         retain_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (pool, person) DO UPDATE SET delivery = excluded.delivery, \
         username = excluded.username, code = excluded.code, \
         message = excluded.message, at = excluded.at, \
         retain_until = excluded.retain_until",
    )?
    .execute(params![
        failure.key.pool.as_str(),
        failure.key.person,
        failure.delivery,
        failure.username,
        failure.code,
        failure.message,
        failure.at,
        retain_until,
    ])?;
    Ok(())
}

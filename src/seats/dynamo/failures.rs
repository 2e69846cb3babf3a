//! [`FailureLog`] on DynamoDB: failed sign-ups are plain `PutItem`s in the
//! pool's partition (one per pool + person, the latest wins), and
//! `failures` drops expired ones itself, TTL deletion being lazy.
//!
//! Only failure items; this file must not touch seats, counters or claims.

use crate::domain::{PoolId, UnixMillis};
use crate::seats::error::LedgerError;
use crate::seats::failures::{FailedSignup, FailureLog, newest_first};

use super::DynamoLedger;
use super::item::{self, FailureItem, FailureRecord};

impl FailureLog for DynamoLedger {
    async fn record_failure(
        &self,
        failure: &FailedSignup,
        retain_until: UnixMillis,
    ) -> Result<(), LedgerError> {
        let FailureRecord(record) = FailureRecord::new(failure, retain_until);
        // Why unconditional: one failure per pool + person, the latest wins.
        self.retrying("record_failure", || self.try_put(&record))
            .await
    }

    async fn failures(
        &self,
        pool: &PoolId,
        now: UnixMillis,
    ) -> Result<Vec<FailedSignup>, LedgerError> {
        let mut failures = Vec::new();
        for found in &self
            .query_all(item::pool_pk(pool), item::FAILED_PREFIX)
            .await?
        {
            // Why here: TTL deletion lags (by days), so an expired item
            // may still be stored; retention is decided from its time.
            if item::failure_retain_until(found)? >= now {
                failures.push(FailedSignup::try_from(FailureItem(found))?);
            }
        }
        newest_first(&mut failures);
        Ok(failures)
    }
}

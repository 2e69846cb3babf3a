//! [`SignupBatch`] on DynamoDB: each batch is ONE `TransactWriteItems` of
//! the writes the separate operations make, with their conditions:
//!
//! - `open`: the delivery's lease (put only where the delivery has no
//!   record), the pool's counter raised while a seat is free, and the claim
//!   put where the person has none. A refused lease is explained from the
//!   record DynamoDB returns with the refusal, by the shared lease rule, so
//!   a replay costs this one request; any other refusal (a claim, a full
//!   pool, a concurrent transaction) writes nothing and leaves the steps to
//!   the separate operations.
//! - `close`: the claim activated on the expected id and stage, the audit
//!   record (and, first that day, its day's marker) put, and the outcome
//!   stored on the attempt's lease.
//!
//! Only builds on the writes of `claims.rs`, `deliveries.rs` and the audit
//! items; it adds no condition of its own.

use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use rand::Rng;

use crate::seats::batch::{CloseRequest, LeaseRequest, Opened, SignupBatch};
use crate::seats::claims::ReserveRequest;
use crate::seats::deliveries::{StoredDelivery, refusal};
use crate::seats::error::LedgerError;

use super::DynamoLedger;
use super::deliveries::{lease_record, outcome_write};
use super::errors::{build_error, cancelled_by_condition, reason_item};
use super::item::{self, DeliveryItem};

impl SignupBatch for DynamoLedger {
    async fn open(
        &self,
        lease: LeaseRequest<'_>,
        reserve: ReserveRequest<'_>,
    ) -> Result<Opened, LedgerError> {
        let record = lease_record(
            lease.key,
            lease.attempt,
            lease.payload_hash,
            lease.now,
            lease.lease_ms,
        );
        // Why: only a delivery never seen takes this path; the old record
        // comes back with a refusal, to be explained without a read.
        let lease_put = self
            .put_if_absent(record)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        let claim = reserve.reserved_claim();
        let [counter, claim_put] = self.reservation_writes(&reserve, &claim)?;
        let Some(reasons) = self
            .transact(vec![
                TransactWriteItem::builder().put(lease_put).build(),
                counter,
                claim_put,
            ])
            .await?
        else {
            return Ok(Opened::Both(claim));
        };
        // Reasons come in request order: [lease, counter, claim].
        if cancelled_by_condition(&reasons, 0)
            && let Some(found) = reason_item(&reasons, 0)
        {
            let stored = StoredDelivery::try_from(DeliveryItem(found))?;
            return Ok(
                match refusal(Some(&stored), lease.attempt, lease.payload_hash, lease.now) {
                    Some(answer) => Opened::Delivery(answer),
                    // An expired lease or retention: the separate lease
                    // write takes it over.
                    None => Opened::Neither,
                },
            );
        }
        Ok(Opened::Neither)
    }

    async fn close(&self, req: CloseRequest<'_>) -> Result<bool, LedgerError> {
        let day = item::audit_day(req.audit.at);
        let marked = self
            .audit_day_marked
            .lock()
            .map(|last| last.as_deref() == Some(day.as_str()))
            .unwrap_or(false);
        let suffix = format!("{:016x}", rand::rng().random::<u64>());
        // Why never overwriting: the audit trail only grows.
        let event = self
            .put_if_absent(item::audit_record(req.audit, &suffix))
            .build()
            .map_err(build_error)?;
        let mut writes = vec![
            self.activation_write(req.claim, req.expect, req.username, req.now)?,
            TransactWriteItem::builder().put(event).build(),
            outcome_write(
                &self.table,
                req.delivery,
                req.attempt,
                req.outcome_json,
                req.now,
                req.retain_until,
            )?,
        ];
        if !marked {
            // An event is never stored without its day's marker.
            writes.push(self.put(item::audit_day_key(&day))?);
        }
        if self.transact(writes).await?.is_some() {
            return Ok(false);
        }
        if !marked && let Ok(mut last) = self.audit_day_marked.lock() {
            *last = Some(day);
        }
        Ok(true)
    }
}

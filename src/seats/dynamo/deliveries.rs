//! [`DeliveryStore`] on DynamoDB: conditional `PutItem`/`UpdateItem`/
//! `DeleteItem` calls on the delivery record. The condition of the lease put
//! is the shared lease rule ([`refusal`]) written for DynamoDB, so the write
//! stays atomic; when it is refused, the record DynamoDB returns with the
//! refusal is explained by the rule itself, which is also how a retried put
//! finds the lease its own first try wrote (same `attempt`): no extra read.
//! Finishing and abandoning carry the shared holder rules as their
//! conditions (the `attempt` attribute), so they need no read either.
//!
//! Only delivery items; this file must not touch claims, counters,
//! requests, failures or the audit trail.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::domain::{DeliveryKey, UnixMillis};
use crate::seats::deliveries::{
    DeliveryBegin, DeliveryStore, LeaseHolder, StoredDelivery, refusal,
};
use crate::seats::error::LedgerError;

use super::DynamoLedger;
use super::errors::{Written, build_error, conditional_write};
use super::item::{self, COMPLETE, DeliveryItem, IN_PROGRESS, Item, n, s};
use super::retry::Step;

/// How long an IN_PROGRESS record outlives its lease before DynamoDB's TTL
/// may delete it. Only housekeeping for crashed attempts: expiry itself is
/// always decided from `lease_until`.
const IN_PROGRESS_TTL_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// The item of a live lease of `attempt` on `key`.
pub(super) fn lease_record(
    key: &DeliveryKey,
    attempt: &str,
    payload_hash: &str,
    now: UnixMillis,
    lease_ms: i64,
) -> Item {
    let lease_until = now.saturating_add(lease_ms);
    let mut record = item::delivery_key(key);
    record.insert("status".into(), s(IN_PROGRESS));
    record.insert("payload_hash".into(), s(payload_hash));
    record.insert("attempt".into(), s(attempt));
    record.insert("lease_until".into(), n(lease_until));
    record.insert("updated_at".into(), n(now));
    record.insert(
        "ttl".into(),
        n(item::ttl_seconds(
            lease_until.saturating_add(IN_PROGRESS_TTL_GRACE_MS),
        )),
    );
    record
}

/// Storing an outcome: the record completed with it, until `retain_until`.
const OUTCOME_UPDATE: &str = "SET #status = :complete, #outcome = :outcome, \
     #retain_until = :retain, #ttl = :ttl, #updated_at = :now";

/// Why (the shared `finishable_by` rule): only a record this attempt holds.
/// It never creates a record without its payload hash (a record that
/// vanished, abandoned, stays absent), never overwrites the lease of an
/// attempt that took over, and a record without `attempt` (put before
/// attempts were) matches nobody.
const OUTCOME_CONDITION: &str = "#attempt = :attempt";

/// The names [`OUTCOME_UPDATE`] and [`OUTCOME_CONDITION`] use.
fn outcome_names() -> HashMap<String, String> {
    [
        ("#attempt", "attempt"),
        ("#status", "status"),
        ("#outcome", "outcome"),
        ("#retain_until", "retain_until"),
        ("#ttl", "ttl"),
        ("#updated_at", "updated_at"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The values [`OUTCOME_UPDATE`] and [`OUTCOME_CONDITION`] use.
fn outcome_values(
    attempt: &str,
    outcome_json: &str,
    now: UnixMillis,
    retain_until: UnixMillis,
) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (":attempt".to_string(), s(attempt)),
        (":complete".to_string(), s(COMPLETE)),
        (":outcome".to_string(), s(outcome_json)),
        (":retain".to_string(), n(retain_until)),
        (":ttl".to_string(), n(item::ttl_seconds(retain_until))),
        (":now".to_string(), n(now)),
    ])
}

/// Storing `outcome_json` under the lease `attempt` holds, as a
/// transaction's write: the same update and condition as
/// `finish_delivery`'s `UpdateItem`.
pub(super) fn outcome_write(
    table: &str,
    key: &DeliveryKey,
    attempt: &str,
    outcome_json: &str,
    now: UnixMillis,
    retain_until: UnixMillis,
) -> Result<TransactWriteItem, LedgerError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(item::delivery_key(key)))
        .update_expression(OUTCOME_UPDATE)
        .condition_expression(OUTCOME_CONDITION)
        .set_expression_attribute_names(Some(outcome_names()))
        .set_expression_attribute_values(Some(outcome_values(
            attempt,
            outcome_json,
            now,
            retain_until,
        )))
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

impl DynamoLedger {
    async fn try_begin_delivery(
        &self,
        key: &DeliveryKey,
        attempt: &str,
        payload_hash: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> Result<Step<DeliveryBegin>, LedgerError> {
        let record = lease_record(key, attempt, payload_hash, now, lease_ms);
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record))
            // Why: the lease is ours when nobody handled the key, when the
            // holder of an expired lease crashed (same payload only), or when
            // a completed record is past its retention. Times are compared
            // here, never left to TTL deletion. Our own live lease (a retry
            // of a put whose reply was lost) fails this condition, and the
            // old item returned says it is ours (below).
            .condition_expression(
                "attribute_not_exists(#pk) \
                 OR (#status = :in_progress AND #lease_until < :now AND #payload_hash = :hash) \
                 OR (#status = :complete AND #retain_until < :now)",
            )
            .expression_attribute_names("#pk", item::PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#lease_until", "lease_until")
            .expression_attribute_names("#payload_hash", "payload_hash")
            .expression_attribute_names("#retain_until", "retain_until")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":complete", s(COMPLETE))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":hash", s(payload_hash))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let returned = match conditional_write("PutItem", sent)? {
            Written::Done(_) => return Ok(Step::Done(DeliveryBegin::Started)),
            Written::ConditionFailed(returned) => returned,
            Written::Conflict => return Ok(Step::Conflict),
        };
        let stored = match returned {
            Some(found) => Some(found),
            None => self.get(item::delivery_key(key)).await?,
        };
        let stored = stored
            .as_ref()
            .map(|found| StoredDelivery::try_from(DeliveryItem(found)))
            .transpose()?;
        // Some(Started) from the rule: the live lease is this attempt's
        // already. None: the record changed after our conditional write
        // failed (abandoned, or its lease or retention ended since): try
        // again.
        Ok(refusal(stored.as_ref(), attempt, payload_hash, now).map_or(Step::Raced, Step::Done))
    }

    async fn try_finish_delivery(
        &self,
        key: &DeliveryKey,
        attempt: &str,
        outcome_json: &str,
        now: UnixMillis,
        retain_until: UnixMillis,
    ) -> Result<Step<bool>, LedgerError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::delivery_key(key)))
            .update_expression(OUTCOME_UPDATE)
            .condition_expression(OUTCOME_CONDITION)
            .set_expression_attribute_names(Some(outcome_names()))
            .set_expression_attribute_values(Some(outcome_values(
                attempt,
                outcome_json,
                now,
                retain_until,
            )))
            .send()
            .await;
        Ok(match conditional_write("UpdateItem", sent)? {
            Written::Done(_) => Step::Done(true),
            Written::ConditionFailed(_) => Step::Done(false),
            Written::Conflict => Step::Conflict,
        })
    }

    async fn try_abandon_delivery(
        &self,
        key: &DeliveryKey,
        holder: LeaseHolder<'_>,
    ) -> Result<Step<bool>, LedgerError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item::delivery_key(key)))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS));
        // Why (the shared `abandonable_by` rule): abandoning must never
        // erase a stored outcome, nor the lease of an attempt that took over.
        let delete = match holder {
            LeaseHolder::Attempt(attempt) => delete
                .condition_expression("#status = :in_progress AND #attempt = :attempt")
                .expression_attribute_names("#attempt", "attempt")
                .expression_attribute_values(":attempt", s(attempt)),
            LeaseHolder::Any => delete.condition_expression("#status = :in_progress"),
        };
        Ok(
            match conditional_write("DeleteItem", delete.send().await)? {
                Written::Done(_) => Step::Done(true),
                Written::ConditionFailed(_) => Step::Done(false),
                Written::Conflict => Step::Conflict,
            },
        )
    }
}

impl DeliveryStore for DynamoLedger {
    async fn begin_delivery(
        &self,
        key: &DeliveryKey,
        attempt: &str,
        payload_hash: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> Result<DeliveryBegin, LedgerError> {
        self.retrying("begin_delivery", || {
            self.try_begin_delivery(key, attempt, payload_hash, now, lease_ms)
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
        self.retrying("finish_delivery", || {
            self.try_finish_delivery(key, attempt, outcome_json, now, retain_until)
        })
        .await
    }

    async fn abandon_delivery(
        &self,
        key: &DeliveryKey,
        holder: LeaseHolder<'_>,
    ) -> Result<bool, LedgerError> {
        self.retrying("abandon_delivery", || {
            self.try_abandon_delivery(key, holder)
        })
        .await
    }
}

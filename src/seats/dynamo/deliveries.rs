//! [`DeliveryStore`] on DynamoDB: conditional `PutItem`/`UpdateItem`/
//! `DeleteItem` calls on the delivery record. The condition of the lease put
//! is the shared lease rule ([`refusal`]) written for DynamoDB, so the write
//! stays atomic; when it is refused, the record read back is explained by
//! the rule itself.
//!
//! Only delivery items; this file must not touch claims, counters,
//! requests, failures or the audit trail.

use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use crate::domain::{DeliveryKey, UnixMillis};
use crate::seats::deliveries::{DeliveryBegin, DeliveryStore, StoredDelivery, refusal};
use crate::seats::error::LedgerError;

use super::DynamoLedger;
use super::errors::{Written, conditional_write};
use super::item::{self, COMPLETE, DeliveryItem, IN_PROGRESS, n, s};
use super::retry::Step;

/// How long an IN_PROGRESS record outlives its lease before DynamoDB's TTL
/// may delete it. Only housekeeping for crashed attempts: expiry itself is
/// always decided from `lease_until`.
const IN_PROGRESS_TTL_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

impl DynamoLedger {
    async fn try_begin_delivery(
        &self,
        key: &DeliveryKey,
        payload_hash: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> Result<Step<DeliveryBegin>, LedgerError> {
        let lease_until = now.saturating_add(lease_ms);
        let mut record = item::delivery_key(key);
        record.insert("status".into(), s(IN_PROGRESS));
        record.insert("payload_hash".into(), s(payload_hash));
        record.insert("lease_until".into(), n(lease_until));
        record.insert("updated_at".into(), n(now));
        record.insert(
            "ttl".into(),
            n(item::ttl_seconds(
                lease_until.saturating_add(IN_PROGRESS_TTL_GRACE_MS),
            )),
        );
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record))
            // Why: the lease is ours when nobody handled the key, when the
            // holder of an expired lease crashed (same payload only), or when
            // a completed record is past its retention. Times are compared
            // here, never left to TTL deletion.
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
        // None from the rule: the record changed after our conditional write
        // failed (abandoned, or its lease or retention ended since): try
        // again.
        Ok(refusal(stored.as_ref(), payload_hash, now).map_or(Step::Raced, Step::Done))
    }

    async fn try_finish_delivery(
        &self,
        key: &DeliveryKey,
        outcome_json: &str,
        now: UnixMillis,
        retain_until: UnixMillis,
    ) -> Result<Step<()>, LedgerError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::delivery_key(key)))
            .update_expression(
                "SET #status = :complete, #outcome = :outcome, #retain_until = :retain, \
                 #ttl = :ttl, #updated_at = :now",
            )
            // Why: never create a record without its payload hash; a record
            // that vanished (abandoned) simply stays absent.
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", item::PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#outcome", "outcome")
            .expression_attribute_names("#retain_until", "retain_until")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":complete", s(COMPLETE))
            .expression_attribute_values(":outcome", s(outcome_json))
            .expression_attribute_values(":retain", n(retain_until))
            .expression_attribute_values(":ttl", n(item::ttl_seconds(retain_until)))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        Ok(match conditional_write("UpdateItem", sent)? {
            Written::Done(_) => Step::Done(()),
            Written::ConditionFailed(_) => {
                tracing::warn!(
                    source = %key.source,
                    "delivery record vanished before its outcome was stored"
                );
                Step::Done(())
            }
            Written::Conflict => Step::Conflict,
        })
    }

    async fn try_abandon_delivery(&self, key: &DeliveryKey) -> Result<Step<()>, LedgerError> {
        let sent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item::delivery_key(key)))
            // Why: abandoning must never erase a stored outcome.
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await;
        Ok(match conditional_write("DeleteItem", sent)? {
            Written::Done(_) | Written::ConditionFailed(_) => Step::Done(()),
            Written::Conflict => Step::Conflict,
        })
    }
}

impl DeliveryStore for DynamoLedger {
    async fn begin_delivery(
        &self,
        key: &DeliveryKey,
        payload_hash: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> Result<DeliveryBegin, LedgerError> {
        self.retrying("begin_delivery", || {
            self.try_begin_delivery(key, payload_hash, now, lease_ms)
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
        self.retrying("finish_delivery", || {
            self.try_finish_delivery(key, outcome_json, now, retain_until)
        })
        .await
    }

    async fn abandon_delivery(&self, key: &DeliveryKey) -> Result<(), LedgerError> {
        self.retrying("abandon_delivery", || self.try_abandon_delivery(key))
            .await
    }
}

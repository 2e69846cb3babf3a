//! [`ClaimStore`] on DynamoDB: `reserve`, `release` and `rekey` are ONE
//! `TransactWriteItems` each (the counter and the claim together, or the
//! old and the new claim), `confirm` and `touch` one conditional
//! `UpdateItem`; each attempt runs within the conflict retry budget.
//!
//! Only the pool's counter and claim items; this file must not touch
//! deliveries, requests, failures or the audit trail.

use aws_sdk_dynamodb::types::{
    Delete, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use crate::domain::{ClaimKey, PoolId, UnixMillis};
use crate::seats::claims::{
    Claim, ClaimState, ClaimStore, PoolUsage, Rekey, Reservation, ReserveRequest,
};
use crate::seats::error::LedgerError;

use super::DynamoLedger;
use super::errors::{
    Written, build_error, cancelled, cancelled_by_condition, conditional_write, conflicted,
    reason_item,
};
use super::item::{self, ClaimItem, ClaimRecord, n, s};
use super::retry::Step;

impl DynamoLedger {
    /// The claim stored under `key`, if any.
    async fn get_claim(&self, key: &ClaimKey) -> Result<Option<Claim>, LedgerError> {
        match self.get(item::claim_key(key)).await? {
            Some(found) => Claim::try_from(ClaimItem(&found)).map(Some),
            None => Ok(None),
        }
    }

    /// Seats used in `pool` (0 when the counter does not exist).
    async fn get_used(&self, pool: &PoolId) -> Result<u32, LedgerError> {
        match self.get(item::counter_key(pool)).await? {
            Some(found) => item::counter_used(&found),
            None => Ok(0),
        }
    }

    /// A transaction's delete of the claim under `key`, only while its id is
    /// `claim_id` (`release` and `rekey`).
    fn delete_claim_with_id(
        &self,
        key: &ClaimKey,
        claim_id: &str,
    ) -> Result<TransactWriteItem, LedgerError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(item::claim_key(key)))
            .condition_expression("#claim_id = :cid")
            .expression_attribute_names("#claim_id", "claim_id")
            .expression_attribute_values(":cid", s(claim_id))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// One reservation attempt: the counter update and the claim put in one
    /// transaction.
    async fn try_reserve(
        &self,
        req: &ReserveRequest<'_>,
    ) -> Result<Step<Reservation>, LedgerError> {
        let claim = req.reserved_claim();
        // Why: a seat is taken only while `used < capacity`. A pool never
        // used has no `used` yet and is free unless its capacity is zero
        // (then `#used < :cap` alone is always false).
        let counter_condition = if req.capacity == 0 {
            "#used < :cap"
        } else {
            "attribute_not_exists(#used) OR #used < :cap"
        };
        let counter = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item::counter_key(&req.key.pool)))
            .update_expression("SET #seats = :cap, #updated_at = :now ADD #used :one")
            .condition_expression(counter_condition)
            .expression_attribute_names("#used", "used")
            .expression_attribute_names("#seats", "seats")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":cap", n(req.capacity))
            .expression_attribute_values(":now", n(req.now))
            .expression_attribute_values(":one", n(1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        let ClaimRecord(claim_item) = ClaimRecord::from(&claim);
        // Why: one claim per person per pool; an existing one is returned.
        let put = self
            .put_if_absent(claim_item)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        let Some(reasons) = self
            .transact(vec![
                TransactWriteItem::builder().update(counter).build(),
                TransactWriteItem::builder().put(put).build(),
            ])
            .await?
        else {
            return Ok(Step::Done(Reservation::Reserved(claim)));
        };
        // Reasons come in request order: [counter, claim].
        if cancelled_by_condition(&reasons, 1) {
            let existing = match reason_item(&reasons, 1) {
                Some(found) => Some(Claim::try_from(ClaimItem(found))?),
                None => self.get_claim(req.key).await?,
            };
            // None: the claim was released since; try again.
            return Ok(existing.map_or(Step::Raced, |c| Step::Done(Reservation::AlreadyHeld(c))));
        }
        if cancelled_by_condition(&reasons, 0) {
            let used = match reason_item(&reasons, 0) {
                Some(found) => item::counter_used(found)?,
                None => self.get_used(&req.key.pool).await?,
            };
            return Ok(Step::Done(Reservation::PoolFull { used }));
        }
        if conflicted(&reasons) {
            return Ok(Step::Conflict);
        }
        Err(cancelled("reservation", &reasons))
    }

    /// One re-keying attempt: the old claim deleted and the new one put in
    /// one transaction, each conditional.
    async fn try_rekey(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        new_person: &str,
        now: UnixMillis,
    ) -> Result<Step<Rekey>, LedgerError> {
        let mut claim = match self.get_claim(key).await? {
            Some(c) if c.claim_id == claim_id => c,
            _ => return Ok(Step::Done(Rekey::NotFound)),
        };
        if key.person == new_person {
            return Ok(Step::Done(Rekey::Moved(claim)));
        }
        claim.key.person = new_person.to_string();
        claim.updated_at = now;
        // Why: only this reservation's claim moves, and only as it was read.
        let delete = self.delete_claim_with_id(key, claim_id)?;
        // Why: never overwrite the new person's own claim.
        let put = self
            .put_if_absent(ClaimRecord::from(&claim).0)
            .build()
            .map_err(build_error)?;
        let Some(reasons) = self
            .transact(vec![delete, TransactWriteItem::builder().put(put).build()])
            .await?
        else {
            return Ok(Step::Done(Rekey::Moved(claim)));
        };
        // Reasons come in request order: [old claim, new claim].
        if cancelled_by_condition(&reasons, 0) {
            return Ok(Step::Raced);
        }
        if cancelled_by_condition(&reasons, 1) {
            return Ok(match self.get_claim(&claim.key).await? {
                Some(other) => Step::Done(Rekey::Taken(other)),
                None => Step::Raced,
            });
        }
        if conflicted(&reasons) {
            return Ok(Step::Conflict);
        }
        Err(cancelled("rekey", &reasons))
    }

    /// One release attempt: delete the claim and lower the counter together.
    async fn try_release(&self, key: &ClaimKey, claim_id: &str) -> Result<Step<bool>, LedgerError> {
        // Why: only the reservation that made the claim may give it back.
        let delete = self.delete_claim_with_id(key, claim_id)?;
        // Why: the counter can never go below zero, whatever the data says.
        let counter = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item::counter_key(&key.pool)))
            .update_expression("ADD #used :minus_one")
            .condition_expression("#used > :zero")
            .expression_attribute_names("#used", "used")
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(build_error)?;
        let Some(reasons) = self
            .transact(vec![
                delete,
                TransactWriteItem::builder().update(counter).build(),
            ])
            .await?
        else {
            return Ok(Step::Done(true));
        };
        // Reasons come in request order: [claim, counter].
        if cancelled_by_condition(&reasons, 0) {
            return Ok(Step::Done(false));
        }
        if cancelled_by_condition(&reasons, 1) {
            return Err(LedgerError::Corrupt(
                "pool counter is zero while a claim exists".into(),
            ));
        }
        if conflicted(&reasons) {
            return Ok(Step::Conflict);
        }
        Err(cancelled("release", &reasons))
    }

    async fn try_confirm(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        username: &str,
        now: UnixMillis,
    ) -> Result<Step<Claim>, LedgerError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::claim_key(key)))
            .update_expression("SET #state = :active, #username = :username, #updated_at = :now")
            // Why: confirm only the claim our reservation made.
            .condition_expression("#claim_id = :cid")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#username", "username")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_names("#claim_id", "claim_id")
            .expression_attribute_values(":active", s(ClaimState::Active.as_str()))
            .expression_attribute_values(":username", s(username))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":cid", s(claim_id))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match conditional_write("UpdateItem", sent)? {
            Written::Done(out) => match out.attributes() {
                Some(found) => Claim::try_from(ClaimItem(found)).map(Step::Done),
                None => Err(LedgerError::Unavailable(
                    "DynamoDB UpdateItem: no attributes returned".into(),
                )),
            },
            Written::ConditionFailed(_) => Err(LedgerError::ClaimNotFound),
            Written::Conflict => Ok(Step::Conflict),
        }
    }

    async fn try_touch(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        now: UnixMillis,
    ) -> Result<Step<bool>, LedgerError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::claim_key(key)))
            .update_expression("SET #updated_at = :now")
            // Why: only the worker holding this very reservation keeps it
            // alive, and an ACTIVE claim is settled. A missing claim fails the
            // condition too (no `claim_id`), so nothing is ever created.
            .condition_expression("#claim_id = :cid AND #state = :reserved")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_names("#claim_id", "claim_id")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":cid", s(claim_id))
            .expression_attribute_values(":reserved", s(ClaimState::Reserved.as_str()))
            .send()
            .await;
        Ok(match conditional_write("UpdateItem", sent)? {
            Written::Done(_) => Step::Done(true),
            Written::ConditionFailed(_) => Step::Done(false),
            Written::Conflict => Step::Conflict,
        })
    }
}

impl ClaimStore for DynamoLedger {
    async fn reserve(&self, req: ReserveRequest<'_>) -> Result<Reservation, LedgerError> {
        self.retrying("reserve", || self.try_reserve(&req)).await
    }

    async fn confirm(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        username: &str,
        now: UnixMillis,
    ) -> Result<Claim, LedgerError> {
        self.retrying("confirm", || self.try_confirm(key, claim_id, username, now))
            .await
    }

    async fn release(&self, key: &ClaimKey, claim_id: &str) -> Result<bool, LedgerError> {
        self.retrying("release", || self.try_release(key, claim_id))
            .await
    }

    async fn rekey(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        new_person: &str,
        now: UnixMillis,
    ) -> Result<Rekey, LedgerError> {
        self.retrying("rekey", || self.try_rekey(key, claim_id, new_person, now))
            .await
    }

    async fn claim(&self, key: &ClaimKey) -> Result<Option<Claim>, LedgerError> {
        self.get_claim(key).await
    }

    async fn claims(&self, pool: &PoolId) -> Result<Vec<Claim>, LedgerError> {
        self.query_all(item::pool_pk(pool), item::CLAIM_PREFIX)
            .await?
            .iter()
            .map(|found| Claim::try_from(ClaimItem(found)))
            .collect()
    }

    async fn usage(&self, pool: &PoolId) -> Result<PoolUsage, LedgerError> {
        Ok(PoolUsage {
            pool: pool.clone(),
            used: self.get_used(pool).await?,
        })
    }

    async fn touch(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        now: UnixMillis,
    ) -> Result<bool, LedgerError> {
        self.retrying("touch", || self.try_touch(key, claim_id, now))
            .await
    }
}

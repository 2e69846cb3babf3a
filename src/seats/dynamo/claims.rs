//! [`ClaimStore`] on DynamoDB: `reserve`, a release and `rekey` are ONE
//! `TransactWriteItems` each (the counter and the claim together, or the
//! old and the new claim); every other transition is one conditional
//! `UpdateItem` on the expected claim id and stage; each attempt runs
//! within the conflict retry budget.
//!
//! Only the pool's counter and claim items; this file must not touch
//! deliveries, requests, failures or the audit trail.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};

use crate::domain::{ClaimKey, PoolId, UnixMillis};
use crate::seats::claims::{
    Change, Claim, ClaimState, ClaimStore, Expect, Hold, PoolUsage, Rekey, Reservation,
    ReserveRequest, Stage, Transition,
};
use crate::seats::error::LedgerError;
use crate::seats::failures::FailedSignup;

use super::DynamoLedger;
use super::errors::{
    Written, build_error, cancelled, cancelled_by_condition, conditional_write, conflicted,
    reason_item,
};
use super::item::{self, ClaimItem, ClaimRecord, FailureRecord, Item, n, s};
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

    /// Deletes the claim under `key` only if it is still exactly as `read`
    /// (its id, state, hold, username, delivery and last change): a rekey
    /// moves the claim as it was read, never over a change made meanwhile.
    fn delete_claim_as_read(
        &self,
        key: &ClaimKey,
        read: &Claim,
    ) -> Result<TransactWriteItem, LedgerError> {
        let mut condition = String::from(
            "#claim_id = :cid AND #state = :state AND #delivery = :delivery AND #updated_at = :ver",
        );
        let mut delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(item::claim_key(key)))
            .expression_attribute_names("#claim_id", "claim_id")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#delivery", "delivery")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_names("#hold", "hold")
            .expression_attribute_names("#username", "username")
            .expression_attribute_values(":cid", s(&read.claim_id))
            .expression_attribute_values(":state", s(read.state.as_str()))
            .expression_attribute_values(":delivery", s(&read.delivery))
            .expression_attribute_values(":ver", n(read.updated_at));
        match read.hold {
            Some(h) => {
                condition.push_str(" AND #hold = :hold");
                delete = delete.expression_attribute_values(":hold", s(h.as_str()));
            }
            None => condition.push_str(" AND attribute_not_exists(#hold)"),
        }
        match &read.username {
            Some(u) => {
                condition.push_str(" AND #username = :username");
                delete = delete.expression_attribute_values(":username", s(u));
            }
            None => condition.push_str(" AND attribute_not_exists(#username)"),
        }
        let delete = delete
            .condition_expression(condition)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// The two writes of a reservation, in this order: the pool's counter
    /// raised while a seat is free, and `claim` put where the person has
    /// none. Both ask for the old item when their condition fails.
    pub(super) fn reservation_writes(
        &self,
        req: &ReserveRequest<'_>,
        claim: &Claim,
    ) -> Result<[TransactWriteItem; 2], LedgerError> {
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
        let ClaimRecord(claim_item) = ClaimRecord::from(claim);
        // Why: one claim per person per pool; an existing one is returned.
        let put = self
            .put_if_absent(claim_item)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        Ok([
            TransactWriteItem::builder().update(counter).build(),
            TransactWriteItem::builder().put(put).build(),
        ])
    }

    /// The activation of the claim under `key` as a transaction's write:
    /// ACTIVE under `username`, on condition that it is what `expect`
    /// names (the same condition and update as [`ClaimStore::transition`]'s
    /// `UpdateItem`).
    pub(super) fn activation_write(
        &self,
        key: &ClaimKey,
        expect: Expect<'_>,
        username: &str,
        now: UnixMillis,
    ) -> Result<TransactWriteItem, LedgerError> {
        let condition = ExpectedStage::of(expect);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item::claim_key(key)))
            .condition_expression(&condition.expression)
            .set_expression_attribute_names(Some(condition.names))
            .set_expression_attribute_values(Some(condition.values))
            .update_expression(ACTIVATE)
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#hold", "hold")
            .expression_attribute_names("#username", "username")
            .expression_attribute_names("#activated_at", "activated_at")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":active", s(ClaimState::Active.as_str()))
            .expression_attribute_values(":username", s(username))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// One reservation attempt: the counter update and the claim put in one
    /// transaction.
    async fn try_reserve(
        &self,
        req: &ReserveRequest<'_>,
    ) -> Result<Step<Reservation>, LedgerError> {
        let claim = req.reserved_claim();
        let Some(reasons) = self
            .transact(self.reservation_writes(req, &claim)?.to_vec())
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
        let read = match self.get_claim(key).await? {
            Some(c) if c.claim_id == claim_id => c,
            _ => return Ok(Step::Done(Rekey::NotFound)),
        };
        if key.person == new_person {
            return Ok(Step::Done(Rekey::Moved(read)));
        }
        let mut claim = read.clone();
        claim.key.person = new_person.to_string();
        claim.updated_at = now;
        // Why: only this reservation's claim moves, and only as it was read
        // (a transition in between makes this attempt read again).
        let delete = self.delete_claim_as_read(key, &read)?;
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

    /// One transition attempt: a conditional `UpdateItem`, or for a
    /// release the claim's conditional delete and the counter's decrement in
    /// one transaction. The condition is the caller's expectation: this
    /// claim id, in one of these stages.
    async fn try_transition(
        &self,
        key: &ClaimKey,
        expect: Expect<'_>,
        change: Change<'_>,
        now: UnixMillis,
    ) -> Result<Step<Transition>, LedgerError> {
        let condition = ExpectedStage::of(expect);
        if change.releases() {
            return self.try_release(key, &condition, change.failure()).await;
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::claim_key(key)))
            .condition_expression(&condition.expression)
            .set_expression_attribute_names(Some(condition.names.clone()))
            .set_expression_attribute_values(Some(condition.values.clone()))
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        update = match change {
            Change::Activate { username } => update
                .update_expression(ACTIVATE)
                .expression_attribute_names("#activated_at", "activated_at")
                .expression_attribute_names("#state", "state")
                .expression_attribute_names("#hold", "hold")
                .expression_attribute_names("#username", "username")
                .expression_attribute_values(":active", s(ClaimState::Active.as_str()))
                .expression_attribute_values(":username", s(username)),
            Change::Rehold { hold, delivery } => {
                let with_delivery = update
                    .expression_attribute_names("#hold", "hold")
                    .expression_attribute_values(":new_hold", s(hold.as_str()));
                match delivery {
                    Some(d) => with_delivery
                        .update_expression(
                            "SET #hold = :new_hold, #delivery = :delivery, #updated_at = :now",
                        )
                        .expression_attribute_names("#delivery", "delivery")
                        .expression_attribute_values(":delivery", s(d)),
                    None => {
                        with_delivery.update_expression("SET #hold = :new_hold, #updated_at = :now")
                    }
                }
            }
            Change::Touch => update.update_expression("SET #updated_at = :now"),
            Change::Extend {
                until,
                activated_at,
            } => update
                .update_expression(
                    "SET #extended_until = :until, #updated_at = :now, \
                     #activated_at = if_not_exists(#activated_at, :activated) REMOVE #warned_at",
                )
                .expression_attribute_names("#extended_until", "extended_until")
                .expression_attribute_names("#warned_at", "warned_at")
                .expression_attribute_names("#activated_at", "activated_at")
                .expression_attribute_values(":until", n(until))
                .expression_attribute_values(":activated", n(activated_at)),
            Change::Warn { activated_at } => update
                .update_expression(
                    "SET #warned_at = :now, #updated_at = :now, \
                     #activated_at = if_not_exists(#activated_at, :activated)",
                )
                .expression_attribute_names("#warned_at", "warned_at")
                .expression_attribute_names("#activated_at", "activated_at")
                .expression_attribute_values(":activated", n(activated_at)),
            Change::Release | Change::Fail { .. } => {
                return Err(LedgerError::Corrupt("a release is a delete".into()));
            }
        };
        match conditional_write("UpdateItem", update.send().await)? {
            Written::Done(out) => match out.attributes() {
                Some(found) => Ok(Step::Done(Transition::Done(Claim::try_from(ClaimItem(
                    found,
                ))?))),
                None => Err(LedgerError::Unavailable(
                    "DynamoDB UpdateItem: no attributes returned".into(),
                )),
            },
            Written::ConditionFailed(old) => {
                Ok(Step::Done(Transition::Refused(as_it_was(old.as_ref())?)))
            }
            Written::Conflict => Ok(Step::Conflict),
        }
    }

    /// One release attempt: the claim's conditional delete and the
    /// counter's decrement together (and the failure it records, for
    /// `Change::Fail`).
    async fn try_release(
        &self,
        key: &ClaimKey,
        condition: &ExpectedStage,
        failure: Option<(&FailedSignup, UnixMillis)>,
    ) -> Result<Step<Transition>, LedgerError> {
        // Why: only the reservation that made the claim, in a stage the
        // caller expects, gives the seat back.
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(item::claim_key(key)))
            .condition_expression(&condition.expression)
            .set_expression_attribute_names(Some(condition.names.clone()))
            .set_expression_attribute_values(Some(condition.values.clone()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
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
        let mut items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(counter).build(),
        ];
        if let Some((failure, retain_until)) = failure {
            // Why unconditional: one failure per pool + person, the latest
            // wins (as `record_failure`).
            let FailureRecord(record) = FailureRecord::new(failure, retain_until);
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(record))
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let Some(reasons) = self.transact(items).await? else {
            return Ok(Step::Done(Transition::Released));
        };
        // Reasons come in request order: [claim, counter].
        if cancelled_by_condition(&reasons, 0) {
            let now_there = as_it_was(reason_item(&reasons, 0))?;
            return Ok(Step::Done(Transition::Refused(now_there)));
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
}

/// The claim a refused write found, as DynamoDB returned it (the writes ask
/// for the old item on a failed condition, so none returned means none is
/// there): no extra read.
fn as_it_was(returned: Option<&Item>) -> Result<Option<Claim>, LedgerError> {
    returned
        .map(|found| Claim::try_from(ClaimItem(found)))
        .transpose()
}

/// The update of an activation: ACTIVE under `:username`, the first
/// activation's time kept (a repeated confirmation does not move it).
const ACTIVATE: &str = "SET #state = :active, #username = :username, #updated_at = :now, \
     #activated_at = if_not_exists(#activated_at, :now) REMOVE #hold";

/// A transition's expectation as a DynamoDB condition: the claim id, and
/// one of the expected stages (a RESERVED claim without a hold, stored
/// before holds existed, is in flight).
struct ExpectedStage {
    expression: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl ExpectedStage {
    fn of(expect: Expect<'_>) -> Self {
        // Why each name and value is added with the clause that uses it:
        // DynamoDB refuses unused ones (and redundant parentheses).
        let mut names = HashMap::from([("#claim_id".to_string(), "claim_id".to_string())]);
        let mut values = HashMap::from([(":cid".to_string(), s(expect.claim_id))]);
        let mut active = None;
        if expect.stages.contains(&Stage::Active) {
            values.insert(":active_state".into(), s(ClaimState::Active.as_str()));
            active = Some("#state = :active_state".to_string());
        }
        let mut reserved = None;
        let holds: Vec<Hold> = Hold::ALL
            .into_iter()
            .filter(|h| expect.stages.contains(&Stage::Reserved(*h)))
            .collect();
        if !holds.is_empty() {
            names.insert("#hold".into(), "hold".into());
            values.insert(":reserved".into(), s(ClaimState::Reserved.as_str()));
            let mut hold_names = Vec::new();
            for h in &holds {
                let name = format!(":h_{}", h.as_str().to_ascii_lowercase());
                values.insert(name.clone(), s(h.as_str()));
                hold_names.push(name);
            }
            let mut hold_test = format!("#hold IN ({})", hold_names.join(", "));
            if holds.contains(&Hold::InFlight) {
                // A claim stored before holds existed is in flight.
                hold_test = format!("({hold_test} OR attribute_not_exists(#hold))");
            }
            reserved = Some(format!("#state = :reserved AND {hold_test}"));
        }
        let expression = match (active, reserved) {
            // Nothing is expected: a condition that never holds.
            (None, None) => {
                values.remove(":cid");
                "attribute_not_exists(#claim_id)".to_string()
            }
            (Some(one), None) | (None, Some(one)) => {
                names.insert("#state".into(), "state".into());
                format!("#claim_id = :cid AND {one}")
            }
            (Some(active), Some(reserved)) => {
                names.insert("#state".into(), "state".into());
                format!("#claim_id = :cid AND ({active} OR {reserved})")
            }
        };
        let expression = match expect.updated_at {
            // The claim as the caller read it: unchanged since.
            Some(read) if expression != "attribute_not_exists(#claim_id)" => {
                names.insert("#read_updated_at".into(), "updated_at".into());
                values.insert(":read_updated_at".into(), n(read));
                format!("{expression} AND #read_updated_at = :read_updated_at")
            }
            _ => expression,
        };
        ExpectedStage {
            expression,
            names,
            values,
        }
    }
}

impl ClaimStore for DynamoLedger {
    async fn reserve(&self, req: ReserveRequest<'_>) -> Result<Reservation, LedgerError> {
        self.retrying("reserve", || self.try_reserve(&req)).await
    }

    async fn transition(
        &self,
        key: &ClaimKey,
        expect: Expect<'_>,
        change: Change<'_>,
        now: UnixMillis,
    ) -> Result<Transition, LedgerError> {
        self.retrying("transition", || {
            self.try_transition(key, expect, change, now)
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
}

//! [`DynamoLedger`]: the seat ledger in one DynamoDB table, the deployed
//! store.
//!
//! Every guarantee of [`crate::seats`] rests on DynamoDB conditions, never on
//! read-then-write in this process:
//!
//! - `reserve` is ONE `TransactWriteItems`: raise the pool counter while
//!   `used < capacity` and put the claim if absent. The cancellation reasons
//!   tell which condition failed.
//! - `release` is one transaction: delete the claim if its `claim_id` matches
//!   and lower the counter.
//! - deliveries are conditional `PutItem`/`UpdateItem`/`DeleteItem` calls;
//!   lease and retention expiry are compared with stored times in the
//!   condition, never left to DynamoDB's TTL deletion (which may lag by days).
//! - `touch` is one conditional `UpdateItem` (this claim id, still RESERVED);
//!   failed sign-ups are plain `PutItem`s in the pool's partition, and
//!   `failures` drops expired ones itself, TTL deletion being lazy.
//! - a sign-up request is written in ONE transaction with its listing item
//!   and (while open) its pool + person guard, put only if absent, so a
//!   second open request is refused by DynamoDB. `transition_request` reads
//!   the request, then in one transaction puts it back on condition that its
//!   state and revision are still what was read, moves the listing item and
//!   adds or deletes the guard: of concurrent moves exactly one wins. A
//!   closed request and its listing item carry `ttl`, so DynamoDB deletes
//!   them once their retention has passed.
//! - audit events are conditional `PutItem`s (never overwriting) into one
//!   partition per UTC day, after a marker of the day; `audit_since` Queries
//!   the markers, then the days, in order. Nothing here ever Scans.
//!
//! Transaction conflicts (concurrent transactions on the same counter) are
//! retried with full-jitter backoff within a [`ConflictRetry`] budget and
//! counted ([`DynamoLedger::conflicts_retried`]). The item layout and the
//! item ↔ domain mapping live in the private `item` module and nowhere else.
//! This module must not know about the portal or HTTP, and the errors it
//! returns carry a short description only, never the SDK's debug output.

#[cfg(test)]
mod fake_tests;
mod item;

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CancellationReason, Delete, KeySchemaElement, KeyType, Put,
    ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    TransactWriteItem, Update,
};
use rand::Rng;

use crate::domain::{ClaimKey, DeliveryKey, PoolId, RequestState, UnixMillis};
use crate::seats::{
    AuditEvent, Claim, ClaimState, DeliveryBegin, FailedSignup, LedgerError, PoolUsage, Rekey,
    RequestChange, Reservation, ReserveRequest, SeatLedger, SignupRecord,
};

use item::{
    AuditItem, COMPLETE, ClaimItem, ClaimRecord, DeliveryRecord, DeliveryStatus, FailureItem,
    FailureRecord, IN_PROGRESS, Item, RequestItem, n, s,
};

/// How long an IN_PROGRESS record outlives its lease before DynamoDB's TTL
/// may delete it. Only housekeeping for crashed attempts: expiry itself is
/// always decided from `lease_until`.
const IN_PROGRESS_TTL_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// The cancellation-reason code of a failed condition.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// The cancellation-reason code of a conflict with another transaction.
const TRANSACTION_CONFLICT: &str = "TransactionConflict";

/// The retry budget for transaction conflicts (and for single-item writes
/// refused because a transaction holds the item). Backoff is "full jitter":
/// before retry `k` (1-based) sleep a random time in
/// `[0, min(max_delay, base_delay * 2^(k-1))]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictRetry {
    /// Attempts in all, the first included; at least 1.
    pub max_attempts: u32,
    /// Backoff bound before the first retry.
    pub base_delay: Duration,
    /// Largest backoff bound.
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first
    /// attempt.
    pub max_elapsed: Duration,
}

impl Default for ConflictRetry {
    /// Sized for a Lambda answering a webhook: about 10 tries within 5 s.
    fn default() -> Self {
        ConflictRetry {
            max_attempts: 10,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_secs(1),
            max_elapsed: Duration::from_secs(5),
        }
    }
}

impl ConflictRetry {
    /// A random delay before retry number `retry` (1-based).
    fn delay(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(20);
        let bound = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let micros = u64::try_from(bound.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::rng().random_range(0..=micros))
    }
}

/// The seat ledger on DynamoDB; see the module docs for the table layout.
#[derive(Debug)]
pub struct DynamoLedger {
    client: Client,
    table: String,
    retry: ConflictRetry,
    /// Why atomic: reservations run concurrently on a shared ledger, and the
    /// count is only a statistic, so relaxed increments suffice.
    conflicts_retried: AtomicU64,
    /// The last UTC day whose `AUDIT_DAYS` marker this ledger wrote, so
    /// `audit` writes the marker once per day, not once per event. Only a
    /// saving: writing it again is harmless.
    audit_day_marked: Mutex<Option<String>>,
}

/// What one attempt of a retried operation came to.
enum Step<T> {
    /// Finished with this answer.
    Done(T),
    /// Refused because of a concurrent transaction: retry, and count it.
    Conflict,
    /// The item changed between the write and the read explaining its
    /// refusal: retry without counting a conflict.
    Raced,
}

impl DynamoLedger {
    /// A ledger on `table_name` (which must exist, see [`create_table`]) with
    /// the default [`ConflictRetry`] budget.
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        DynamoLedger {
            client,
            table: table_name.into(),
            retry: ConflictRetry::default(),
            conflicts_retried: AtomicU64::new(0),
            audit_day_marked: Mutex::new(None),
        }
    }

    /// Replaces the conflict retry budget (tests use short delays).
    pub fn with_conflict_retry(mut self, retry: ConflictRetry) -> Self {
        self.retry = retry;
        self
    }

    /// How many times an operation was retried because of a transaction
    /// conflict since this ledger was made.
    pub fn conflicts_retried(&self) -> u64 {
        self.conflicts_retried.load(Ordering::Relaxed)
    }

    /// The table this ledger writes to.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// Runs `attempt` until it is done, retrying conflicts and races within
    /// the budget.
    async fn retrying<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, LedgerError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Step<T>, LedgerError>>,
    {
        let started = Instant::now();
        let mut tries: u32 = 0;
        loop {
            tries += 1;
            let conflict = match attempt().await? {
                Step::Done(answer) => return Ok(answer),
                Step::Conflict => true,
                Step::Raced => false,
            };
            if tries >= self.retry.max_attempts.max(1)
                || started.elapsed() >= self.retry.max_elapsed
            {
                tracing::warn!(
                    operation = what,
                    tries,
                    "giving up after repeated conflicts"
                );
                return Err(LedgerError::Unavailable(format!(
                    "{what}: still conflicting after {tries} attempts"
                )));
            }
            if conflict {
                self.conflicts_retried.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(self.retry.delay(tries)).await;
        }
    }

    /// A strongly consistent read of one item.
    async fn get(&self, key: Item) -> Result<Option<Item>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", &e))?;
        Ok(out.item().cloned())
    }

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

    /// One reservation attempt: the counter update and the claim put in one
    /// transaction.
    async fn try_reserve(
        &self,
        req: &ReserveRequest<'_>,
    ) -> Result<Step<Reservation>, LedgerError> {
        let claim = Claim {
            key: req.key.clone(),
            claim_id: req.claim_id.to_string(),
            state: ClaimState::Reserved,
            username: Some(req.username.to_string()),
            delivery: req.delivery.to_string(),
            reserved_at: req.now,
            updated_at: req.now,
        };
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
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(claim_item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", item::PK)
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
        if failed(&reasons, 1) {
            let existing = match reason_item(&reasons, 1) {
                Some(found) => Some(Claim::try_from(ClaimItem(found))?),
                None => self.get_claim(req.key).await?,
            };
            // None: the claim was released since; try again.
            return Ok(existing.map_or(Step::Raced, |c| Step::Done(Reservation::AlreadyHeld(c))));
        }
        if failed(&reasons, 0) {
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

    /// One release attempt: delete the claim and lower the counter together.
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
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(item::claim_key(key)))
            .condition_expression("#claim_id = :cid")
            .expression_attribute_names("#claim_id", "claim_id")
            .expression_attribute_values(":cid", s(claim_id))
            .build()
            .map_err(build_error)?;
        // Why: never overwrite the new person's own claim.
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(ClaimRecord::from(&claim).0))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", item::PK)
            .build()
            .map_err(build_error)?;
        let Some(reasons) = self
            .transact(vec![
                TransactWriteItem::builder().delete(delete).build(),
                TransactWriteItem::builder().put(put).build(),
            ])
            .await?
        else {
            return Ok(Step::Done(Rekey::Moved(claim)));
        };
        // Reasons come in request order: [old claim, new claim].
        if failed(&reasons, 0) {
            return Ok(Step::Raced);
        }
        if failed(&reasons, 1) {
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

    async fn try_release(&self, key: &ClaimKey, claim_id: &str) -> Result<Step<bool>, LedgerError> {
        // Why: only the reservation that made the claim may give it back.
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(item::claim_key(key)))
            .condition_expression("#claim_id = :cid")
            .expression_attribute_names("#claim_id", "claim_id")
            .expression_attribute_values(":cid", s(claim_id))
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
        let Some(reasons) = self
            .transact(vec![
                TransactWriteItem::builder().delete(delete).build(),
                TransactWriteItem::builder().update(counter).build(),
            ])
            .await?
        else {
            return Ok(Step::Done(true));
        };
        // Reasons come in request order: [claim, counter].
        if failed(&reasons, 0) {
            return Ok(Step::Done(false));
        }
        if failed(&reasons, 1) {
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
        match sent {
            Ok(out) => match out.attributes() {
                Some(found) => Claim::try_from(ClaimItem(found)).map(Step::Done),
                None => Err(LedgerError::Unavailable(
                    "DynamoDB UpdateItem: no attributes returned".into(),
                )),
            },
            Err(err) => {
                let description = describe("UpdateItem", &err);
                match err.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(_) => {
                        Err(LedgerError::ClaimNotFound)
                    }
                    UpdateItemError::TransactionConflictException(_) => Ok(Step::Conflict),
                    other => Err(failure(description, &other)),
                }
            }
        }
    }

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
        let err = match sent {
            Ok(_) => return Ok(Step::Done(DeliveryBegin::Started)),
            Err(err) => err,
        };
        let description = describe("PutItem", &err);
        let returned = match err.into_service_error() {
            PutItemError::ConditionalCheckFailedException(e) => e.item,
            PutItemError::TransactionConflictException(_) => return Ok(Step::Conflict),
            other => return Err(failure(description, &other)),
        };
        let stored = match returned {
            Some(found) => Some(found),
            None => self.get(item::delivery_key(key)).await?,
        };
        let Some(stored) = stored else {
            // Abandoned since our write: try again.
            return Ok(Step::Raced);
        };
        let record = DeliveryRecord::try_from(&stored)?;
        Ok(refusal(&record, payload_hash, now).map_or(Step::Raced, Step::Done))
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
        let err = match sent {
            Ok(_) => return Ok(Step::Done(())),
            Err(err) => err,
        };
        let description = describe("UpdateItem", &err);
        match err.into_service_error() {
            UpdateItemError::ConditionalCheckFailedException(_) => {
                tracing::warn!(
                    source = %key.source,
                    "delivery record vanished before its outcome was stored"
                );
                Ok(Step::Done(()))
            }
            UpdateItemError::TransactionConflictException(_) => Ok(Step::Conflict),
            other => Err(failure(description, &other)),
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
        let err = match sent {
            Ok(_) => return Ok(Step::Done(true)),
            Err(err) => err,
        };
        let description = describe("UpdateItem", &err);
        match err.into_service_error() {
            UpdateItemError::ConditionalCheckFailedException(_) => Ok(Step::Done(false)),
            UpdateItemError::TransactionConflictException(_) => Ok(Step::Conflict),
            other => Err(failure(description, &other)),
        }
    }

    async fn try_record_failure(
        &self,
        failed: &FailedSignup,
        retain_until: UnixMillis,
    ) -> Result<Step<()>, LedgerError> {
        let FailureRecord(record) = FailureRecord::new(failed, retain_until);
        // Why unconditional: one failure per pool + person, the latest wins.
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record))
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(Step::Done(())),
            Err(err) => err,
        };
        let description = describe("PutItem", &err);
        match err.into_service_error() {
            PutItemError::TransactionConflictException(_) => Ok(Step::Conflict),
            other => Err(failure(description, &other)),
        }
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
        let err = match sent {
            Ok(_) => return Ok(Step::Done(())),
            Err(err) => err,
        };
        let description = describe("DeleteItem", &err);
        match err.into_service_error() {
            DeleteItemError::ConditionalCheckFailedException(_) => Ok(Step::Done(())),
            DeleteItemError::TransactionConflictException(_) => Ok(Step::Conflict),
            other => Err(failure(description, &other)),
        }
    }

    /// The request stored under `id` with its revision, if any.
    async fn get_request(&self, id: &str) -> Result<Option<(SignupRecord, u64)>, LedgerError> {
        match self.get(item::request_key(id)).await? {
            Some(found) => Ok(Some((
                SignupRecord::try_from(RequestItem(&found))?,
                item::request_rev(&found)?,
            ))),
            None => Ok(None),
        }
    }

    /// Sends one transaction; `Ok(None)` when it went through, else the
    /// cancellation reasons (in request order).
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<CancellationReason>>, LedgerError> {
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(None),
            Err(err) => err,
        };
        let description = describe("TransactWriteItems", &err);
        match err.into_service_error() {
            TransactWriteItemsError::TransactionCanceledException(e) => {
                Ok(Some(e.cancellation_reasons().to_vec()))
            }
            other => Err(failure(description, &other)),
        }
    }

    /// One creation attempt: the request, its listing item and (if open) its
    /// guard in one transaction.
    async fn try_create_request(
        &self,
        r: &SignupRecord,
    ) -> Result<Step<Option<SignupRecord>>, LedgerError> {
        // Why: request ids are fresh random values; never overwrite one.
        let own = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item::request_record(r, 0)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", item::PK)
            .build()
            .map_err(build_error)?;
        let listing = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item::request_index_record(r, 0)))
            .build()
            .map_err(build_error)?;
        let mut items = vec![
            TransactWriteItem::builder().put(own).build(),
            TransactWriteItem::builder().put(listing).build(),
        ];
        if r.state.is_open() {
            // Why: one open request per pool + person; the guard's owner is
            // returned when there is one.
            let guard = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item::open_record(r)))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", item::PK)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().put(guard).build());
        }
        let Some(reasons) = self.transact(items).await? else {
            return Ok(Step::Done(None));
        };
        // Reasons come in request order: [request, listing, guard?]. An open
        // request wins over an id clash, as in the other adapters.
        if failed(&reasons, 2) {
            let owner = match reason_item(&reasons, 2) {
                Some(found) => Some(item::open_request_id(found)?.to_string()),
                None => match self.get(item::open_key(&r.key)).await? {
                    Some(found) => Some(item::open_request_id(&found)?.to_string()),
                    None => None,
                },
            };
            let existing = match owner {
                Some(id) => self.get_request(&id).await?,
                None => None,
            };
            // Closed or gone since our write: try again.
            return Ok(match existing {
                Some((existing, _)) if existing.state.is_open() => Step::Done(Some(existing)),
                _ => Step::Raced,
            });
        }
        if failed(&reasons, 0) {
            return Err(crate::seats::request_id_taken());
        }
        if conflicted(&reasons) {
            return Ok(Step::Conflict);
        }
        Err(cancelled("create_request", &reasons))
    }

    /// One transition attempt: read the request, then put it back on
    /// condition that state and revision are unchanged, moving its listing
    /// item and its guard in the same transaction.
    async fn try_transition_request(
        &self,
        id: &str,
        from: RequestState,
        to: RequestState,
        change: &RequestChange,
    ) -> Result<Step<Option<SignupRecord>>, LedgerError> {
        let Some((current, rev)) = self.get_request(id).await? else {
            return Ok(Step::Done(None));
        };
        if current.state != from {
            return Ok(Step::Done(None));
        }
        let updated = change.apply(&current, to);
        let next = rev + 1;
        // Why the revision too: the put writes the whole item as read, so
        // it must not land on a request changed since (from → X → from).
        let own = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item::request_record(&updated, next)))
            .condition_expression("#state = :from AND #rev = :rev")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":rev", n(rev))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        let mut items = vec![TransactWriteItem::builder().put(own).build()];
        let listing = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item::request_index_record(&updated, next)))
            .build()
            .map_err(build_error)?;
        items.push(TransactWriteItem::builder().put(listing).build());
        if from != to {
            // Same key when the state stays (one transaction may not touch
            // an item twice), so the old listing item goes only on a move.
            let old_listing = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(item::request_index_key(&current, from)))
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().delete(old_listing).build());
        }
        // Index of the guard operation in `items`, when there is one.
        let guard_at = items.len();
        let guard = match (from.is_open(), to.is_open()) {
            (true, false) => {
                // Why: free the slot only if it is this request's (a missing
                // guard is not worth failing the decision for).
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(item::open_key(&current.key)))
                    .condition_expression("attribute_not_exists(#pk) OR #request_id = :id")
                    .expression_attribute_names("#pk", item::PK)
                    .expression_attribute_names("#request_id", "request_id")
                    .expression_attribute_values(":id", s(id))
                    .build()
                    .map_err(build_error)?;
                Some(TransactWriteItem::builder().delete(delete).build())
            }
            (false, true) => {
                // Why: reopening must not give the person a second open
                // request in the pool.
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item::open_record(&updated)))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", item::PK)
                    .build()
                    .map_err(build_error)?;
                Some(TransactWriteItem::builder().put(put).build())
            }
            _ => None,
        };
        let reopening = !from.is_open() && to.is_open();
        items.extend(guard);
        let Some(reasons) = self.transact(items).await? else {
            return Ok(Step::Done(Some(updated)));
        };
        if failed(&reasons, 0) {
            // Someone moved it first: answer from what is stored now.
            return match reason_item(&reasons, 0) {
                Some(found) if SignupRecord::try_from(RequestItem(found))?.state != from => {
                    Ok(Step::Done(None))
                }
                _ => Ok(Step::Raced),
            };
        }
        if failed(&reasons, guard_at) {
            if reopening {
                return Ok(Step::Done(None));
            }
            return Err(LedgerError::Corrupt(
                "the open-request guard belongs to another request".into(),
            ));
        }
        if conflicted(&reasons) {
            return Ok(Step::Conflict);
        }
        Err(cancelled("transition_request", &reasons))
    }

    /// One unconditional put (a day marker): the same item again is harmless.
    async fn try_put(&self, record: &Item) -> Result<Step<()>, LedgerError> {
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record.clone()))
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(Step::Done(())),
            Err(err) => err,
        };
        let description = describe("PutItem", &err);
        match err.into_service_error() {
            PutItemError::TransactionConflictException(_) => Ok(Step::Conflict),
            other => Err(failure(description, &other)),
        }
    }

    /// One audit put under a fresh random suffix, never overwriting.
    async fn try_put_audit(&self, e: &AuditEvent) -> Result<Step<()>, LedgerError> {
        let suffix = format!("{:016x}", rand::rng().random::<u64>());
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::audit_record(e, &suffix)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", item::PK)
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(Step::Done(())),
            Err(err) => err,
        };
        let description = describe("PutItem", &err);
        match err.into_service_error() {
            // The suffix was taken (vanishingly rare): another one.
            PutItemError::ConditionalCheckFailedException(_) => Ok(Step::Raced),
            PutItemError::TransactionConflictException(_) => Ok(Step::Conflict),
            other => Err(failure(description, &other)),
        }
    }

    /// Every item of partition `pk` whose sort key begins with `prefix`,
    /// all pages.
    async fn query_all(&self, pk: String, prefix: &str) -> Result<Vec<Item>, LedgerError> {
        let (mut items, mut start) = (Vec::new(), None);
        loop {
            let (page, next) = self
                .query_page(
                    pk.clone(),
                    "begins_with(#sk, :sk)",
                    prefix.to_string(),
                    None,
                    start,
                )
                .await?;
            items.extend(page);
            match next {
                Some(next) => start = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// One page of a Query on `pk` with a sort-key condition (`#sk >= :sk`
    /// or `begins_with(#sk, :sk)`), oldest sort key first.
    async fn query_page(
        &self,
        pk: String,
        sk_condition: &str,
        sk: String,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), LedgerError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(format!("#pk = :pk AND {sk_condition}"))
            .expression_attribute_names("#pk", item::PK)
            .expression_attribute_names("#sk", item::SK)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":sk", s(sk))
            .consistent_read(true)
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| unavailable("Query", &e))?;
        let next = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        Ok((out.items().to_vec(), next))
    }
}

/// Why a stored delivery refuses a new lease, or `None` when it would not
/// (it changed after our conditional write failed).
fn refusal(record: &DeliveryRecord, payload_hash: &str, now: UnixMillis) -> Option<DeliveryBegin> {
    let same_payload = record.payload_hash == payload_hash;
    match &record.status {
        DeliveryStatus::InProgress if !same_payload => Some(DeliveryBegin::PayloadMismatch),
        DeliveryStatus::InProgress if record.lease_until >= now => Some(DeliveryBegin::InProgress),
        DeliveryStatus::InProgress => None,
        DeliveryStatus::Complete { retain_until, .. } if *retain_until < now => None,
        DeliveryStatus::Complete { .. } if !same_payload => Some(DeliveryBegin::PayloadMismatch),
        DeliveryStatus::Complete { outcome, .. } => Some(DeliveryBegin::Completed(outcome.clone())),
    }
}

fn reason_code(reasons: &[CancellationReason], index: usize) -> Option<&str> {
    reasons.get(index).and_then(|r| r.code())
}

fn failed(reasons: &[CancellationReason], index: usize) -> bool {
    reason_code(reasons, index) == Some(CONDITION_FAILED)
}

fn conflicted(reasons: &[CancellationReason]) -> bool {
    reasons
        .iter()
        .any(|r| r.code() == Some(TRANSACTION_CONFLICT))
}

fn reason_item(reasons: &[CancellationReason], index: usize) -> Option<&Item> {
    reasons
        .get(index)
        .and_then(|r| r.item())
        .filter(|found| !found.is_empty())
}

fn cancelled(what: &str, reasons: &[CancellationReason]) -> LedgerError {
    let codes: Vec<&str> = reasons.iter().map(|r| r.code().unwrap_or("None")).collect();
    tracing::warn!(operation = what, reasons = ?codes, "DynamoDB transaction cancelled");
    LedgerError::Unavailable(format!(
        "{what} transaction cancelled: [{}]",
        codes.join(", ")
    ))
}

/// A short, secret-free description of an SDK failure for callers. Computed
/// before the error is matched; only failures (not refused conditions) are
/// logged, by [`failure`] or [`unavailable`].
fn describe<E, R>(operation: &str, err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let what = match err {
        SdkError::ServiceError(e) => e.err().code().unwrap_or("unrecognised service error"),
        SdkError::TimeoutError(_) => "timed out",
        SdkError::DispatchFailure(_) => "could not reach the store",
        SdkError::ResponseError(_) => "unreadable response",
        SdkError::ConstructionFailure(_) => "request could not be built",
        _ => "failed",
    };
    format!("DynamoDB {operation}: {what}")
}

/// A failure nobody branches on (throttling, timeouts, a missing table):
/// "try later" for the caller, the full error chain for the log.
fn failure(description: String, err: &dyn std::error::Error) -> LedgerError {
    tracing::warn!(error = %DisplayErrorContext(err), "{description}");
    LedgerError::Unavailable(description)
}

fn unavailable<E, R>(operation: &str, err: &SdkError<E, R>) -> LedgerError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    failure(describe(operation, err), err)
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> LedgerError {
    tracing::error!(error = %err, "DynamoDB request could not be built");
    LedgerError::Unavailable("DynamoDB request could not be built".into())
}

impl SeatLedger for DynamoLedger {
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

    async fn touch(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        now: UnixMillis,
    ) -> Result<bool, LedgerError> {
        self.retrying("touch", || self.try_touch(key, claim_id, now))
            .await
    }

    async fn record_failure(
        &self,
        failure: &FailedSignup,
        retain_until: UnixMillis,
    ) -> Result<(), LedgerError> {
        self.retrying("record_failure", || {
            self.try_record_failure(failure, retain_until)
        })
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
        crate::seats::newest_first(&mut failures);
        Ok(failures)
    }

    async fn create_request(&self, r: &SignupRecord) -> Result<Option<SignupRecord>, LedgerError> {
        self.retrying("create_request", || self.try_create_request(r))
            .await
    }

    async fn request(&self, id: &str) -> Result<Option<SignupRecord>, LedgerError> {
        Ok(self.get_request(id).await?.map(|(r, _)| r))
    }

    async fn requests(
        &self,
        pool: &PoolId,
        state: RequestState,
    ) -> Result<Vec<SignupRecord>, LedgerError> {
        let mut requests = self
            .query_all(item::pool_pk(pool), &item::request_index_prefix(state))
            .await?
            .iter()
            .map(|found| SignupRecord::try_from(RequestItem(found)))
            .collect::<Result<Vec<_>, _>>()?;
        // Already in this order by sort key, but for times before 1970
        // (stored as 0 in the key).
        crate::seats::oldest_first(&mut requests);
        Ok(requests)
    }

    async fn transition_request(
        &self,
        id: &str,
        from: RequestState,
        to: RequestState,
        change: &RequestChange,
    ) -> Result<Option<SignupRecord>, LedgerError> {
        self.retrying("transition_request", || {
            self.try_transition_request(id, from, to, change)
        })
        .await
    }

    async fn audit(&self, e: &AuditEvent) -> Result<(), LedgerError> {
        let day = item::audit_day(e.at);
        let marked = self
            .audit_day_marked
            .lock()
            .map(|last| last.as_deref() == Some(day.as_str()))
            .unwrap_or(false);
        if !marked {
            // Why first: an event must never exist without its day's marker,
            // or `audit_since` would not find it. A marker without events
            // (the put below failed) is harmless.
            let marker = item::audit_day_key(&day);
            self.retrying("audit", || self.try_put(&marker)).await?;
            if let Ok(mut last) = self.audit_day_marked.lock() {
                *last = Some(day);
            }
        }
        self.retrying("audit", || self.try_put_audit(e)).await
    }

    async fn audit_since(
        &self,
        since: UnixMillis,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, LedgerError> {
        let mut events = Vec::new();
        if limit == 0 {
            return Ok(events);
        }
        let mut days_start: Option<Item> = None;
        'days: loop {
            let (days, next_days) = self
                .query_page(
                    item::AUDIT_DAYS_PK.to_string(),
                    "#sk >= :sk",
                    item::audit_day(since),
                    None,
                    days_start.take(),
                )
                .await?;
            for marker in &days {
                let day = item::audit_day_of_marker(marker)?;
                let mut start: Option<Item> = None;
                loop {
                    let wanted = limit - events.len();
                    let (found, next) = self
                        .query_page(
                            item::audit_pk(day),
                            "#sk >= :sk",
                            item::sort_millis(since),
                            Some(i32::try_from(wanted).unwrap_or(i32::MAX).min(1_000)),
                            start.take(),
                        )
                        .await?;
                    for raw in &found {
                        let event = AuditEvent::try_from(AuditItem(raw))?;
                        // Why check again: times before 1970 share key 0.
                        if event.at >= since {
                            events.push(event);
                        }
                    }
                    if events.len() >= limit {
                        events.truncate(limit);
                        break 'days;
                    }
                    match next {
                        Some(last) => start = Some(last),
                        None => break,
                    }
                }
            }
            match next_days {
                Some(last) => days_start = Some(last),
                None => break,
            }
        }
        Ok(events)
    }
}

/// Creates the ledger table `name`: on-demand billing, key `pk` (S) + `sk`
/// (S), then TTL on `ttl`. An existing table is accepted as is. For tests and
/// local runs; deployed tables come from the SAM template.
pub async fn create_table(client: &Client, name: &str) -> Result<(), LedgerError> {
    let attribute = |attr: &str| {
        AttributeDefinition::builder()
            .attribute_name(attr)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error)
    };
    let key = |attr: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(kind)
            .build()
            .map_err(build_error)
    };
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(item::PK)?)
        .attribute_definitions(attribute(item::SK)?)
        .key_schema(key(item::PK, KeyType::Hash)?)
        .key_schema(key(item::SK, KeyType::Range)?)
        .send()
        .await;
    if let Err(err) = created {
        let description = describe("CreateTable", &err);
        match err.into_service_error() {
            CreateTableError::ResourceInUseException(_) => {}
            other => return Err(failure(description, &other)),
        }
    }
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(Duration::from_secs(120))
        .await
        .map_err(|_| LedgerError::Unavailable(format!("table {name} did not become active")))?;
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name("ttl")
        .enabled(true)
        .build()
        .map_err(build_error)?;
    // Why ignore: TTL is housekeeping only (expiry is checked in code), and
    // some emulators lack UpdateTimeToLive or refuse it when already on.
    if let Err(err) = client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await
    {
        tracing::debug!(error = %DisplayErrorContext(&err), "could not enable TTL; ignored");
    }
    Ok(())
}

/// A DynamoDB client. With an `endpoint` (DynamoDB Local) it needs no AWS
/// configuration at all: region `us-east-1` and static dummy credentials.
/// Without one it loads the usual AWS configuration (environment, profile,
/// Lambda role).
pub async fn client_for_endpoint(endpoint: Option<&str>) -> Client {
    match endpoint {
        Some(url) => {
            let conf = aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "dynamodb-local",
                ))
                .endpoint_url(url)
                .build();
            Client::from_conf(conf)
        }
        None => Client::new(crate::config::aws_config().await),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: DeliveryStatus, hash: &str, lease_until: UnixMillis) -> DeliveryRecord {
        DeliveryRecord {
            status,
            payload_hash: hash.into(),
            lease_until,
        }
    }

    #[test]
    fn a_live_lease_refuses_with_in_progress_and_an_expired_one_does_not() {
        let r = record(DeliveryStatus::InProgress, "h", 100);
        assert_eq!(refusal(&r, "h", 100), Some(DeliveryBegin::InProgress));
        assert_eq!(refusal(&r, "h", 101), None);
        assert_eq!(
            refusal(&r, "other", 101),
            Some(DeliveryBegin::PayloadMismatch)
        );
    }

    #[test]
    fn a_completed_record_answers_until_its_retention_ends() {
        let r = record(
            DeliveryStatus::Complete {
                outcome: "{\"ok\":true}".into(),
                retain_until: 500,
            },
            "h",
            100,
        );
        assert_eq!(
            refusal(&r, "h", 500),
            Some(DeliveryBegin::Completed("{\"ok\":true}".into()))
        );
        assert_eq!(
            refusal(&r, "other", 500),
            Some(DeliveryBegin::PayloadMismatch)
        );
        assert_eq!(refusal(&r, "other", 501), None);
    }

    #[test]
    fn backoff_stays_within_its_bound() {
        let retry = ConflictRetry {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            max_elapsed: Duration::from_secs(1),
        };
        for k in 1..50 {
            assert!(retry.delay(k) <= Duration::from_millis(40));
        }
        assert!(retry.delay(1) <= Duration::from_millis(10));
    }
}

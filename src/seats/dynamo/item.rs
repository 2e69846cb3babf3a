//! The single-table item layout and the item ↔ domain mapping of the DynamoDB
//! ledger.
//!
//! Keys are composite, `pk` (S) + `sk` (S):
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | pool counter | `POOL#<pool>` | `COUNTER` | `used` N, `seats` N (last capacity seen), `updated_at` N |
//! | claim | `POOL#<pool>` | `CLAIM#<person>` | `claim_id`, `state` (`RESERVED`/`ACTIVE`), `hold`? (`IN_FLIGHT`/`APPROVAL`/`QUEUED`/`UNKNOWN` while RESERVED; absent on claims reserved before holds existed: in flight), `username`?, `delivery`, `reserved_at`, `updated_at`, `activated_at`? (first activation; absent on claims activated before it was recorded: read `updated_at`), `extended_until`?, `warned_at`?, `pool`, `person` |
//! | delivery | `DELIVERY#<source>#<id>` | `DELIVERY` | `status` (`IN_PROGRESS`/`COMPLETE`), `payload_hash`, `lease_until`, `attempt`? (the run of the delivery holding the lease; absent on records written before attempts were: no attempt's), `outcome`?, `retain_until`?, `ttl` (epoch seconds) |
//! | failed sign-up | `POOL#<pool>` | `FAILED#<person>` | `delivery`, `username`?, `code`, `message`, `at`, `retain_until`, `ttl` (epoch seconds), `pool`, `person` |
//! | sign-up request | `REQ#<id>` | `REQUEST` | the request's fields (below), `rev` N, `ttl`? (epoch seconds, while closed) |
//! | request listing | `POOL#<pool>` | `RQ#<STATE>#<created_at, 13 digits>#<id>` | a copy of the request item's attributes (`ttl` included) |
//! | open-request guard | `POOL#<pool>` | `OPEN#<person>` | `request_id`, `pool`, `person`, `created_at` |
//! | audit event | `AUDIT#<yyyy-mm-dd, UTC day of at>` | `<at, 13 digits>#<16 random hex digits>` | `at`, `actor`, `action`, `pool`?, `person`?, `detail` |
//! | audit day | `AUDIT_DAYS` | `<yyyy-mm-dd>` | none: marks a day that has audit events |
//! | sign-in window | `SIGNIN#<window start, epoch ms>` | `COUNTS` | `total` N (every address's attempts), `addr:<address>` N (one per client address), `until` N (the window's end), `ttl` (epoch seconds of `until`) |
//! | alert level | `ALERT#<subject: pool:<name>, usertype:<id> or reconciliation>` | `LEVEL` | `level`? N (absent once the subject fell back under every threshold), `subject`, `updated_at` |
//!
//! A pool's counter, claims, failed sign-ups, request listings and open
//! guards share a partition, so one Query per sort-key prefix (`CLAIM#`,
//! `FAILED#`, `RQ#<STATE>#`) lists the claims, the failures or the requests
//! in one state; no prefix is a prefix of another, of `COUNTER` or of
//! `OPEN#`. Times are epoch milliseconds except `ttl`, which DynamoDB's TTL
//! feature needs in seconds.
//!
//! Sign-up requests: the item under `REQ#<id>` is the request itself
//! (`id`, `pool`, `person`, `delivery`, `payload`, `state`, `claim_id`?,
//! `created_at`, `expires_at`, `decided_at`?, `decided_by`?, `reason`?,
//! `retain_until`?) with a revision `rev` raised by every transition. The
//! listing item and the guard (present exactly while the request is PENDING
//! or WAITLISTED) are written in the same `TransactWriteItems` as the
//! request, so a listing never disagrees with its request. Sort keys hold
//! times as 13 zero-padded digits (negative times count as 0), which sort as
//! numbers until the year 2286.
//!
//! While a request is closed, its item and its listing item carry
//! `retain_until` and `ttl` (its epoch seconds), so DynamoDB deletes both,
//! with the applicant's personal data, within about two days after that
//! time. The two deletions are not one transaction: for that while, one may
//! be gone before the other, which only matters for a request nobody
//! decides on any more. An open request carries neither attribute (every
//! write puts the whole item, so reopening drops them).
//!
//! Sign-in windows: one item per window of the administrator's sign-in
//! throttle, raised by one conditional `UpdateItem` (`ADD`) per attempt, so
//! the address's count and the total move together. No other partition
//! key begins with `SIGNIN#`, and the item's own attributes are the counts:
//! `total`, `until`, `ttl`, `pk`, `sk` never begin with `addr:`. The item
//! stays small: once `total` reaches the global limit nothing is added, so
//! it holds at most that many addresses. DynamoDB's TTL deletes it after
//! the window; nothing reads a past window.
//!
//! Alert levels: one item per subject of the usage alerts, moved by one
//! conditional `UpdateItem` on the `level` read (`attribute_not_exists`
//! for none, which a missing item meets), so of two runs deciding the same
//! crossing one writes and sends. No other partition key begins with
//! `ALERT#`; subjects are pool names and checked user type ids, short
//! enough for a key. The items are never deleted (one per pool and user
//! type) and carry no `ttl`.
//!
//! Audit events: one partition per UTC day; the random suffix keeps events
//! with the same `at` apart. `AUDIT_DAYS` lists the days that have events,
//! so reading the trail from a time on needs no Scan and no clock: Query the
//! days from that day on, then each day's partition in order.
//!
//! This module only builds and reads items; it does no I/O, and a malformed
//! item becomes [`LedgerError::Corrupt`], never a panic.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::{AlertSubject, ClaimKey, DeliveryKey, PoolId, RequestState, UnixMillis};
use crate::seats::audit::AuditEvent;
use crate::seats::claims::{Claim, ClaimState, Hold};
use crate::seats::deliveries::{DeliveryStatus, StoredDelivery};
use crate::seats::error::LedgerError;
use crate::seats::failures::FailedSignup;
use crate::seats::requests::SignupRecord;

/// A raw DynamoDB item.
pub(super) type Item = HashMap<String, AttributeValue>;

/// Partition key attribute.
pub(super) const PK: &str = "pk";
/// Sort key attribute.
pub(super) const SK: &str = "sk";
/// Sort key of a pool's counter.
pub(super) const COUNTER_SK: &str = "COUNTER";
/// Sort key prefix of claims.
pub(super) const CLAIM_PREFIX: &str = "CLAIM#";
/// Sort key prefix of failed sign-ups.
pub(super) const FAILED_PREFIX: &str = "FAILED#";
/// Sort key of a delivery record.
pub(super) const DELIVERY_SK: &str = "DELIVERY";
/// Sort key of a sign-up request's own item.
pub(super) const REQUEST_SK: &str = "REQUEST";
/// Sort key prefix of a person's open-request guard.
pub(super) const OPEN_PREFIX: &str = "OPEN#";
/// Sort key prefix of request listing items.
pub(super) const REQUEST_INDEX_PREFIX: &str = "RQ#";
/// Partition of the days that have audit events.
pub(super) const AUDIT_DAYS_PK: &str = "AUDIT_DAYS";
/// Sort key of a sign-in window's counts.
pub(super) const SIGN_IN_SK: &str = "COUNTS";
/// The attribute of a sign-in window counting every address's attempts.
pub(super) const SIGN_IN_TOTAL: &str = "total";
/// Sort key of an alert level.
pub(super) const ALERT_LEVEL_SK: &str = "LEVEL";
/// The attribute of an alert level item holding the level.
pub(super) const ALERT_LEVEL: &str = "level";

/// Stored delivery status: a lease is held.
pub(super) const IN_PROGRESS: &str = "IN_PROGRESS";
/// Stored delivery status: handled, outcome kept.
pub(super) const COMPLETE: &str = "COMPLETE";

/// `pk` of a pool's counter and claims.
pub(super) fn pool_pk(pool: &PoolId) -> String {
    format!("POOL#{pool}")
}

/// `sk` of a person's claim.
pub(super) fn claim_sk(person: &str) -> String {
    format!("{CLAIM_PREFIX}{person}")
}

/// `sk` of a person's failed sign-up.
pub(super) fn failed_sk(person: &str) -> String {
    format!("{FAILED_PREFIX}{person}")
}

/// `pk` of a delivery record. Sources are fixed adapter names without `#`,
/// so the key is unambiguous even when the sender's id contains `#`.
pub(super) fn delivery_pk(key: &DeliveryKey) -> String {
    format!("DELIVERY#{}#{}", key.source, key.id)
}

/// A time as 13 zero-padded digits for a sort key (negative times as 0), so
/// that sort keys order like the times.
pub(super) fn sort_millis(at: UnixMillis) -> String {
    format!("{:013}", at.max(0))
}

/// `pk` of a sign-up request's own item.
pub(super) fn request_pk(id: &str) -> String {
    format!("REQ#{id}")
}

/// The key of a sign-up request's own item.
pub(super) fn request_key(id: &str) -> Item {
    key(request_pk(id), REQUEST_SK.to_string())
}

/// The key of a person's open-request guard.
pub(super) fn open_key(key_: &ClaimKey) -> Item {
    key(pool_pk(&key_.pool), format!("{OPEN_PREFIX}{}", key_.person))
}

/// Sort key prefix of a pool's listing items in `state`.
pub(super) fn request_index_prefix(state: RequestState) -> String {
    format!("{REQUEST_INDEX_PREFIX}{}#", state.as_str())
}

/// The key of a request's listing item while it is in `state`.
pub(super) fn request_index_key(r: &SignupRecord, state: RequestState) -> Item {
    key(
        pool_pk(&r.key.pool),
        format!(
            "{}{}#{}",
            request_index_prefix(state),
            sort_millis(r.created_at),
            r.id
        ),
    )
}

/// The UTC day (`yyyy-mm-dd`) of a time (negative times count as 0).
pub(super) fn audit_day(at: UnixMillis) -> String {
    crate::domain::date::Day::of(at.max(0)).to_string()
}

/// `pk` of a day's audit events.
pub(super) fn audit_pk(day: &str) -> String {
    format!("AUDIT#{day}")
}

/// The key of a day's marker in [`AUDIT_DAYS_PK`].
pub(super) fn audit_day_key(day: &str) -> Item {
    key(AUDIT_DAYS_PK.to_string(), day.to_string())
}

/// The day of a marker item (its sort key).
pub(super) fn audit_day_of_marker(item: &Item) -> Result<&str, LedgerError> {
    item.req_s(SK)
}

/// The key of a pool's counter.
pub(super) fn counter_key(pool: &PoolId) -> Item {
    key(pool_pk(pool), COUNTER_SK.to_string())
}

/// The key of a claim.
pub(super) fn claim_key(key_: &ClaimKey) -> Item {
    key(pool_pk(&key_.pool), claim_sk(&key_.person))
}

/// The key of a delivery record.
pub(super) fn delivery_key(key_: &DeliveryKey) -> Item {
    key(delivery_pk(key_), DELIVERY_SK.to_string())
}

/// The key of a sign-in window's counts.
pub(super) fn sign_in_key(window: UnixMillis) -> Item {
    key(format!("SIGNIN#{window}"), SIGN_IN_SK.to_string())
}

/// The attribute of a sign-in window counting `address`'s attempts.
pub(super) fn sign_in_address(address: &str) -> String {
    format!("addr:{address}")
}

/// A count of a sign-in window item (0 when absent).
pub(super) fn sign_in_count(item: &Item, name: &str) -> Result<u32, LedgerError> {
    Ok(item.opt_n(name)?.unwrap_or(0))
}

/// The key of a subject's alert level.
pub(super) fn alert_level_key(subject: &AlertSubject) -> Item {
    key(
        format!("ALERT#{}", subject.key()),
        ALERT_LEVEL_SK.to_string(),
    )
}

/// The level of an alert level item (`None` when it has none).
pub(super) fn alert_level_of(item: &Item) -> Result<Option<u8>, LedgerError> {
    item.opt_n(ALERT_LEVEL)
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// A string attribute.
pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub(super) fn n(v: impl Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Epoch seconds for the TTL attribute, rounded up so DynamoDB never deletes
/// an item before the millisecond time it stands for.
pub(super) fn ttl_seconds(millis: UnixMillis) -> i64 {
    millis.div_euclid(1000) + i64::from(millis.rem_euclid(1000) != 0)
}

/// Typed reads of attributes; a missing or mistyped attribute is corrupt data.
trait Attrs {
    fn opt_s(&self, name: &str) -> Result<Option<&str>, LedgerError>;
    fn opt_n<T: FromStr>(&self, name: &str) -> Result<Option<T>, LedgerError>;

    fn req_s(&self, name: &str) -> Result<&str, LedgerError> {
        self.opt_s(name)?.ok_or_else(|| missing(name))
    }
    fn req_n<T: FromStr>(&self, name: &str) -> Result<T, LedgerError> {
        self.opt_n(name)?.ok_or_else(|| missing(name))
    }
}

fn missing(name: &str) -> LedgerError {
    LedgerError::Corrupt(format!("item lacks attribute `{name}`"))
}

impl Attrs for Item {
    fn opt_s(&self, name: &str) -> Result<Option<&str>, LedgerError> {
        match self.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v)),
            Some(_) => Err(LedgerError::Corrupt(format!(
                "attribute `{name}` is not a string"
            ))),
        }
    }

    fn opt_n<T: FromStr>(&self, name: &str) -> Result<Option<T>, LedgerError> {
        match self.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v
                .parse()
                .map(Some)
                .map_err(|_| LedgerError::Corrupt(format!("attribute `{name}` is out of range"))),
            Some(_) => Err(LedgerError::Corrupt(format!(
                "attribute `{name}` is not a number"
            ))),
        }
    }
}

/// A stored claim item, read with `Claim::try_from(ClaimItem(&item))`.
pub(super) struct ClaimItem<'a>(pub &'a Item);

impl TryFrom<ClaimItem<'_>> for Claim {
    type Error = LedgerError;

    fn try_from(ClaimItem(item): ClaimItem<'_>) -> Result<Self, Self::Error> {
        let pool = PoolId::parse(item.req_s("pool")?)
            .map_err(|_| LedgerError::Corrupt("claim has an invalid pool name".into()))?;
        let state_raw = item.req_s("state")?;
        let state = ClaimState::parse(state_raw)
            .ok_or_else(|| LedgerError::Corrupt("claim has an unknown state".into()))?;
        Ok(Claim {
            key: ClaimKey {
                pool,
                person: item.req_s("person")?.to_string(),
            },
            claim_id: item.req_s("claim_id")?.to_string(),
            state,
            username: item.opt_s("username")?.map(str::to_string),
            delivery: item.req_s("delivery")?.to_string(),
            reserved_at: item.req_n("reserved_at")?,
            updated_at: item.req_n("updated_at")?,
            hold: match item.opt_s("hold")? {
                Some(h) => Some(
                    Hold::parse(h)
                        .ok_or_else(|| LedgerError::Corrupt("claim has an unknown hold".into()))?,
                ),
                None => None,
            },
            activated_at: item.opt_n("activated_at")?,
            extended_until: item.opt_n("extended_until")?,
            warned_at: item.opt_n("warned_at")?,
        })
    }
}

/// A claim as a full item (keys included), ready to put.
pub(super) struct ClaimRecord(pub Item);

impl From<&Claim> for ClaimRecord {
    fn from(claim: &Claim) -> Self {
        let mut item = claim_key(&claim.key);
        item.insert("claim_id".into(), s(&claim.claim_id));
        item.insert("state".into(), s(claim.state.as_str()));
        if let Some(username) = &claim.username {
            item.insert("username".into(), s(username));
        }
        item.insert("delivery".into(), s(&claim.delivery));
        if let Some(hold) = claim.hold {
            item.insert("hold".into(), s(hold.as_str()));
        }
        item.insert("reserved_at".into(), n(claim.reserved_at));
        item.insert("updated_at".into(), n(claim.updated_at));
        for (name, value) in [
            ("activated_at", claim.activated_at),
            ("extended_until", claim.extended_until),
            ("warned_at", claim.warned_at),
        ] {
            if let Some(v) = value {
                item.insert(name.into(), n(v));
            }
        }
        item.insert("pool".into(), s(claim.key.pool.as_str()));
        item.insert("person".into(), s(&claim.key.person));
        ClaimRecord(item)
    }
}

/// A stored failed sign-up, read with
/// `FailedSignup::try_from(FailureItem(&item))`.
pub(super) struct FailureItem<'a>(pub &'a Item);

impl TryFrom<FailureItem<'_>> for FailedSignup {
    type Error = LedgerError;

    fn try_from(FailureItem(item): FailureItem<'_>) -> Result<Self, Self::Error> {
        let pool = PoolId::parse(item.req_s("pool")?)
            .map_err(|_| LedgerError::Corrupt("failure has an invalid pool name".into()))?;
        Ok(FailedSignup {
            key: ClaimKey {
                pool,
                person: item.req_s("person")?.to_string(),
            },
            delivery: item.req_s("delivery")?.to_string(),
            username: item.opt_s("username")?.map(str::to_string),
            code: item.req_s("code")?.to_string(),
            message: item.req_s("message")?.to_string(),
            at: item.req_n("at")?,
        })
    }
}

/// `retain_until` of a failure item.
pub(super) fn failure_retain_until(item: &Item) -> Result<UnixMillis, LedgerError> {
    item.req_n("retain_until")
}

/// A failed sign-up as a full item (keys, `retain_until` and `ttl`
/// included), ready to put.
pub(super) struct FailureRecord(pub Item);

impl FailureRecord {
    pub(super) fn new(failure: &FailedSignup, retain_until: UnixMillis) -> Self {
        let mut item = key(pool_pk(&failure.key.pool), failed_sk(&failure.key.person));
        item.insert("delivery".into(), s(&failure.delivery));
        if let Some(username) = &failure.username {
            item.insert("username".into(), s(username));
        }
        item.insert("code".into(), s(&failure.code));
        item.insert("message".into(), s(&failure.message));
        item.insert("at".into(), n(failure.at));
        item.insert("retain_until".into(), n(retain_until));
        item.insert("ttl".into(), n(ttl_seconds(retain_until)));
        item.insert("pool".into(), s(failure.key.pool.as_str()));
        item.insert("person".into(), s(&failure.key.person));
        FailureRecord(item)
    }
}

/// A stored request (its own item or a listing item), read with
/// `SignupRecord::try_from(RequestItem(&item))`.
pub(super) struct RequestItem<'a>(pub &'a Item);

impl TryFrom<RequestItem<'_>> for SignupRecord {
    type Error = LedgerError;

    fn try_from(RequestItem(item): RequestItem<'_>) -> Result<Self, Self::Error> {
        let pool = PoolId::parse(item.req_s("pool")?)
            .map_err(|_| LedgerError::Corrupt("request has an invalid pool name".into()))?;
        let state = RequestState::parse(item.req_s("state")?)
            .ok_or_else(|| LedgerError::Corrupt("request has an unknown state".into()))?;
        Ok(SignupRecord {
            id: item.req_s("id")?.to_string(),
            key: ClaimKey {
                pool,
                person: item.req_s("person")?.to_string(),
            },
            delivery: item.req_s("delivery")?.to_string(),
            payload: item.req_s("payload")?.to_string(),
            state,
            claim_id: item.opt_s("claim_id")?.map(str::to_string),
            created_at: item.req_n("created_at")?,
            expires_at: item.req_n("expires_at")?,
            decided_at: item.opt_n("decided_at")?,
            decided_by: item.opt_s("decided_by")?.map(str::to_string),
            reason: item.opt_s("reason")?.map(str::to_string),
            retain_until: item.opt_n("retain_until")?,
        })
    }
}

/// `rev` of a request's own item: how many transitions it went through.
pub(super) fn request_rev(item: &Item) -> Result<u64, LedgerError> {
    item.req_n("rev")
}

/// `item` (a key) with the request's attributes and revision `rev`.
fn request_item(r: &SignupRecord, rev: u64, mut item: Item) -> Item {
    item.insert("id".into(), s(&r.id));
    item.insert("pool".into(), s(r.key.pool.as_str()));
    item.insert("person".into(), s(&r.key.person));
    item.insert("delivery".into(), s(&r.delivery));
    item.insert("payload".into(), s(&r.payload));
    item.insert("state".into(), s(r.state.as_str()));
    if let Some(claim_id) = &r.claim_id {
        item.insert("claim_id".into(), s(claim_id));
    }
    item.insert("created_at".into(), n(r.created_at));
    item.insert("expires_at".into(), n(r.expires_at));
    if let Some(at) = r.decided_at {
        item.insert("decided_at".into(), n(at));
    }
    if let Some(by) = &r.decided_by {
        item.insert("decided_by".into(), s(by));
    }
    if let Some(reason) = &r.reason {
        item.insert("reason".into(), s(reason));
    }
    if let Some(retain_until) = r.retain_until {
        item.insert("retain_until".into(), n(retain_until));
        item.insert("ttl".into(), n(ttl_seconds(retain_until)));
    }
    item.insert("rev".into(), n(rev));
    item
}

/// A request's own item (keys included) at revision `rev`, ready to put.
pub(super) fn request_record(r: &SignupRecord, rev: u64) -> Item {
    request_item(r, rev, request_key(&r.id))
}

/// A request's listing item for its current state, ready to put.
pub(super) fn request_index_record(r: &SignupRecord, rev: u64) -> Item {
    request_item(r, rev, request_index_key(r, r.state))
}

/// The open-request guard of `r`, ready to put.
pub(super) fn open_record(r: &SignupRecord) -> Item {
    let mut item = open_key(&r.key);
    item.insert("request_id".into(), s(&r.id));
    item.insert("pool".into(), s(r.key.pool.as_str()));
    item.insert("person".into(), s(&r.key.person));
    item.insert("created_at".into(), n(r.created_at));
    item
}

/// `request_id` of an open-request guard.
pub(super) fn open_request_id(item: &Item) -> Result<&str, LedgerError> {
    item.req_s("request_id")
}

/// An audit event as a full item (keys included), `suffix` telling apart
/// events with the same `at`.
pub(super) fn audit_record(e: &AuditEvent, suffix: &str) -> Item {
    let mut item = key(
        audit_pk(&audit_day(e.at)),
        format!("{}#{suffix}", sort_millis(e.at)),
    );
    item.insert("at".into(), n(e.at));
    item.insert("actor".into(), s(&e.actor));
    item.insert("action".into(), s(&e.action));
    if let Some(pool) = &e.pool {
        item.insert("pool".into(), s(pool));
    }
    if let Some(person) = &e.person {
        item.insert("person".into(), s(person));
    }
    item.insert("detail".into(), s(&e.detail));
    item
}

/// A stored audit event, read with `AuditEvent::try_from(AuditItem(&item))`.
pub(super) struct AuditItem<'a>(pub &'a Item);

impl TryFrom<AuditItem<'_>> for AuditEvent {
    type Error = LedgerError;

    fn try_from(AuditItem(item): AuditItem<'_>) -> Result<Self, Self::Error> {
        Ok(AuditEvent {
            at: item.req_n("at")?,
            actor: item.req_s("actor")?.to_string(),
            action: item.req_s("action")?.to_string(),
            pool: item.opt_s("pool")?.map(str::to_string),
            person: item.opt_s("person")?.map(str::to_string),
            detail: item.req_s("detail")?.to_string(),
        })
    }
}

/// `used` of a counter item.
pub(super) fn counter_used(item: &Item) -> Result<u32, LedgerError> {
    Ok(item.opt_n("used")?.unwrap_or(0))
}

/// A stored delivery record, read with
/// `StoredDelivery::try_from(DeliveryItem(&item))`.
pub(super) struct DeliveryItem<'a>(pub &'a Item);

impl TryFrom<DeliveryItem<'_>> for StoredDelivery {
    type Error = LedgerError;

    fn try_from(DeliveryItem(item): DeliveryItem<'_>) -> Result<Self, Self::Error> {
        // The outcome and its retention, for a completed delivery.
        let complete = match item.req_s("status")? {
            IN_PROGRESS => None,
            COMPLETE => Some((
                item.req_s("outcome")?.to_string(),
                item.req_n("retain_until")?,
            )),
            _ => {
                return Err(LedgerError::Corrupt(
                    "delivery record has an unknown status".into(),
                ));
            }
        };
        let payload_hash = item.req_s("payload_hash")?.to_string();
        // Why required whatever the status: every record is put IN_PROGRESS
        // with its lease and finishing keeps it, so a record without one was
        // not written by this code.
        let lease_until = item.req_n("lease_until")?;
        let status = match complete {
            Some((outcome, retain_until)) => DeliveryStatus::Complete {
                outcome,
                retain_until,
            },
            None => DeliveryStatus::InProgress { lease_until },
        };
        Ok(StoredDelivery {
            payload_hash,
            // Absent on records put before attempts were stored: no
            // attempt holds them.
            attempt: item.opt_s("attempt")?.map(str::to_string),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_claim(username: Option<&str>) -> Claim {
        Claim {
            key: ClaimKey {
                pool: PoolId::parse("acme").unwrap(),
                person: "ana#x@example.org".into(),
            },
            claim_id: "c-1".into(),
            state: ClaimState::Active,
            username: username.map(str::to_string),
            delivery: "standard:d-1".into(),
            reserved_at: 1_000,
            updated_at: 2_000,
            hold: None,
            activated_at: Some(1_500),
            extended_until: Some(9_000),
            warned_at: None,
        }
    }

    #[test]
    fn a_claim_survives_the_round_trip_through_an_item() {
        for username in [None, Some("ana_acme")] {
            let claim = sample_claim(username);
            let ClaimRecord(item) = ClaimRecord::from(&claim);
            assert_eq!(item.get(PK), Some(&s("POOL#acme")));
            assert_eq!(item.get(SK), Some(&s("CLAIM#ana#x@example.org")));
            assert_eq!(Claim::try_from(ClaimItem(&item)).unwrap(), claim);
        }
    }

    #[test]
    fn a_claim_item_with_a_mistyped_or_missing_attribute_is_corrupt() {
        let ClaimRecord(mut item) = ClaimRecord::from(&sample_claim(None));
        item.insert("reserved_at".into(), s("yesterday"));
        assert!(matches!(
            Claim::try_from(ClaimItem(&item)),
            Err(LedgerError::Corrupt(_))
        ));
        item.remove("reserved_at");
        assert!(matches!(
            Claim::try_from(ClaimItem(&item)),
            Err(LedgerError::Corrupt(_))
        ));
    }

    #[test]
    fn a_failure_survives_the_round_trip_through_an_item_and_carries_its_ttl() {
        for username in [None, Some("ana_acme")] {
            let failure = FailedSignup {
                key: ClaimKey {
                    pool: PoolId::parse("acme").unwrap(),
                    person: "ana#x@example.org".into(),
                },
                delivery: "okta:e-1".into(),
                username: username.map(str::to_string),
                code: "portal_refused".into(),
                message: "the portal refused the member".into(),
                at: 1_000,
            };
            let FailureRecord(item) = FailureRecord::new(&failure, 86_400_001);
            assert_eq!(item.get(PK), Some(&s("POOL#acme")));
            assert_eq!(item.get(SK), Some(&s("FAILED#ana#x@example.org")));
            assert_eq!(item.get("ttl"), Some(&n(86_401)));
            assert_eq!(failure_retain_until(&item).unwrap(), 86_400_001);
            assert_eq!(FailedSignup::try_from(FailureItem(&item)).unwrap(), failure);
        }
    }

    #[test]
    fn a_failure_item_without_its_code_is_corrupt() {
        let failure = FailedSignup {
            key: ClaimKey {
                pool: PoolId::parse("acme").unwrap(),
                person: "ana@example.org".into(),
            },
            delivery: "okta:e-1".into(),
            username: None,
            code: "portal_unavailable".into(),
            message: "m".into(),
            at: 1,
        };
        let FailureRecord(mut item) = FailureRecord::new(&failure, 2);
        item.remove("code");
        assert!(matches!(
            FailedSignup::try_from(FailureItem(&item)),
            Err(LedgerError::Corrupt(_))
        ));
    }

    fn sample_request(claim_id: Option<&str>, decided: bool) -> SignupRecord {
        SignupRecord {
            id: "0a1b2c".into(),
            key: ClaimKey {
                pool: PoolId::parse("acme").unwrap(),
                person: "ana#x@example.org".into(),
            },
            delivery: "okta:e-1".into(),
            payload: "{\"role\":\"viewer\"}".into(),
            state: if decided {
                RequestState::Approved
            } else {
                RequestState::Waitlisted
            },
            claim_id: claim_id.map(str::to_string),
            created_at: 1_700_000_000_123,
            expires_at: 1_700_600_000_000,
            decided_at: decided.then_some(1_700_000_100_000),
            decided_by: decided.then(|| "admin:ana".to_string()),
            reason: decided.then(String::new),
            retain_until: decided.then_some(1_715_552_100_001),
        }
    }

    #[test]
    fn a_request_survives_the_round_trip_through_its_item_and_its_listing_item() {
        for (claim_id, decided) in [(None, false), (Some("c-1"), true)] {
            let r = sample_request(claim_id, decided);
            let own = request_record(&r, 3);
            assert_eq!(own.get(PK), Some(&s("REQ#0a1b2c")));
            assert_eq!(own.get(SK), Some(&s("REQUEST")));
            assert_eq!(request_rev(&own).unwrap(), 3);
            assert_eq!(SignupRecord::try_from(RequestItem(&own)).unwrap(), r);
            let listed = request_index_record(&r, 3);
            assert_eq!(listed.get(PK), Some(&s("POOL#acme")));
            let sk = format!("RQ#{}#1700000000123#0a1b2c", r.state.as_str());
            assert_eq!(listed.get(SK), Some(&s(sk)));
            assert_eq!(SignupRecord::try_from(RequestItem(&listed)).unwrap(), r);
        }
    }

    #[test]
    fn a_closed_request_and_its_listing_item_carry_a_ttl_and_an_open_one_does_not() {
        let closed = sample_request(Some("c-1"), true);
        for item in [request_record(&closed, 1), request_index_record(&closed, 1)] {
            assert_eq!(item.get("retain_until"), Some(&n(1_715_552_100_001_i64)));
            // Seconds, rounded up: never deleted before the millisecond.
            assert_eq!(item.get("ttl"), Some(&n(1_715_552_101_i64)));
        }
        // Reopened: the same request, open again, without a retention. Every
        // write puts the whole item, so the stored `ttl` goes with it.
        let reopened = SignupRecord {
            state: RequestState::Pending,
            retain_until: None,
            ..closed
        };
        for item in [
            request_record(&reopened, 2),
            request_index_record(&reopened, 2),
        ] {
            assert_eq!(item.get("ttl"), None);
            assert_eq!(item.get("retain_until"), None);
            assert_eq!(
                SignupRecord::try_from(RequestItem(&item)).unwrap(),
                reopened
            );
        }
    }

    #[test]
    fn a_request_item_with_an_unknown_state_is_corrupt() {
        let mut item = request_record(&sample_request(None, false), 0);
        item.insert("state".into(), s("LOST"));
        assert!(matches!(
            SignupRecord::try_from(RequestItem(&item)),
            Err(LedgerError::Corrupt(_))
        ));
    }

    #[test]
    fn the_guard_names_its_request_and_no_listing_prefix_overlaps_another() {
        let r = sample_request(None, false);
        let guard = open_record(&r);
        assert_eq!(guard.get(SK), Some(&s("OPEN#ana#x@example.org")));
        assert_eq!(open_request_id(&guard).unwrap(), "0a1b2c");
        let prefixes: Vec<String> = RequestState::ALL
            .iter()
            .map(|st| request_index_prefix(*st))
            .chain([CLAIM_PREFIX, FAILED_PREFIX, OPEN_PREFIX, COUNTER_SK].map(String::from))
            .collect();
        for a in &prefixes {
            for b in &prefixes {
                assert!(a == b || !b.starts_with(a.as_str()), "{a} prefixes {b}");
            }
        }
    }

    #[test]
    fn sort_keys_hold_times_as_13_digits() {
        assert_eq!(sort_millis(5), "0000000000005");
        assert_eq!(sort_millis(-5), "0000000000000");
        assert_eq!(sort_millis(4_102_444_800_000), "4102444800000");
        assert!(sort_millis(999) < sort_millis(1_000));
    }

    #[test]
    fn audit_days_are_utc_calendar_days() {
        assert_eq!(audit_day(0), "1970-01-01");
        assert_eq!(audit_day(86_399_999), "1970-01-01");
        assert_eq!(audit_day(86_400_000), "1970-01-02");
        assert_eq!(audit_day(951_782_400_000), "2000-02-29");
        assert_eq!(audit_day(1_709_251_199_999), "2024-02-29");
        assert_eq!(audit_day(1_735_689_600_000), "2025-01-01");
        assert_eq!(audit_day(4_102_444_800_000), "2100-01-01");
        assert_eq!(audit_day(4_107_542_400_000), "2100-03-01");
        assert_eq!(audit_day(-1), "1970-01-01");
    }

    #[test]
    fn an_audit_event_survives_the_round_trip_through_an_item() {
        for (pool, person) in [(None, None), (Some("acme"), Some("ana@example.org"))] {
            let e = AuditEvent {
                at: 4_102_444_800_007,
                actor: "admin:ana".into(),
                action: "request.approved".into(),
                pool: pool.map(str::to_string),
                person: person.map(str::to_string),
                detail: "looks fine".into(),
            };
            let item = audit_record(&e, "00ff");
            assert_eq!(item.get(PK), Some(&s("AUDIT#2100-01-01")));
            assert_eq!(item.get(SK), Some(&s("4102444800007#00ff")));
            assert_eq!(AuditEvent::try_from(AuditItem(&item)).unwrap(), e);
        }
    }

    #[test]
    fn ttl_is_rounded_up_to_whole_seconds() {
        assert_eq!(ttl_seconds(5_000), 5);
        assert_eq!(ttl_seconds(5_001), 6);
        assert_eq!(ttl_seconds(-1), 0);
    }

    #[test]
    fn a_delivery_record_reads_its_status() {
        let mut item = delivery_key(&DeliveryKey {
            source: "standard".into(),
            id: "a#b".into(),
        });
        assert_eq!(item.get(PK), Some(&s("DELIVERY#standard#a#b")));
        item.insert("status".into(), s(COMPLETE));
        item.insert("payload_hash".into(), s("h"));
        item.insert("lease_until".into(), n(10));
        item.insert("outcome".into(), s("{}"));
        item.insert("retain_until".into(), n(99));
        let record = StoredDelivery::try_from(DeliveryItem(&item)).unwrap();
        assert_eq!(
            record.status,
            DeliveryStatus::Complete {
                outcome: "{}".into(),
                retain_until: 99
            }
        );
        assert_eq!(record.attempt, None);
        item.insert("attempt".into(), s("a1"));
        let record = StoredDelivery::try_from(DeliveryItem(&item)).unwrap();
        assert_eq!(record.attempt.as_deref(), Some("a1"));
        item.insert("status".into(), s("LOST"));
        assert!(StoredDelivery::try_from(DeliveryItem(&item)).is_err());
    }
}

//! The single-table item layout and the item ↔ domain mapping of the DynamoDB
//! ledger.
//!
//! Keys are composite, `pk` (S) + `sk` (S):
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | pool counter | `POOL#<pool>` | `COUNTER` | `used` N, `seats` N (last capacity seen), `updated_at` N |
//! | claim | `POOL#<pool>` | `CLAIM#<person>` | `claim_id`, `state` (`RESERVED`/`ACTIVE`), `username`?, `delivery`, `reserved_at`, `updated_at`, `pool`, `person` |
//! | delivery | `DELIVERY#<source>#<id>` | `DELIVERY` | `status` (`IN_PROGRESS`/`COMPLETE`), `payload_hash`, `lease_until`, `outcome`?, `retain_until`?, `ttl` (epoch seconds) |
//! | failed sign-up | `POOL#<pool>` | `FAILED#<person>` | `delivery`, `username`?, `code`, `message`, `at`, `retain_until`, `ttl` (epoch seconds), `pool`, `person` |
//!
//! A pool's counter, claims and failed sign-ups share a partition, so one
//! Query per sort-key prefix (`CLAIM#`, `FAILED#`) lists the claims or the
//! failures; neither prefix is a prefix of the other or of `COUNTER`. Times are epoch milliseconds except `ttl`, which DynamoDB's TTL
//! feature needs in seconds. This module only builds and reads items; it does
//! no I/O, and a malformed item becomes [`LedgerError::Corrupt`], never a
//! panic.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::{DeliveryKey, PoolId, UnixMillis};
use crate::seats::{Claim, ClaimKey, ClaimState, FailedSignup, LedgerError};

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
        item.insert("reserved_at".into(), n(claim.reserved_at));
        item.insert("updated_at".into(), n(claim.updated_at));
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

/// `used` of a counter item.
pub(super) fn counter_used(item: &Item) -> Result<u32, LedgerError> {
    Ok(item.opt_n("used")?.unwrap_or(0))
}

/// Where a stored delivery is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DeliveryStatus {
    /// A lease is held until `lease_until` (inclusive).
    InProgress,
    /// Handled; the outcome is kept until `retain_until` (inclusive).
    Complete {
        outcome: String,
        retain_until: UnixMillis,
    },
}

/// A stored delivery record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DeliveryRecord {
    pub status: DeliveryStatus,
    pub payload_hash: String,
    pub lease_until: UnixMillis,
}

impl TryFrom<&Item> for DeliveryRecord {
    type Error = LedgerError;

    fn try_from(item: &Item) -> Result<Self, Self::Error> {
        let status = match item.req_s("status")? {
            IN_PROGRESS => DeliveryStatus::InProgress,
            COMPLETE => DeliveryStatus::Complete {
                outcome: item.req_s("outcome")?.to_string(),
                retain_until: item.req_n("retain_until")?,
            },
            _ => {
                return Err(LedgerError::Corrupt(
                    "delivery record has an unknown status".into(),
                ));
            }
        };
        Ok(DeliveryRecord {
            status,
            payload_hash: item.req_s("payload_hash")?.to_string(),
            lease_until: item.req_n("lease_until")?,
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
        let record = DeliveryRecord::try_from(&item).unwrap();
        assert_eq!(
            record.status,
            DeliveryStatus::Complete {
                outcome: "{}".into(),
                retain_until: 99
            }
        );
        item.insert("status".into(), s("LOST"));
        assert!(DeliveryRecord::try_from(&item).is_err());
    }
}

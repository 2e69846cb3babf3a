//! [`MemoryLedger`]: the seat ledger kept in process memory, for the
//! workflow's unit tests, the local server and benchmarks.
//!
//! It keeps exactly the semantics of the module contract in [`crate::seats`]
//! (it passes the same contract suite as the DynamoDB adapter), with every
//! operation done under one `std::sync::Mutex`. One struct implements the
//! eight ports and the batch, one `impl` block each, in this one file: every
//! block is a few map operations on the shared `State`. It must stay small and obviously
//! correct; it must not persist anything, and the lock is never held across
//! an `.await` (no method awaits while holding it).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use crate::domain::{AlertSubject, ClaimKey, DeliveryKey, PoolId, RequestState, UnixMillis};
use crate::seats::alert_levels::AlertLevels;
use crate::seats::audit::{AuditEvent, AuditLog};
use crate::seats::batch::{CloseRequest, LeaseRequest, Opened, SignupBatch};
use crate::seats::claims::{
    Change, Claim, ClaimStore, Expect, PoolUsage, Rekey, Reservation, ReserveRequest, Transition,
};
use crate::seats::deliveries::{
    DeliveryBegin, DeliveryStatus, DeliveryStore, LeaseHolder, StoredDelivery, abandonable_by,
    finishable_by, refusal,
};
use crate::seats::error::LedgerError;
use crate::seats::failures::{FailedSignup, FailureLog, newest_first};
use crate::seats::requests::{
    RequestChange, RequestStore, SignupRecord, oldest_first, request_id_taken,
};
use crate::seats::sign_ins::{SignInAttempt, SignInCounts, SignInSlot, SignInThrottle};

/// A seat ledger held in memory. Cheap to create; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    // Why a std mutex: every critical section is a few map operations with no
    // await inside, so an async mutex would only add overhead.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Seats in use per pool.
    used: HashMap<PoolId, u32>,
    /// Claims ordered by pool, then person, the order DynamoDB's sort key
    /// gives, so `claims` lists them the same way in both adapters.
    claims: BTreeMap<(PoolId, String), Claim>,
    /// Delivery records by key.
    deliveries: HashMap<DeliveryKey, StoredDelivery>,
    /// Failed sign-ups by pool, then person, each with its `retain_until`
    /// (inclusive). Expired ones are only filtered out on reading: like
    /// DynamoDB's TTL, nothing depends on when they go.
    failures: BTreeMap<(PoolId, String), (FailedSignup, UnixMillis)>,
    /// Sign-up requests by id.
    requests: HashMap<String, SignupRecord>,
    /// The id of each pool + person's open (PENDING/WAITLISTED) request.
    open_requests: HashMap<(PoolId, String), String>,
    /// The audit trail, ordered by `at`; events with the same `at` keep
    /// their arrival order.
    audit: Vec<AuditEvent>,
    /// Administrator sign-in attempts by window start. A window that ended
    /// before the window of an attempt being taken starts is dropped then.
    sign_ins: BTreeMap<UnixMillis, SignInWindow>,
    /// Alert levels by subject key; a subject fallen back is kept as
    /// `None` (absent and `None` read alike).
    alert_levels: HashMap<String, Option<u8>>,
}

/// One window's sign-in attempts.
#[derive(Debug, Default)]
struct SignInWindow {
    /// The window's end.
    until: UnixMillis,
    /// Attempts of all addresses.
    global: u32,
    /// Attempts per address.
    per_address: HashMap<String, u32>,
}

impl MemoryLedger {
    /// An empty ledger: no pool used, no claim, no delivery.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-operation;
        // every operation below leaves the maps consistent at each step, so
        // carrying on is safe and keeps this adapter panic-free.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn map_key(key: &ClaimKey) -> (PoolId, String) {
    (key.pool.clone(), key.person.clone())
}

impl ClaimStore for MemoryLedger {
    async fn reserve(&self, req: ReserveRequest<'_>) -> Result<Reservation, LedgerError> {
        let mut state = self.lock();
        // Why this order: an existing claim wins over a full pool, as in the
        // DynamoDB adapter, so a retried sign-up learns it already has a seat.
        if let Some(existing) = state.claims.get(&map_key(req.key)) {
            return Ok(Reservation::AlreadyHeld(existing.clone()));
        }
        let used = state.used.get(&req.key.pool).copied().unwrap_or(0);
        if used >= req.capacity {
            return Ok(Reservation::PoolFull { used });
        }
        let claim = req.reserved_claim();
        state.used.insert(req.key.pool.clone(), used + 1);
        state.claims.insert(map_key(req.key), claim.clone());
        Ok(Reservation::Reserved(claim))
    }

    async fn transition(
        &self,
        key: &ClaimKey,
        expect: Expect<'_>,
        change: Change<'_>,
        now: UnixMillis,
    ) -> Result<Transition, LedgerError> {
        let mut state = self.lock();
        let k = map_key(key);
        // Why compare id and stage: a late compensation or a second decision
        // must not move a claim made again under a new id, or one that has
        // moved on (an ACTIVE claim's member exists).
        let current = match state.claims.get(&k) {
            Some(c) if expect.matches(c) => c.clone(),
            other => return Ok(Transition::Refused(other.cloned())),
        };
        if change.releases() {
            let used = state.used.get(&key.pool).copied().unwrap_or(0);
            if used == 0 {
                return Err(LedgerError::Corrupt(
                    "pool counter is zero while a claim exists".into(),
                ));
            }
            state.claims.remove(&k);
            state.used.insert(key.pool.clone(), used - 1);
            if let Some((failure, retain_until)) = change.failure() {
                state
                    .failures
                    .insert(map_key(&failure.key), (failure.clone(), retain_until));
            }
            return Ok(Transition::Released);
        }
        let next = current.changed(change, now);
        state.claims.insert(k, next.clone());
        Ok(Transition::Done(next))
    }

    async fn rekey(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        new_person: &str,
        now: UnixMillis,
    ) -> Result<Rekey, LedgerError> {
        let mut state = self.lock();
        let old = map_key(key);
        let Some(claim) = state.claims.get(&old).filter(|c| c.claim_id == claim_id) else {
            return Ok(Rekey::NotFound);
        };
        if key.person == new_person {
            return Ok(Rekey::Moved(claim.clone()));
        }
        let new = (key.pool.clone(), new_person.to_string());
        if let Some(other) = state.claims.get(&new) {
            return Ok(Rekey::Taken(other.clone()));
        }
        let Some(mut claim) = state.claims.remove(&old) else {
            return Ok(Rekey::NotFound);
        };
        claim.key.person = new_person.to_string();
        claim.updated_at = now;
        state.claims.insert(new, claim.clone());
        Ok(Rekey::Moved(claim))
    }

    async fn claim(&self, key: &ClaimKey) -> Result<Option<Claim>, LedgerError> {
        Ok(self.lock().claims.get(&map_key(key)).cloned())
    }

    async fn claims(&self, pool: &PoolId) -> Result<Vec<Claim>, LedgerError> {
        let state = self.lock();
        Ok(state
            .claims
            .iter()
            .filter(|((p, _), _)| p == pool)
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn usage(&self, pool: &PoolId) -> Result<PoolUsage, LedgerError> {
        let used = self.lock().used.get(pool).copied().unwrap_or(0);
        Ok(PoolUsage {
            pool: pool.clone(),
            used,
        })
    }
}

impl DeliveryStore for MemoryLedger {
    async fn begin_delivery(
        &self,
        key: &DeliveryKey,
        attempt: &str,
        payload_hash: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> Result<DeliveryBegin, LedgerError> {
        let mut state = self.lock();
        if let Some(answer) = refusal(state.deliveries.get(key), attempt, payload_hash, now) {
            return Ok(answer);
        }
        state.deliveries.insert(
            key.clone(),
            StoredDelivery {
                payload_hash: payload_hash.to_string(),
                attempt: Some(attempt.to_string()),
                status: DeliveryStatus::InProgress {
                    lease_until: now.saturating_add(lease_ms),
                },
            },
        );
        Ok(DeliveryBegin::Started)
    }

    async fn finish_delivery(
        &self,
        key: &DeliveryKey,
        attempt: &str,
        outcome_json: &str,
        _now: UnixMillis,
        retain_until: UnixMillis,
    ) -> Result<bool, LedgerError> {
        let mut state = self.lock();
        // Why only a record this attempt holds: a record that is gone has
        // no payload hash to keep, and one taken over belongs to another
        // attempt. The other adapters write the same rule as a condition.
        match state.deliveries.get_mut(key) {
            Some(record) if finishable_by(Some(&*record), attempt) => {
                record.status = DeliveryStatus::Complete {
                    outcome: outcome_json.to_string(),
                    retain_until,
                };
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn abandon_delivery(
        &self,
        key: &DeliveryKey,
        holder: LeaseHolder<'_>,
    ) -> Result<bool, LedgerError> {
        let mut state = self.lock();
        // Why the rule: abandoning must never erase a stored outcome, nor
        // the lease of an attempt that took over.
        if !abandonable_by(state.deliveries.get(key), holder) {
            return Ok(false);
        }
        state.deliveries.remove(key);
        Ok(true)
    }
}

impl FailureLog for MemoryLedger {
    async fn record_failure(
        &self,
        failure: &FailedSignup,
        retain_until: UnixMillis,
    ) -> Result<(), LedgerError> {
        self.lock()
            .failures
            .insert(map_key(&failure.key), (failure.clone(), retain_until));
        Ok(())
    }

    async fn failures(
        &self,
        pool: &PoolId,
        now: UnixMillis,
    ) -> Result<Vec<FailedSignup>, LedgerError> {
        let mut listed: Vec<FailedSignup> = self
            .lock()
            .failures
            .iter()
            .filter(|((p, _), (_, retain_until))| p == pool && *retain_until >= now)
            .map(|(_, (failure, _))| failure.clone())
            .collect();
        newest_first(&mut listed);
        Ok(listed)
    }
}

impl RequestStore for MemoryLedger {
    async fn create_request(&self, r: &SignupRecord) -> Result<Option<SignupRecord>, LedgerError> {
        let mut state = self.lock();
        let slot = map_key(&r.key);
        // Why this order: an open request wins over an id clash, as in the
        // other adapters, so a retried create learns it already exists.
        if r.state.is_open()
            && let Some(existing) = state
                .open_requests
                .get(&slot)
                .and_then(|id| state.requests.get(id))
        {
            return Ok(Some(existing.clone()));
        }
        if state.requests.contains_key(&r.id) {
            return Err(request_id_taken());
        }
        if r.state.is_open() {
            state.open_requests.insert(slot, r.id.clone());
        }
        state.requests.insert(r.id.clone(), r.clone());
        Ok(None)
    }

    async fn request(&self, id: &str) -> Result<Option<SignupRecord>, LedgerError> {
        Ok(self.lock().requests.get(id).cloned())
    }

    async fn requests(
        &self,
        pool: &PoolId,
        wanted: RequestState,
    ) -> Result<Vec<SignupRecord>, LedgerError> {
        let mut listed: Vec<SignupRecord> = self
            .lock()
            .requests
            .values()
            .filter(|r| r.key.pool == *pool && r.state == wanted)
            .cloned()
            .collect();
        oldest_first(&mut listed);
        Ok(listed)
    }

    async fn transition_request(
        &self,
        id: &str,
        from: RequestState,
        to: RequestState,
        change: &RequestChange,
    ) -> Result<Option<SignupRecord>, LedgerError> {
        let mut state = self.lock();
        let Some(current) = state.requests.get(id).filter(|r| r.state == from) else {
            return Ok(None);
        };
        let updated = change.apply(current, to);
        let slot = map_key(&updated.key);
        let holder = state.open_requests.get(&slot).map(String::as_str);
        match (from.is_open(), to.is_open()) {
            // Why compare ids: the slot must only ever be freed by the
            // request holding it.
            (true, false) if holder == Some(id) => {
                state.open_requests.remove(&slot);
            }
            // Reopening must not give the person a second open request.
            (false, true) if holder.is_some() => return Ok(None),
            (false, true) => {
                state.open_requests.insert(slot, id.to_string());
            }
            _ => {}
        }
        state.requests.insert(id.to_string(), updated.clone());
        Ok(Some(updated))
    }
}

impl SignupBatch for MemoryLedger {
    async fn open(
        &self,
        lease: LeaseRequest<'_>,
        reserve: ReserveRequest<'_>,
    ) -> Result<Opened, LedgerError> {
        let mut state = self.lock();
        let stored = state.deliveries.get(lease.key);
        if stored.is_some() {
            // Whatever the record says, `begin_delivery` explains it.
            if let Some(answer) = refusal(stored, lease.attempt, lease.payload_hash, lease.now) {
                return Ok(Opened::Delivery(answer));
            }
            return Ok(Opened::Neither);
        }
        let used = state.used.get(&reserve.key.pool).copied().unwrap_or(0);
        if state.claims.contains_key(&map_key(reserve.key)) || used >= reserve.capacity {
            return Ok(Opened::Neither);
        }
        state.deliveries.insert(
            lease.key.clone(),
            StoredDelivery {
                payload_hash: lease.payload_hash.to_string(),
                attempt: Some(lease.attempt.to_string()),
                status: DeliveryStatus::InProgress {
                    lease_until: lease.now.saturating_add(lease.lease_ms),
                },
            },
        );
        let claim = reserve.reserved_claim();
        state.used.insert(reserve.key.pool.clone(), used + 1);
        state.claims.insert(map_key(reserve.key), claim.clone());
        Ok(Opened::Both(claim))
    }

    async fn close(&self, req: CloseRequest<'_>) -> Result<bool, LedgerError> {
        let mut state = self.lock();
        let k = map_key(req.claim);
        let claim = match state.claims.get(&k) {
            Some(c) if req.expect.matches(c) => c.clone(),
            _ => return Ok(false),
        };
        if !finishable_by(state.deliveries.get(req.delivery), req.attempt) {
            return Ok(false);
        }
        let active = claim.changed(
            Change::Activate {
                username: req.username,
            },
            req.now,
        );
        state.claims.insert(k, active);
        let at = state.audit.partition_point(|x| x.at <= req.audit.at);
        state.audit.insert(at, req.audit.clone());
        if let Some(record) = state.deliveries.get_mut(req.delivery) {
            record.status = DeliveryStatus::Complete {
                outcome: req.outcome_json.to_string(),
                retain_until: req.retain_until,
            };
        }
        Ok(true)
    }
}

impl AuditLog for MemoryLedger {
    async fn audit(&self, e: &AuditEvent) -> Result<(), LedgerError> {
        let mut state = self.lock();
        let at = state.audit.partition_point(|x| x.at <= e.at);
        state.audit.insert(at, e.clone());
        Ok(())
    }

    async fn audit_since(
        &self,
        since: UnixMillis,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, LedgerError> {
        let state = self.lock();
        let first = state.audit.partition_point(|x| x.at < since);
        Ok(state.audit[first..].iter().take(limit).cloned().collect())
    }
}

impl SignInThrottle for MemoryLedger {
    async fn take_sign_in(&self, attempt: &SignInAttempt<'_>) -> Result<SignInSlot, LedgerError> {
        let mut state = self.lock();
        state.sign_ins.retain(|_, w| w.until > attempt.window);
        let window = state.sign_ins.entry(attempt.window).or_default();
        window.until = window.until.max(attempt.until);
        let used = window
            .per_address
            .get(attempt.address)
            .copied()
            .unwrap_or(0);
        if window.global >= attempt.global {
            return Ok(SignInSlot::GlobalLimit);
        }
        if used >= attempt.per_address {
            return Ok(SignInSlot::AddressLimit);
        }
        window.global += 1;
        window
            .per_address
            .insert(attempt.address.to_string(), used + 1);
        Ok(SignInSlot::Taken)
    }

    async fn give_back_sign_in(
        &self,
        window: UnixMillis,
        address: &str,
    ) -> Result<(), LedgerError> {
        let mut state = self.lock();
        if let Some(w) = state.sign_ins.get_mut(&window)
            && let Some(used) = w.per_address.get_mut(address)
            && *used > 0
            && w.global > 0
        {
            *used -= 1;
            w.global -= 1;
        }
        Ok(())
    }

    async fn sign_in_counts(
        &self,
        window: UnixMillis,
        address: &str,
    ) -> Result<SignInCounts, LedgerError> {
        let state = self.lock();
        Ok(state
            .sign_ins
            .get(&window)
            .map(|w| SignInCounts {
                address: w.per_address.get(address).copied().unwrap_or(0),
                global: w.global,
            })
            .unwrap_or_default())
    }
}

impl AlertLevels for MemoryLedger {
    async fn alert_level(&self, subject: &AlertSubject) -> Result<Option<u8>, LedgerError> {
        Ok(self
            .lock()
            .alert_levels
            .get(&subject.key())
            .copied()
            .flatten())
    }

    async fn set_alert_level(
        &self,
        subject: &AlertSubject,
        expected: Option<u8>,
        new: Option<u8>,
        _now: UnixMillis,
    ) -> Result<bool, LedgerError> {
        let mut state = self.lock();
        let level = state.alert_levels.entry(subject.key()).or_default();
        if *level != expected {
            return Ok(false);
        }
        *level = new;
        Ok(true)
    }
}

//! [`FaultyLedger`]: any seat ledger with scripted store failures, for the
//! tests (as the portal has its fake and its simulator).
//!
//! A fault hits the next matching operation: either before it (the store
//! refused: nothing written) or after it (written, and the answer lost on
//! its way, as when a store call times out after the write). Everything
//! else passes through to the wrapped ledger unchanged. It adds no
//! semantics of its own, so a test over it asserts what the workflow does
//! when the store misbehaves, on the real adapter underneath.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::domain::{AlertSubject, ClaimKey, DeliveryKey, PoolId, RequestState, UnixMillis};
use crate::seats::alert_levels::AlertLevels;
use crate::seats::audit::{AuditEvent, AuditLog};
use crate::seats::batch::{CloseRequest, LeaseRequest, Opened, SignupBatch};
use crate::seats::claims::{
    Change, Claim, ClaimStore, Expect, PoolUsage, Rekey, Reservation, ReserveRequest, Transition,
};
use crate::seats::deliveries::{DeliveryBegin, DeliveryStore, LeaseHolder};
use crate::seats::error::LedgerError;
use crate::seats::failures::{FailedSignup, FailureLog};
use crate::seats::requests::{RequestChange, RequestStore, SignupRecord};
use crate::seats::sign_ins::{SignInAttempt, SignInCounts, SignInSlot, SignInThrottle};

/// A store operation a fault can hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOp {
    /// `reserve`.
    Reserve,
    /// A transition to ACTIVE.
    Activate,
    /// A transition to another hold.
    Rehold,
    /// A transition that only refreshes the time.
    Touch,
    /// A transition of an ACTIVE seat's end (extend, warn).
    Lifecycle,
    /// A transition that gives the seat back.
    Release,
    /// `rekey`.
    Rekey,
    /// `begin_delivery`.
    BeginDelivery,
    /// `finish_delivery`.
    FinishDelivery,
    /// `abandon_delivery`.
    AbandonDelivery,
    /// `create_request`.
    CreateRequest,
    /// `transition_request`.
    TransitionRequest,
    /// `record_failure`.
    RecordFailure,
    /// `audit`.
    Audit,
    /// `take_sign_in` and `give_back_sign_in` (the sign-in throttle's
    /// writes).
    SignIn,
    /// `set_alert_level`.
    AlertLevel,
    /// Any read (`claim`, `claims`, `usage`, `request`, `requests`,
    /// `failures`, `audit_since`, `sign_in_counts`, `alert_level`).
    Read,
    /// `open` (the lease and the reservation in one write); also struck by
    /// a fault scripted for `BeginDelivery` or `Reserve`, the writes it
    /// makes.
    Open,
    /// `close` (activation, audit record and stored outcome in one write);
    /// also struck by a fault scripted for `Activate`, `Audit` or
    /// `FinishDelivery`.
    Close,
}

/// When a fault strikes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strike {
    /// Before the operation: the store refused, nothing was written.
    Before,
    /// After it: the write happened, its answer was lost.
    After,
    /// Twice: the first answer was lost and the store's client retried the
    /// same call (as the DynamoDB SDK retries a timed-out write that had
    /// landed); the caller sees the second answer.
    Retried,
}

#[derive(Clone, Debug)]
enum Act {
    Fail(Strike),
    Pause(Arc<Pause>),
}

#[derive(Clone, Debug)]
struct Fault {
    op: StoreOp,
    act: Act,
    times: u32,
}

/// A paused operation ([`FaultyLedger::pause`]): a test waits until the
/// operation is reached, does something meanwhile, then lets it go on. It
/// is how a test lines up a race exactly (one caller stopped between two of
/// its steps while another runs).
#[derive(Debug, Default)]
pub struct Pause {
    reached: Notify,
    go: Notify,
}

impl Pause {
    /// Waits until the paused operation has been called.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets it go on.
    pub fn resume(&self) {
        self.go.notify_one();
    }
}

/// A ledger whose operations fail as scripted; see the module docs.
#[derive(Debug)]
pub struct FaultyLedger<L> {
    inner: Arc<L>,
    faults: Mutex<Vec<Fault>>,
}

impl<L> FaultyLedger<L> {
    /// Wraps `inner`, with no fault scripted.
    pub fn new(inner: Arc<L>) -> Self {
        FaultyLedger {
            inner,
            faults: Mutex::new(Vec::new()),
        }
    }

    /// The wrapped ledger, for reading what is really stored.
    pub fn inner(&self) -> &Arc<L> {
        &self.inner
    }

    /// The next `times` operations `op` fail, as `strike` says.
    pub fn fail(&self, op: StoreOp, strike: Strike, times: u32) {
        self.lock().push(Fault {
            op,
            act: Act::Fail(strike),
            times,
        });
    }

    /// The next operation `op` waits, before it runs, until the returned
    /// [`Pause`] is resumed.
    pub fn pause(&self, op: StoreOp) -> Arc<Pause> {
        let pause = Arc::new(Pause::default());
        self.lock().push(Fault {
            op,
            act: Act::Pause(pause.clone()),
            times: 1,
        });
        pause
    }

    /// Forgets every scripted fault.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Fault>> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first fault scripted for any of `ops`, if any (counted down).
    fn take(&self, ops: &[StoreOp]) -> Option<Act> {
        let mut faults = self.lock();
        let i = faults.iter().position(|f| ops.contains(&f.op))?;
        let act = faults[i].act.clone();
        faults[i].times = faults[i].times.saturating_sub(1);
        if faults[i].times == 0 {
            faults.remove(i);
        }
        Some(act)
    }

    /// Runs `call` under the fault scripted for `op`.
    async fn run<T, F: Future<Output = Result<T, LedgerError>>>(
        &self,
        op: StoreOp,
        call: impl Fn() -> F,
    ) -> Result<T, LedgerError> {
        self.run_any(&[op], call).await
    }

    /// Runs `call` under the first fault scripted for any of `ops` (a batch
    /// fails as a whole when any write in it is scripted to fail).
    async fn run_any<T, F: Future<Output = Result<T, LedgerError>>>(
        &self,
        ops: &[StoreOp],
        call: impl Fn() -> F,
    ) -> Result<T, LedgerError> {
        let op = ops[0];
        match self.take(ops) {
            Some(Act::Fail(Strike::Before)) => Err(injected(op, "before")),
            Some(Act::Fail(Strike::After)) => {
                let _ = call().await;
                Err(injected(op, "after"))
            }
            Some(Act::Fail(Strike::Retried)) => {
                let _ = call().await;
                call().await
            }
            Some(Act::Pause(pause)) => {
                pause.reached.notify_one();
                pause.go.notified().await;
                call().await
            }
            None => call().await,
        }
    }
}

fn injected(op: StoreOp, when: &str) -> LedgerError {
    LedgerError::Unavailable(format!("injected store fault on {op:?} ({when})"))
}

fn op_of(change: Change<'_>) -> StoreOp {
    match change {
        Change::Activate { .. } => StoreOp::Activate,
        Change::Rehold { .. } => StoreOp::Rehold,
        Change::Touch => StoreOp::Touch,
        Change::Extend { .. } | Change::Warn { .. } => StoreOp::Lifecycle,
        Change::Release | Change::Fail { .. } => StoreOp::Release,
    }
}

impl<L: ClaimStore> ClaimStore for FaultyLedger<L> {
    async fn reserve(&self, req: ReserveRequest<'_>) -> Result<Reservation, LedgerError> {
        self.run(StoreOp::Reserve, || self.inner.reserve(req.clone()))
            .await
    }

    async fn transition(
        &self,
        key: &ClaimKey,
        expect: Expect<'_>,
        change: Change<'_>,
        now: UnixMillis,
    ) -> Result<Transition, LedgerError> {
        self.run(op_of(change), || {
            self.inner.transition(key, expect, change, now)
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
        self.run(StoreOp::Rekey, || {
            self.inner.rekey(key, claim_id, new_person, now)
        })
        .await
    }

    async fn claim(&self, key: &ClaimKey) -> Result<Option<Claim>, LedgerError> {
        self.run(StoreOp::Read, || self.inner.claim(key)).await
    }

    async fn claims(&self, pool: &PoolId) -> Result<Vec<Claim>, LedgerError> {
        self.run(StoreOp::Read, || self.inner.claims(pool)).await
    }

    async fn usage(&self, pool: &PoolId) -> Result<PoolUsage, LedgerError> {
        self.run(StoreOp::Read, || self.inner.usage(pool)).await
    }
}

impl<L: DeliveryStore> DeliveryStore for FaultyLedger<L> {
    async fn begin_delivery(
        &self,
        key: &DeliveryKey,
        attempt: &str,
        payload_hash: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> Result<DeliveryBegin, LedgerError> {
        self.run(StoreOp::BeginDelivery, || {
            self.inner
                .begin_delivery(key, attempt, payload_hash, now, lease_ms)
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
        self.run(StoreOp::FinishDelivery, || {
            self.inner
                .finish_delivery(key, attempt, outcome_json, now, retain_until)
        })
        .await
    }

    async fn abandon_delivery(
        &self,
        key: &DeliveryKey,
        holder: LeaseHolder<'_>,
    ) -> Result<bool, LedgerError> {
        self.run(StoreOp::AbandonDelivery, || {
            self.inner.abandon_delivery(key, holder)
        })
        .await
    }
}

impl<L: SignupBatch> SignupBatch for FaultyLedger<L> {
    async fn open(
        &self,
        lease: LeaseRequest<'_>,
        reserve: ReserveRequest<'_>,
    ) -> Result<Opened, LedgerError> {
        self.run_any(
            &[StoreOp::Open, StoreOp::BeginDelivery, StoreOp::Reserve],
            || self.inner.open(lease, reserve.clone()),
        )
        .await
    }

    async fn close(&self, req: CloseRequest<'_>) -> Result<bool, LedgerError> {
        self.run_any(
            &[
                StoreOp::Close,
                StoreOp::Activate,
                StoreOp::Audit,
                StoreOp::FinishDelivery,
            ],
            || self.inner.close(req),
        )
        .await
    }
}

impl<L: FailureLog> FailureLog for FaultyLedger<L> {
    async fn record_failure(
        &self,
        failure: &FailedSignup,
        retain_until: UnixMillis,
    ) -> Result<(), LedgerError> {
        self.run(StoreOp::RecordFailure, || {
            self.inner.record_failure(failure, retain_until)
        })
        .await
    }

    async fn failures(
        &self,
        pool: &PoolId,
        now: UnixMillis,
    ) -> Result<Vec<FailedSignup>, LedgerError> {
        self.run(StoreOp::Read, || self.inner.failures(pool, now))
            .await
    }
}

impl<L: RequestStore> RequestStore for FaultyLedger<L> {
    async fn create_request(&self, r: &SignupRecord) -> Result<Option<SignupRecord>, LedgerError> {
        self.run(StoreOp::CreateRequest, || self.inner.create_request(r))
            .await
    }

    async fn request(&self, id: &str) -> Result<Option<SignupRecord>, LedgerError> {
        self.run(StoreOp::Read, || self.inner.request(id)).await
    }

    async fn requests(
        &self,
        pool: &PoolId,
        state: RequestState,
    ) -> Result<Vec<SignupRecord>, LedgerError> {
        self.run(StoreOp::Read, || self.inner.requests(pool, state))
            .await
    }

    async fn transition_request(
        &self,
        id: &str,
        from: RequestState,
        to: RequestState,
        change: &RequestChange,
    ) -> Result<Option<SignupRecord>, LedgerError> {
        self.run(StoreOp::TransitionRequest, || {
            self.inner.transition_request(id, from, to, change)
        })
        .await
    }
}

impl<L: AuditLog> AuditLog for FaultyLedger<L> {
    async fn audit(&self, e: &AuditEvent) -> Result<(), LedgerError> {
        self.run(StoreOp::Audit, || self.inner.audit(e)).await
    }

    async fn audit_since(
        &self,
        since: UnixMillis,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, LedgerError> {
        self.run(StoreOp::Read, || self.inner.audit_since(since, limit))
            .await
    }
}

impl<L: SignInThrottle> SignInThrottle for FaultyLedger<L> {
    async fn take_sign_in(&self, attempt: &SignInAttempt<'_>) -> Result<SignInSlot, LedgerError> {
        self.run(StoreOp::SignIn, || self.inner.take_sign_in(attempt))
            .await
    }

    async fn give_back_sign_in(
        &self,
        window: UnixMillis,
        address: &str,
    ) -> Result<(), LedgerError> {
        self.run(StoreOp::SignIn, || {
            self.inner.give_back_sign_in(window, address)
        })
        .await
    }

    async fn sign_in_counts(
        &self,
        window: UnixMillis,
        address: &str,
    ) -> Result<SignInCounts, LedgerError> {
        self.run(StoreOp::Read, || self.inner.sign_in_counts(window, address))
            .await
    }
}

impl<L: AlertLevels> AlertLevels for FaultyLedger<L> {
    async fn alert_level(&self, subject: &AlertSubject) -> Result<Option<u8>, LedgerError> {
        self.run(StoreOp::Read, || self.inner.alert_level(subject))
            .await
    }

    async fn set_alert_level(
        &self,
        subject: &AlertSubject,
        expected: Option<u8>,
        new: Option<u8>,
        now: UnixMillis,
    ) -> Result<bool, LedgerError> {
        self.run(StoreOp::AlertLevel, || {
            self.inner.set_alert_level(subject, expected, new, now)
        })
        .await
    }
}

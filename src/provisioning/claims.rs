//! The claim state machine: every change to a claim that the workflow, the
//! workers, the approvals, the waitlist, the sweeper and the import make
//! goes through the methods here, each one conditional on the stage the
//! caller expects and on the claim's id (the reservation that owns it).
//! Nothing else writes claims.
//!
//! ```text
//!  reserve ─▶ RESERVED(InFlight) ──activate──▶ ACTIVE ──release (the import moved
//!   │           │ │ │                                     the member to another pool)
//!   │           │ │ └─ release: the portal refused the member
//!   │           │ └─── rehold Unknown: the invitation's outcome was not seen;
//!   │           │        a look-up (a retry of the delivery, the sweeper)
//!   │           │        activates or releases it
//!   │           └───── rehold Queued: the portal was slow, a job finishes it
//!   ├────▶ RESERVED(Queued): the hooks and admissions; its job activates,
//!   │        releases (refused) or marks it Unknown (last attempt timed out)
//!   └────▶ RESERVED(Approval): a request waits; approved → Queued or
//!            InFlight, denied or expired → release; never swept
//! ```
//!
//! A new member's sign-up takes the happy path in two writes: the lease
//! with the reservation ([`Provisioner::open_sign_up`]), and the activation
//! with the audit record and the stored outcome
//! ([`Provisioner::close_sign_up`]), each one batch of the ledger
//! ([`crate::seats::SignupBatch`]) with the same conditions as the separate
//! writes, which it falls back to whenever a batch does not apply.
//!
//! A claim in flight whose attempt died (stale) or whose outcome is unknown
//! is taken over by the next sign-up of the person; the delivery that made a
//! claim resumes its own claim at once. Reads for status pages and planning
//! may use the ledger's read ports; writes never bypass this file.

use std::time::Duration;

use super::delivery::refused;
use super::outcome::{Handled, Outcome, store_unavailable};
use super::workflow::Provisioner;
use crate::domain::{ClaimKey, DeliveryKey, SignupRequest, UnixMillis};
use crate::policy::Grant;
use crate::portal::Portal;
use crate::seats::{
    AuditEvent, Change, Claim, CloseRequest, DeliveryBegin, Expect, FailedSignup, Hold,
    LeaseRequest, LedgerError, Opened, Rekey, Reservation, ReserveRequest, SeatLedger, Stage,
    Transition,
};

/// A claim a request is creating the member for right now.
pub(super) const IN_FLIGHT: &[Stage] = &[Stage::Reserved(Hold::InFlight)];
/// A claim a job is queued for.
pub(super) const QUEUED: &[Stage] = &[Stage::Reserved(Hold::Queued)];
/// A claim held for a pending request.
pub(super) const APPROVAL: &[Stage] = &[Stage::Reserved(Hold::Approval)];
/// A claim whose invitation's outcome was not seen.
pub(super) const UNKNOWN: &[Stage] = &[Stage::Reserved(Hold::Unknown)];
/// A claim a job works on: queued, or left in flight or unknown by the
/// attempt that queued it.
pub(super) const JOB: &[Stage] = &[
    Stage::Reserved(Hold::Queued),
    Stage::Reserved(Hold::InFlight),
    Stage::Reserved(Hold::Unknown),
];
/// A claim a job works on whose invitation is known not to be pending:
/// the only ones a failed job gives back.
pub(super) const JOB_NOT_SENT: &[Stage] = &[
    Stage::Reserved(Hold::Queued),
    Stage::Reserved(Hold::InFlight),
];
/// A claim whose member exists.
pub(super) const ACTIVE: &[Stage] = &[Stage::Active];

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Reserves the person's seat for a sign-up, held as `hold`: the claim
    /// to work on ([`Held`]), or the answer when there is nothing to do.
    ///
    /// The person's existing claim decides: ACTIVE → already a member; this
    /// delivery's own reservation in flight or unknown (a retry after a
    /// store failure or a lost reply) → resumed at once; another delivery's
    /// reservation in flight that went stale (its attempt crashed), or whose
    /// outcome is unknown → taken over (the creation then adopts a member
    /// the first attempt made); anything else (live, queued, held for
    /// approval) is in progress (`Queued` callers: "accepted", its job will
    /// finish it). A claim whose outcome is unknown stays UNKNOWN while it
    /// is worked on: an invitation may still land, so only a look-up that
    /// finds the member (activate) or the sweeper's (release) ends it.
    pub(super) async fn reserve_claim(
        &self,
        delivery: &DeliveryKey,
        req: &SignupRequest,
        grant: &Grant,
        hold: Hold,
        now: UnixMillis,
    ) -> Result<Held, Outcome> {
        let key = grant.claim_key(&req.email);
        let this_delivery = delivery.as_string();
        let existing = match self
            .reserve_seat(&key, grant, &this_delivery, hold, now)
            .await
        {
            Ok(Reservation::Reserved(c)) => {
                return Ok(Held {
                    key,
                    claim_id: c.claim_id,
                    hold,
                });
            }
            Ok(Reservation::PoolFull { used }) => {
                tracing::info!(pool = %grant.pool, used, "pool full");
                return Err(Outcome::PoolFull {
                    pool: grant.pool.to_string(),
                    seats: grant.capacity,
                });
            }
            Ok(Reservation::AlreadyHeld(c)) => c,
            Err(e) => {
                tracing::error!("ledger reserve: {e}");
                return Err(store_unavailable());
            }
        };
        let ours = existing.delivery == this_delivery;
        let stale = now - existing.updated_at >= self.settings.stale_reservation.as_millis() as i64;
        let (take_from, keep): (&[Stage], Hold) = match existing.stage() {
            Stage::Active => {
                return Err(Outcome::AlreadyMember {
                    pool: grant.pool.to_string(),
                    username: existing.username.unwrap_or_default(),
                });
            }
            Stage::Reserved(Hold::InFlight) if ours => {
                tracing::info!(pool = %grant.pool, claim = %existing.claim_id, "resuming this delivery's own reservation");
                (IN_FLIGHT, hold)
            }
            Stage::Reserved(Hold::InFlight) if stale => {
                // An attempt crashed after reserving: take its claim over.
                tracing::warn!(pool = %grant.pool, claim = %existing.claim_id, "taking over a stale reservation");
                (IN_FLIGHT, hold)
            }
            Stage::Reserved(Hold::Unknown) => {
                // Its attempt gave up not knowing whether the member was
                // made: the creation looks it up first, and the claim stays
                // UNKNOWN meanwhile.
                tracing::warn!(pool = %grant.pool, claim = %existing.claim_id, ours, "working on a reservation whose outcome was not seen");
                (UNKNOWN, Hold::Unknown)
            }
            Stage::Reserved(_) => return Err(in_progress(grant, existing, hold)),
        };
        let expect = Expect::new(&existing.claim_id, take_from);
        let change = Change::Rehold {
            hold: keep,
            delivery: Some(&this_delivery),
        };
        match self.ledger.transition(&key, expect, change, now).await {
            Ok(Transition::Done(c)) => Ok(Held {
                key,
                claim_id: c.claim_id,
                hold: keep,
            }),
            // Someone else moved it first: theirs now.
            Ok(_) => Err(in_progress(grant, existing, hold)),
            Err(e) => {
                tracing::error!("ledger take-over: {e}");
                Err(store_unavailable())
            }
        }
    }

    /// The happy path's first write ([`SignupBatch::open`]): the delivery's
    /// lease for a new attempt and the person's seat reserved in flight,
    /// both in one write. Returns the attempt and, when the seat was
    /// reserved with the lease, the claim to work on; when the batch does
    /// not apply (a delivery seen before, a claim already there, a full
    /// pool), takes the lease the usual way ([`Self::begin_delivery`]) and
    /// leaves the reservation to [`Self::reserve_claim`], which explains
    /// and handles those cases. `Err`: the answer to give instead (a
    /// replay, another attempt's lease, a reused id, a store failure).
    pub(super) async fn open_sign_up(
        &self,
        delivery: &DeliveryKey,
        payload_hash: &str,
        req: &SignupRequest,
        grant: &Grant,
        now: UnixMillis,
    ) -> Result<(String, Option<Held>), Handled> {
        let attempt = self.ids.delivery_attempt();
        let key = grant.claim_key(&req.email);
        let this_delivery = delivery.as_string();
        let lease = LeaseRequest {
            key: delivery,
            attempt: &attempt,
            payload_hash,
            now,
            lease_ms: self.settings.lease.as_millis() as i64,
        };
        let reserve = ReserveRequest {
            key: &key,
            capacity: grant.capacity,
            delivery: &this_delivery,
            claim_id: &self.ids.claim_id(),
            username: grant.username.as_str(),
            hold: Hold::InFlight,
            now,
        };
        match self.ledger.open(lease, reserve).await {
            Ok(Opened::Both(claim)) => Ok((
                attempt,
                Some(Held {
                    key,
                    claim_id: claim.claim_id,
                    hold: Hold::InFlight,
                }),
            )),
            // The lease is this attempt's already (a retried write): the
            // seat is left to `reserve_claim`, which finds its claim.
            Ok(Opened::Delivery(DeliveryBegin::Started)) => Ok((attempt, None)),
            Ok(Opened::Delivery(begin)) => match refused(delivery, begin) {
                Some(answer) => Err(answer),
                None => Ok((attempt, None)),
            },
            Ok(Opened::Neither) => Ok((
                self.begin_delivery(delivery, payload_hash, now)
                    .await
                    .map_err(Handled::from)?,
                None,
            )),
            Err(e) => {
                // It may have landed: a lease of this attempt is dropped (as
                // after a lost lease write); a claim it made is this
                // delivery's own, resumed by its retry or settled by the
                // sweeper.
                tracing::error!(delivery = %this_delivery, "ledger open: {e}");
                self.drop_unanswered_lease(delivery, &attempt).await;
                Err(Handled::fresh(store_unavailable()))
            }
        }
    }

    /// The happy path's closing write ([`SignupBatch::close`]): the claim
    /// ACTIVE, `audit` appended and `outcome` stored for replays under the
    /// attempt's lease, in one write. `false`: nothing was written (the
    /// claim or the lease moved on, or the store failed): the caller takes
    /// the steps one by one.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn close_sign_up(
        &self,
        delivery: &DeliveryKey,
        attempt: &str,
        held: &Held,
        username: &str,
        audit: &AuditEvent,
        outcome: &Outcome,
        now: UnixMillis,
    ) -> bool {
        let Ok(outcome_json) = serde_json::to_string(outcome) else {
            return false;
        };
        let req = CloseRequest {
            claim: &held.key,
            expect: Expect {
                claim_id: &held.claim_id,
                stages: &held.stage(),
                updated_at: None,
            },
            username,
            audit,
            delivery,
            attempt,
            outcome_json: &outcome_json,
            now,
            retain_until: self.settings.retain_until(delivery, now),
        };
        match self.ledger.close(req).await {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(delivery = %delivery.as_string(), "ledger close: {e}; taking the steps one by one");
                false
            }
        }
    }

    /// Takes a seat for `key` in the decided pool under a fresh claim id,
    /// held as `hold` for `delivery` (see
    /// [`crate::seats::ClaimStore::reserve`]).
    pub(super) async fn reserve_seat(
        &self,
        key: &ClaimKey,
        grant: &Grant,
        delivery: &str,
        hold: Hold,
        now: UnixMillis,
    ) -> Result<Reservation, LedgerError> {
        self.ledger
            .reserve(ReserveRequest {
                key,
                capacity: grant.capacity,
                delivery,
                claim_id: &self.ids.claim_id(),
                username: grant.username.as_str(),
                hold,
                now,
            })
            .await
    }

    /// The member exists under `username`: the claim becomes ACTIVE, if it
    /// is still `claim_id` in one of the stages `from`.
    pub(super) async fn activate(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        from: &[Stage],
        username: &str,
        now: UnixMillis,
    ) -> Result<Transition, LedgerError> {
        let expect = Expect::new(claim_id, from);
        self.ledger
            .transition(key, expect, Change::Activate { username }, now)
            .await
    }

    /// The claim is held for another reason (and, with `delivery`, owned by
    /// another delivery), if it is still `claim_id` in one of the stages
    /// `from`. Whether it moved.
    pub(super) async fn rehold(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        from: &[Stage],
        hold: Hold,
        now: UnixMillis,
    ) -> bool {
        let expect = Expect::new(claim_id, from);
        let change = Change::Rehold {
            hold,
            delivery: None,
        };
        match self.ledger.transition(key, expect, change, now).await {
            Ok(Transition::Done(_)) => true,
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(claim = %claim_id, hold = hold.as_str(), "rehold failed: {e}");
                false
            }
        }
    }

    /// Gives the seat back, only if the claim is still `claim_id` in one of
    /// the stages `from` (a compensation never frees a claim that moved on:
    /// one made again, one now ACTIVE, one another path took over). A store
    /// error is retried a few times. Whether a seat was given back.
    pub(super) async fn give_back(&self, key: &ClaimKey, claim_id: &str, from: &[Stage]) -> bool {
        let expect = Expect::new(claim_id, from);
        self.release_expected(key, expect, Change::Release).await
    }

    /// [`Self::give_back`] that records `failure` in the same write: the
    /// seat is never given back without the failure saying what became of
    /// the sign-up (a crash between two writes could leave an approved
    /// request with neither a member nor a failure).
    pub(super) async fn give_up_on(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        from: &[Stage],
        failure: &FailedSignup,
        retain_until: UnixMillis,
    ) -> bool {
        let expect = Expect::new(claim_id, from);
        let fail = Change::Fail {
            failure,
            retain_until,
        };
        self.release_expected(key, expect, fail).await
    }

    /// Gives the seat of `claim` back only if it is still exactly as read:
    /// same id, same stage, not changed since. For the sweeper, which
    /// decides from a read and a portal look-up that take a while: a claim
    /// the person's retry took over meanwhile (same id and stage, a later
    /// `updated_at`) is the retry's now, and its member may be on the way.
    /// The release records `failure` in the same write.
    pub(super) async fn give_up_as_read(
        &self,
        claim: &Claim,
        failure: &FailedSignup,
        retain_until: UnixMillis,
    ) -> bool {
        let stage = [claim.stage()];
        let expect = Expect {
            claim_id: &claim.claim_id,
            stages: &stage,
            updated_at: Some(claim.updated_at),
        };
        let fail = Change::Fail {
            failure,
            retain_until,
        };
        self.release_expected(&claim.key, expect, fail).await
    }

    /// Releases what `expect` names (`change` is a release), retrying a
    /// store error a few times.
    async fn release_expected(
        &self,
        key: &ClaimKey,
        expect: Expect<'_>,
        change: Change<'_>,
    ) -> bool {
        debug_assert!(change.releases());
        for attempt in 0..3u32 {
            match self.ledger.transition(key, expect, change, 0).await {
                Ok(done) => return matches!(done, Transition::Released),
                Err(e) => {
                    tracing::error!(attempt, "release failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        false
    }

    /// Reserves a seat for `key` in a pool of `capacity` seats for a member
    /// that already exists (the import moving a member to the pool of their
    /// new user type), in flight until the portal took the change: the
    /// delivery and intended username are kept on the claim, as for a
    /// sign-up.
    pub async fn reserve_seat_for(
        &self,
        key: &ClaimKey,
        capacity: u32,
        delivery: &str,
        username: &str,
        now: UnixMillis,
    ) -> Result<Reservation, LedgerError> {
        self.ledger
            .reserve(ReserveRequest {
                key,
                capacity,
                delivery,
                claim_id: &self.ids.claim_id(),
                username,
                hold: Hold::InFlight,
                now,
            })
            .await
    }

    /// Confirms a seat [`Self::reserve_seat_for`] took (the import's move,
    /// once the portal took the change): ACTIVE under `username`.
    pub async fn confirm_seat(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        username: &str,
        now: UnixMillis,
    ) -> Result<Claim, LedgerError> {
        match self
            .activate(key, claim_id, IN_FLIGHT, username, now)
            .await?
        {
            Transition::Done(c) => Ok(c),
            _ => Err(LedgerError::ClaimNotFound),
        }
    }

    /// Gives back a seat [`Self::reserve_seat_for`] took and the portal did
    /// not take the change for. Whether a seat was given back.
    pub async fn release_seat(&self, key: &ClaimKey, claim_id: &str) -> Result<bool, LedgerError> {
        self.release_from(key, claim_id, IN_FLIGHT).await
    }

    /// Gives back the seat of a member who moved to another pool (the
    /// import changed their user type): their old, ACTIVE claim. Whether a
    /// seat was given back.
    pub async fn release_moved_seat(
        &self,
        key: &ClaimKey,
        claim_id: &str,
    ) -> Result<bool, LedgerError> {
        self.release_from(key, claim_id, ACTIVE).await
    }

    async fn release_from(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        from: &[Stage],
    ) -> Result<bool, LedgerError> {
        let expect = Expect::new(claim_id, from);
        let done = self
            .ledger
            .transition(key, expect, Change::Release, 0)
            .await?;
        Ok(matches!(done, Transition::Released))
    }

    /// Moves a claim to the person's new e-mail (same seat, same id), when
    /// a member's e-mail changes; see the ledger's `rekey`.
    pub async fn rekey_seat(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        new_person: &str,
        now: UnixMillis,
    ) -> Result<Rekey, LedgerError> {
        self.ledger.rekey(key, claim_id, new_person, now).await
    }
}

/// The claim a sign-up works on ([`Provisioner::reserve_claim`]).
pub(super) struct Held {
    /// Pool and person.
    pub(super) key: ClaimKey,
    /// The claim's id.
    pub(super) claim_id: String,
    /// How it is held now: as asked, or UNKNOWN when an earlier attempt's
    /// invitation may still land (then no failure of this attempt gives
    /// the seat back).
    pub(super) hold: Hold,
}

impl Held {
    /// The stage the claim is in, for the next transition's expectation.
    pub(super) fn stage(&self) -> [Stage; 1] {
        [Stage::Reserved(self.hold)]
    }

    /// Whether an invitation of an earlier attempt may still land.
    pub(super) fn unknown(&self) -> bool {
        self.hold == Hold::Unknown
    }
}

/// The answer when another path holds the person's seat: a queued sign-up
/// is "accepted" when that path is a job (it will finish), otherwise the
/// sender retries later.
fn in_progress(grant: &Grant, existing: Claim, hold: Hold) -> Outcome {
    if hold == Hold::Queued && existing.stage() != Stage::Reserved(Hold::Approval) {
        Outcome::Accepted {
            pool: grant.pool.to_string(),
            username: existing.username.unwrap_or_default(),
        }
    } else {
        Outcome::retry(
            "claim_in_progress",
            "A seat for this person is being set up by another request.",
            10,
        )
    }
}

/// The seat's life after sign-up: the transitions of an ACTIVE claim
/// (warned, extended, ended), each expecting the claim as the caller read
/// it (its id and `updated_at`), so a plan made before an administrator's
/// extension never ends the extended seat.
impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Records that the member of `read` was warned its seat ends. Whether
    /// it was recorded (false: the claim changed since it was read).
    pub async fn record_warning(&self, read: &Claim, now: UnixMillis) -> Result<bool, LedgerError> {
        let change = Change::Warn {
            activated_at: read.activated_at().unwrap_or(read.updated_at),
        };
        let done = self
            .ledger
            .transition(&read.key, as_read(read), change, now)
            .await?;
        Ok(matches!(done, Transition::Done(_)))
    }

    /// Moves the end of the ACTIVE seat `read` to `until`. The claim after
    /// the change, or `None` when it changed since it was read.
    pub async fn extend_claim(
        &self,
        read: &Claim,
        until: UnixMillis,
        now: UnixMillis,
    ) -> Result<Option<Claim>, LedgerError> {
        let change = Change::Extend {
            until,
            activated_at: read.activated_at().unwrap_or(read.updated_at),
        };
        match self
            .ledger
            .transition(&read.key, as_read(read), change, now)
            .await?
        {
            Transition::Done(c) => Ok(Some(c)),
            Transition::Released | Transition::Refused(_) => Ok(None),
        }
    }

    /// Gives back the seat of the ACTIVE claim `read` whose member was
    /// downgraded or deleted in the portal (its licence freed), or is gone
    /// from the organization (reconciliation). Whether a seat was given back
    /// (false: the claim changed since it was read).
    pub async fn end_claim(&self, read: &Claim) -> Result<bool, LedgerError> {
        let done = self
            .ledger
            .transition(&read.key, as_read(read), Change::Release, 0)
            .await?;
        Ok(matches!(done, Transition::Released))
    }
}

/// What a lifecycle transition expects: the ACTIVE claim exactly as read.
fn as_read(read: &Claim) -> Expect<'_> {
    Expect {
        updated_at: Some(read.updated_at),
        ..Expect::new(&read.claim_id, ACTIVE)
    }
}

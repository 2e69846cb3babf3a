//! The claims port: [`ClaimStore`], who holds which seat of which pool, with
//! the pool counters, and its vocabulary ([`Claim`], [`ClaimState`],
//! [`Hold`], [`Stage`], [`ReserveRequest`], [`Reservation`], [`Expect`],
//! [`Change`], [`Transition`], [`Rekey`], [`PoolUsage`]).
//!
//! A claim's life is a small state machine: [`ClaimStore::reserve`] creates
//! it RESERVED with a [`Hold`] (why the seat is held, and so who may settle
//! it); [`ClaimStore::transition`] moves it, only from the stage and owner
//! (claim id) the caller expects, in one conditional write: to another hold,
//! to ACTIVE, or out (the seat given back). The workflow's
//! `provisioning::claims` is the one caller that decides which transition
//! happens when.
//!
//! The rules it must keep (no oversell, one seat per person per pool, safe
//! compensation, a worker keeping its reservation alive) are in the module
//! docs of [`crate::seats`]. This file only defines the port: it must not
//! know any store, and it never touches deliveries, requests, failures or
//! the audit trail.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::domain::{ClaimKey, PoolId, UnixMillis};
use crate::seats::error::LedgerError;
use crate::seats::failures::FailedSignup;

/// Where a claim is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClaimState {
    /// A seat is held; the member is not (yet) confirmed in the portal.
    Reserved,
    /// The member exists in the portal under `username`.
    Active,
}

impl ClaimState {
    /// The stored spelling (`RESERVED`, `ACTIVE`).
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimState::Reserved => "RESERVED",
            ClaimState::Active => "ACTIVE",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RESERVED" => Some(ClaimState::Reserved),
            "ACTIVE" => Some(ClaimState::Active),
            _ => None,
        }
    }
}

/// Why a RESERVED claim holds its seat, and so who may settle it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Hold {
    /// A request is creating the member now (the claim's delivery owns it).
    /// Past the stale-reservation time it is from a crashed attempt: a
    /// retry of another delivery may take it over, the sweeper settles it by
    /// looking the member up. A claim stored before holds existed reads as
    /// this.
    InFlight,
    /// Held for a request waiting for an approver: only the decision (or
    /// the request's expiry) settles it; the sweeper never does.
    Approval,
    /// A queued job will create the member; the job keeps it fresh, and the
    /// sweeper settles it only when no job touched it for the reservation
    /// timeout.
    Queued,
    /// An invitation was sent and its outcome not seen (a timeout, a lost
    /// reply): the member may exist. Settled by looking the member up (a
    /// retry of its delivery, the sweeper), never released blindly.
    Unknown,
}

impl Hold {
    /// Every hold.
    pub const ALL: [Hold; 4] = [Hold::InFlight, Hold::Approval, Hold::Queued, Hold::Unknown];

    /// The stored spelling (`IN_FLIGHT`, `APPROVAL`, `QUEUED`, `UNKNOWN`).
    pub fn as_str(self) -> &'static str {
        match self {
            Hold::InFlight => "IN_FLIGHT",
            Hold::Approval => "APPROVAL",
            Hold::Queued => "QUEUED",
            Hold::Unknown => "UNKNOWN",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Hold::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

/// A claim's place in its life: RESERVED for a reason, or ACTIVE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// A seat is held, for this reason.
    Reserved(Hold),
    /// The member exists.
    Active,
}

impl Stage {
    /// Every RESERVED stage.
    pub const RESERVED: [Stage; 4] = [
        Stage::Reserved(Hold::InFlight),
        Stage::Reserved(Hold::Approval),
        Stage::Reserved(Hold::Queued),
        Stage::Reserved(Hold::Unknown),
    ];
}

/// One held seat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// Pool and person.
    pub key: ClaimKey,
    /// Random id minted at reservation; `release` must name it.
    pub claim_id: String,
    /// Reserved or active.
    pub state: ClaimState,
    /// While RESERVED: why (`None` once ACTIVE).
    #[serde(default)]
    pub hold: Option<Hold>,
    /// While RESERVED: the username the workflow intends to create (its first
    /// candidate), so a recovery after a crash can look for the member. Once
    /// ACTIVE: the member's actual username (set by `confirm`).
    pub username: Option<String>,
    /// The delivery that reserved the seat (`source:id`), for the audit trail.
    pub delivery: String,
    /// When the seat was reserved.
    pub reserved_at: UnixMillis,
    /// Last change (any transition): what an [`Expect::updated_at`] names.
    pub updated_at: UnixMillis,
    /// When the claim first became ACTIVE (the member's seat began): set by
    /// the first activation and never moved after. `None` while RESERVED,
    /// and on ACTIVE claims stored before the field existed (read
    /// [`Claim::activated_at`], which falls back to `updated_at`).
    #[serde(default)]
    pub activated_at: Option<UnixMillis>,
    /// When an administrator extended the seat: its end, overriding the
    /// pool's `expires_after_days` / `ends_on`.
    #[serde(default)]
    pub extended_until: Option<UnixMillis>,
    /// When the member was last warned that the seat ends (cleared by an
    /// extension, so a new end gets its own warning).
    #[serde(default)]
    pub warned_at: Option<UnixMillis>,
}

impl Claim {
    /// Where the claim is in its life. A RESERVED claim without a hold
    /// (stored before holds existed) is in flight.
    pub fn stage(&self) -> Stage {
        match self.state {
            ClaimState::Active => Stage::Active,
            ClaimState::Reserved => Stage::Reserved(self.hold.unwrap_or(Hold::InFlight)),
        }
    }

    /// When the seat began: the first activation; for an ACTIVE claim
    /// stored before activations were recorded, its `updated_at` (its
    /// activation was its last change then). `None` while RESERVED.
    pub fn activated_at(&self) -> Option<UnixMillis> {
        match self.state {
            ClaimState::Reserved => None,
            ClaimState::Active => Some(self.activated_at.unwrap_or(self.updated_at)),
        }
    }
}

/// Everything `reserve` needs.
#[derive(Clone, Debug)]
pub struct ReserveRequest<'a> {
    /// Pool and person.
    pub key: &'a ClaimKey,
    /// The pool's seat count from the rules file. Passed on every call so the
    /// rules file stays the single source of truth for capacity.
    pub capacity: u32,
    /// The delivery asking (`source:id`).
    pub delivery: &'a str,
    /// A fresh random id for the claim if it gets created.
    pub claim_id: &'a str,
    /// The intended username (first candidate), kept on the RESERVED claim.
    pub username: &'a str,
    /// Why the seat is held.
    pub hold: Hold,
    /// The current time.
    pub now: UnixMillis,
}

impl ReserveRequest<'_> {
    /// The RESERVED claim this reservation creates when it takes a seat:
    /// what every adapter stores.
    pub(crate) fn reserved_claim(&self) -> Claim {
        Claim {
            key: self.key.clone(),
            claim_id: self.claim_id.to_string(),
            state: ClaimState::Reserved,
            hold: Some(self.hold),
            username: Some(self.username.to_string()),
            delivery: self.delivery.to_string(),
            reserved_at: self.now,
            updated_at: self.now,
            activated_at: None,
            extended_until: None,
            warned_at: None,
        }
    }
}

/// What `reserve` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// A seat was taken and a RESERVED claim created.
    Reserved(Claim),
    /// The person already holds a claim in this pool; no seat was taken.
    AlreadyHeld(Claim),
    /// Every seat of the pool is taken; nothing was written.
    PoolFull {
        /// Seats in use when the reservation was refused.
        used: u32,
    },
}

/// What a transition expects to find: the claim's id (the reservation that
/// owns it) and the stages it may be in. Anything else (another id, another
/// stage, no claim) refuses the transition and writes nothing.
#[derive(Clone, Copy, Debug)]
pub struct Expect<'a> {
    /// The claim's id.
    pub claim_id: &'a str,
    /// The stages it may be in.
    pub stages: &'a [Stage],
    /// When set, the claim's `updated_at` as the caller read it: a claim
    /// changed since (taken over by another delivery, touched by its
    /// worker) is refused too. For a caller that decides from a read made
    /// a while ago (the sweeper, between its read and its look-up).
    pub updated_at: Option<UnixMillis>,
}

impl<'a> Expect<'a> {
    /// The claim `claim_id` in one of `stages`, whenever it last changed.
    pub fn new(claim_id: &'a str, stages: &'a [Stage]) -> Self {
        Expect {
            claim_id,
            stages,
            updated_at: None,
        }
    }

    /// Whether `claim` is what was expected.
    pub fn matches(&self, claim: &Claim) -> bool {
        claim.claim_id == self.claim_id
            && self.stages.contains(&claim.stage())
            && self.updated_at.is_none_or(|read| claim.updated_at == read)
    }
}

/// What a transition does to the claim it expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// To ACTIVE: the member exists under `username`.
    Activate {
        /// The member's username.
        username: &'a str,
    },
    /// Held for another reason (and, with `delivery`, by another delivery:
    /// a crashed attempt's claim taken over); `updated_at` refreshed.
    Rehold {
        /// The new reason.
        hold: Hold,
        /// The new owning delivery (`source:id`), if it changes.
        delivery: Option<&'a str>,
    },
    /// Only `updated_at` refreshed (a worker still on it).
    Touch,
    /// An ACTIVE seat's end moved to `until` by an administrator; the
    /// warning is cleared so the new end gets its own.
    Extend {
        /// The new end.
        until: UnixMillis,
        /// The seat's activation as the caller read it
        /// ([`Claim::activated_at`]): recorded when the claim predates the
        /// field, so the change (which moves `updated_at`) cannot move it.
        activated_at: UnixMillis,
    },
    /// The member of an ACTIVE seat was warned that it ends.
    Warn {
        /// As for [`Change::Extend`].
        activated_at: UnixMillis,
    },
    /// The claim deleted and its seat given back.
    Release,
    /// A release that also records why: the person's failed sign-up is
    /// written in the same atomic write, so a crash can never leave a seat
    /// given back with nothing saying what became of the sign-up (model
    /// test seed 7010016: a job's give-up cut between its release and its
    /// failure record left an approved request with neither).
    Fail {
        /// What failed (one per pool + person, the latest wins).
        failure: &'a FailedSignup,
        /// How long the failure stays listed.
        retain_until: UnixMillis,
    },
}

impl<'a> Change<'a> {
    /// Whether the change deletes the claim and gives its seat back.
    pub fn releases(&self) -> bool {
        matches!(self, Change::Release | Change::Fail { .. })
    }

    /// The failure a [`Change::Fail`] records with its release.
    pub fn failure(&self) -> Option<(&'a FailedSignup, UnixMillis)> {
        match *self {
            Change::Fail {
                failure,
                retain_until,
            } => Some((failure, retain_until)),
            _ => None,
        }
    }
}

/// What a transition came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Done: the claim after the change.
    Done(Claim),
    /// Released: the claim is gone and its seat given back.
    Released,
    /// The claim was not as expected (returned, or `None` when there is
    /// none): nothing was written.
    Refused(Option<Claim>),
}

impl Claim {
    /// The claim after `change` at `now` (a release has no after; it leaves
    /// the claim as it was): what every adapter stores.
    pub(crate) fn changed(&self, change: Change<'_>, now: UnixMillis) -> Claim {
        let mut next = self.clone();
        match change {
            Change::Activate { username } => {
                next.state = ClaimState::Active;
                next.hold = None;
                next.username = Some(username.to_string());
                next.updated_at = now;
                next.activated_at = self.activated_at.or(Some(now));
            }
            Change::Extend {
                until,
                activated_at,
            } => {
                next.extended_until = Some(until);
                next.warned_at = None;
                next.activated_at = self.activated_at.or(Some(activated_at));
                next.updated_at = now;
            }
            Change::Warn { activated_at } => {
                next.warned_at = Some(now);
                next.activated_at = self.activated_at.or(Some(activated_at));
                next.updated_at = now;
            }
            Change::Rehold { hold, delivery } => {
                next.hold = Some(hold);
                if let Some(d) = delivery {
                    next.delivery = d.to_string();
                }
                next.updated_at = now;
            }
            Change::Touch => next.updated_at = now,
            Change::Release | Change::Fail { .. } => {}
        }
        next
    }
}

/// What `rekey` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rekey {
    /// The claim now belongs to the new person key (same id, state,
    /// username and seat).
    Moved(Claim),
    /// No claim with that id under the old key: nothing changed.
    NotFound,
    /// The new person already holds a claim in the pool (returned):
    /// nothing changed.
    Taken(Claim),
}

/// A pool's counter as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolUsage {
    /// The pool.
    pub pool: PoolId,
    /// Seats taken (reserved + active claims).
    pub used: u32,
}

/// The claims port: seats taken, confirmed, moved and given back, atomically
/// with the pool's counter. All methods are atomic with respect to each
/// other for the same key; see the module docs of [`crate::seats`].
///
/// Futures are spelled out as `Send` so handlers can be spawned on a
/// multi-threaded runtime.
pub trait ClaimStore: Send + Sync {
    /// Takes a seat for `req.key` if the pool has one free and the person has
    /// none; see [`Reservation`].
    fn reserve(
        &self,
        req: ReserveRequest<'_>,
    ) -> impl Future<Output = Result<Reservation, LedgerError>> + Send;

    /// Moves the claim under `key` as `change` says, only when it is what
    /// `expect` names (its id and one of the stages): one conditional write,
    /// atomic with the pool's counter for a release. Of concurrent
    /// transitions expecting the same stage, exactly one is done.
    fn transition(
        &self,
        key: &ClaimKey,
        expect: Expect<'_>,
        change: Change<'_>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Transition, LedgerError>> + Send;

    /// Marks the claim ACTIVE under `username`, from any stage with this id.
    /// Idempotent: confirming an active claim with the same id again
    /// succeeds. Fails with [`LedgerError::ClaimNotFound`] if the claim is
    /// gone or has another id.
    fn confirm(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        username: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Claim, LedgerError>> + Send {
        async move {
            const ANY: [Stage; 5] = [
                Stage::Active,
                Stage::Reserved(Hold::InFlight),
                Stage::Reserved(Hold::Approval),
                Stage::Reserved(Hold::Queued),
                Stage::Reserved(Hold::Unknown),
            ];
            let expect = Expect::new(claim_id, &ANY);
            match self
                .transition(key, expect, Change::Activate { username }, now)
                .await?
            {
                Transition::Done(c) => Ok(c),
                Transition::Released | Transition::Refused(_) => Err(LedgerError::ClaimNotFound),
            }
        }
    }

    /// Deletes the claim and gives its seat back, only if its id is
    /// `claim_id` and it is still RESERVED (an ACTIVE claim's member exists:
    /// its seat is never given back by a late compensation). Returns whether
    /// a seat was given back.
    fn release(
        &self,
        key: &ClaimKey,
        claim_id: &str,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send {
        async move {
            let expect = Expect::new(claim_id, &Stage::RESERVED);
            let done = self.transition(key, expect, Change::Release, 0).await?;
            Ok(matches!(done, Transition::Released))
        }
    }

    /// Moves the claim `claim_id` from `key` to the person key
    /// `new_person` in the same pool, when a member's e-mail changes: the
    /// same id, state, username and seat, so the pool's count does not
    /// change and a sign-up under the new e-mail finds the seat it already
    /// holds. Moving to the same person is [`Rekey::Moved`] with the claim
    /// unchanged.
    fn rekey(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        new_person: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Rekey, LedgerError>> + Send;

    /// Reads one claim.
    fn claim(
        &self,
        key: &ClaimKey,
    ) -> impl Future<Output = Result<Option<Claim>, LedgerError>> + Send;

    /// Reads every claim of a pool (status pages, reconciliation, tests).
    fn claims(&self, pool: &PoolId)
    -> impl Future<Output = Result<Vec<Claim>, LedgerError>> + Send;

    /// Reads a pool's counter (0 for a pool never used).
    fn usage(&self, pool: &PoolId) -> impl Future<Output = Result<PoolUsage, LedgerError>> + Send;

    /// Refreshes `updated_at` of a RESERVED claim with this id (the worker is
    /// still on it). Returns false (and writes nothing) when the claim is
    /// gone, has another id, or is ACTIVE.
    fn touch(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send {
        async move {
            let expect = Expect::new(claim_id, &Stage::RESERVED);
            let done = self.transition(key, expect, Change::Touch, now).await?;
            Ok(matches!(done, Transition::Done(_)))
        }
    }
}

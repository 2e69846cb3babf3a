//! The provisioning workflow: idempotency check → reserve → create member →
//! confirm, with compensation.
//!
//! [`Provisioner::handle`] is the one place that drives the ports. It returns
//! an [`Outcome`]; entry points map outcomes to HTTP (see
//! `entrypoints::http::respond`). It never panics and never leaves a seat
//! held for a member that was not created: every failure after the
//! reservation releases the seat before answering.
//!
//! Crash safety comes from determinism rather than extra writes: a
//! redelivery after a crash finds its stale RESERVED claim, derives the same
//! username candidates, and adopts the member the first attempt may already
//! have created.

mod approval;
mod jobs;
mod outcome;
mod recovery;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::Clock;
use crate::config::WorkflowSettings;
use crate::domain::{ClaimKey, DeliveryKey, Overrides, SignupRequest, UnixMillis};
use crate::ids::Ids;
use crate::policy::username::{MAX_CANDIDATES, candidate};
use crate::policy::{Decision, InvitationMode, Policy};
use crate::portal::{Invitation, NewMember, Portal, PortalError};
use crate::queue::{Job, JobSink};
use crate::seats::{ClaimState, DeliveryBegin, Reservation, ReserveRequest, SeatLedger};

pub use approval::{ApprovalWiring, DecisionOutcome, RequestPayload, view};
pub use jobs::JobResult;
pub use outcome::{Handled, Outcome};
pub use recovery::SweepReport;

/// Drives one sign-up through the ports.
pub struct Provisioner<L, P> {
    ledger: Arc<L>,
    portal: Arc<P>,
    policy: Arc<Policy>,
    settings: WorkflowSettings,
    approvals: ApprovalWiring,
    /// Where the workers and sweeps read the time (callers pass `now` in).
    clock: Clock,
    /// Where claim ids, request ids and generated passwords come from.
    ids: Ids,
}

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Wires the workflow.
    pub fn new(
        ledger: Arc<L>,
        portal: Arc<P>,
        policy: Arc<Policy>,
        settings: WorkflowSettings,
    ) -> Self {
        Provisioner {
            ledger,
            portal,
            policy,
            settings,
            approvals: ApprovalWiring::default(),
            clock: Clock::system(),
            ids: Ids::random(),
        }
    }

    /// Reads the time from `clock` (the wiring passes the process's one
    /// clock; tests a manual one).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Draws ids and passwords from `ids`.
    pub fn with_ids(mut self, ids: Ids) -> Self {
        self.ids = ids;
        self
    }

    /// The clock the workflow's own loops (workers, sweeps) read.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Connects the approval step to its notifiers and link maker.
    pub fn with_approvals(mut self, wiring: ApprovalWiring) -> Self {
        self.approvals = wiring;
        self
    }

    /// The ledger (status pages, tests).
    pub fn ledger(&self) -> &Arc<L> {
        &self.ledger
    }

    /// The portal (routes that read from it before the workflow runs, e.g.
    /// a Survey123 record re-read).
    pub fn portal(&self) -> &Arc<P> {
        &self.portal
    }

    /// The policy.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// Handles one verified, parsed delivery. `payload_hash` identifies the
    /// body so a reused delivery id with another body is refused.
    pub async fn handle(
        &self,
        delivery: &DeliveryKey,
        payload_hash: &str,
        req: &SignupRequest,
        now: UnixMillis,
    ) -> Handled {
        self.handle_with(delivery, payload_hash, req, &Overrides::default(), now)
            .await
    }

    /// [`Self::handle`] with values that win over the pool's defaults (a CSV
    /// row's role, user type, groups and exact username).
    pub async fn handle_with(
        &self,
        delivery: &DeliveryKey,
        payload_hash: &str,
        req: &SignupRequest,
        overrides: &Overrides,
        now: UnixMillis,
    ) -> Handled {
        self.handle_or_defer(delivery, payload_hash, req, overrides, None, now)
            .await
    }

    /// [`Self::handle_with`] for senders that do not retry well (forms): when
    /// the portal does not create the member within the deadline, or is
    /// unavailable, the reserved seat is kept and the creation handed to
    /// `fallback`'s worker ([`Outcome::Accepted`]) instead of released. With
    /// no fallback, or if the queue refuses the job, the seat is released as
    /// in [`Self::handle_with`].
    pub async fn handle_or_defer(
        &self,
        delivery: &DeliveryKey,
        payload_hash: &str,
        req: &SignupRequest,
        overrides: &Overrides,
        fallback: Option<&dyn JobSink>,
        now: UnixMillis,
    ) -> Handled {
        // Policy first: it is pure, so a request no pool accepts is refused
        // without writing anything.
        let decision = match self.decide(req, overrides) {
            Ok(d) => d,
            Err(rejection) => {
                tracing::info!(delivery = %delivery.as_string(), "rejected: {rejection}");
                return Handled::fresh(no_matching_pool());
            }
        };
        if let Err(answer) = self.begin(delivery, payload_hash, now).await {
            return answer;
        }
        let outcome = if approval::effective_approval(overrides, &decision)
            == crate::domain::ApprovalMode::Manual
        {
            self.request_approval(delivery, req, overrides, &decision, now)
                .await
        } else {
            match self
                .provision(delivery, req, &decision, overrides, fallback, now)
                .await
            {
                Outcome::PoolFull { .. } if decision.waitlist => {
                    self.join_waitlist(delivery, req, overrides, &decision, now)
                        .await
                }
                other => other,
            }
        };
        self.finish(delivery, &outcome, now).await;
        Handled::fresh(outcome)
    }

    /// Takes the delivery's lease, or returns the answer to give instead
    /// (a replay, "in progress", a reused id).
    async fn begin(
        &self,
        delivery: &DeliveryKey,
        payload_hash: &str,
        now: UnixMillis,
    ) -> Result<(), Handled> {
        let lease_ms = self.settings.lease.as_millis() as i64;
        let answer = match self
            .ledger
            .begin_delivery(delivery, payload_hash, now, lease_ms)
            .await
        {
            Ok(DeliveryBegin::Started) => return Ok(()),
            Ok(DeliveryBegin::InProgress) => Handled::fresh(Outcome::retry(
                "delivery_in_progress",
                "This delivery is being handled by another attempt.",
                5,
            )),
            Ok(DeliveryBegin::Completed(json)) => match serde_json::from_str::<Outcome>(&json) {
                Ok(o) => Handled {
                    outcome: o,
                    replayed: true,
                },
                Err(e) => {
                    tracing::error!(delivery = %delivery.as_string(), "stored outcome unreadable: {e}");
                    Handled::fresh(store_unavailable())
                }
            },
            Ok(DeliveryBegin::PayloadMismatch) => Handled::fresh(Outcome::Rejected {
                code: "delivery_id_reused".into(),
                message: "This delivery id was already used with a different body.".into(),
            }),
            Err(e) => {
                tracing::error!(delivery = %delivery.as_string(), "ledger: {e}");
                Handled::fresh(store_unavailable())
            }
        };
        Err(answer)
    }

    /// Stores a final outcome for replays, or drops the lease of a transient
    /// one so the sender's retry runs again.
    async fn finish(&self, delivery: &DeliveryKey, outcome: &Outcome, now: UnixMillis) {
        if outcome.is_final() {
            let retain_until = now + self.settings.retain.as_millis() as i64;
            match serde_json::to_string(outcome) {
                Ok(json) => {
                    if let Err(e) = self
                        .ledger
                        .finish_delivery(delivery, &json, now, retain_until)
                        .await
                    {
                        // The lease expires on its own; a retry then finds the
                        // claim and answers from it.
                        tracing::warn!(delivery = %delivery.as_string(), "could not store outcome: {e}");
                    }
                }
                Err(e) => tracing::error!("outcome not serialisable: {e}"),
            }
        } else if let Err(e) = self.ledger.abandon_delivery(delivery).await {
            tracing::warn!(delivery = %delivery.as_string(), "could not drop lease: {e}");
        }
    }

    /// The policy's decision with the overrides applied.
    fn decide(
        &self,
        req: &SignupRequest,
        overrides: &Overrides,
    ) -> Result<Decision, crate::policy::Rejection> {
        let mut decision = self.policy.decide(req)?;
        decision.apply(overrides);
        Ok(decision)
    }

    async fn provision(
        &self,
        delivery: &DeliveryKey,
        req: &SignupRequest,
        decision: &Decision,
        overrides: &Overrides,
        fallback: Option<&dyn JobSink>,
        now: UnixMillis,
    ) -> Outcome {
        let (key, claim_id) = match self
            .reserve_claim(delivery, req, decision, now, false)
            .await
        {
            Ok(held) => held,
            Err(outcome) => return outcome,
        };

        let deadline = Instant::now() + self.settings.deadline;
        match self
            .create_member(req, decision, candidates(overrides), deadline)
            .await
        {
            Ok(created) => match self
                .ledger
                .confirm(&key, &claim_id, &created.username, now)
                .await
            {
                Ok(_) => {
                    tracing::info!(pool = %decision.pool, username = %created.username, adopted = created.adopted, "member provisioned");
                    self.audit(
                        &delivery.as_string(),
                        "member.created",
                        &key,
                        format!(
                            "{} ({}, {}){}",
                            created.username,
                            decision.role,
                            decision.user_type,
                            if created.adopted { ", adopted" } else { "" }
                        ),
                        now,
                    )
                    .await;
                    Outcome::Provisioned {
                        pool: decision.pool.to_string(),
                        username: created.username,
                        invitation: matches!(decision.invitation, InvitationMode::Email),
                        adopted: created.adopted,
                    }
                }
                Err(e) => {
                    // The member exists but the claim is still RESERVED; the
                    // retry adopts the member and confirms.
                    tracing::error!(pool = %decision.pool, "ledger confirm: {e}");
                    store_unavailable()
                }
            },
            Err(err) => {
                if let Some(sink) = fallback.filter(|_| err.is_transient()) {
                    let job = Job {
                        delivery: delivery.clone(),
                        request: req.clone(),
                        overrides: overrides.clone(),
                        claim: key.clone(),
                        claim_id: claim_id.clone(),
                        accepted_at: now,
                    };
                    if let Some(accepted) = self.defer(sink, &job, decision, &err, now).await {
                        return accepted;
                    }
                }
                // Compensation: the member was not created, give the seat back.
                let released = self.release_with_retry(&key, &claim_id).await;
                tracing::warn!(pool = %decision.pool, released, "member not created: {err}");
                self.audit(
                    &delivery.as_string(),
                    "member.failed",
                    &key,
                    format!("{err}; seat released: {released}"),
                    now,
                )
                .await;
                failure_outcome(&err)
            }
        }
    }

    /// Reserves the person's seat: the claim's key and id to work on, or the
    /// answer when there is nothing to do. A live reservation by another
    /// attempt is "in progress" (`queued`: "accepted", its job will finish
    /// it); a stale one is taken over.
    async fn reserve_claim(
        &self,
        delivery: &DeliveryKey,
        req: &SignupRequest,
        decision: &Decision,
        now: UnixMillis,
        queued: bool,
    ) -> Result<(ClaimKey, String), Outcome> {
        let key = ClaimKey {
            pool: decision.pool.clone(),
            person: req.email.key(),
        };
        let claim_id = match self.reserve_seat(&key, decision, delivery, now).await {
            Ok(Reservation::Reserved(c)) => c.claim_id,
            Ok(Reservation::PoolFull { used }) => {
                tracing::info!(pool = %decision.pool, used, "pool full");
                return Err(Outcome::PoolFull {
                    pool: decision.pool.to_string(),
                    seats: decision.capacity,
                });
            }
            Ok(Reservation::AlreadyHeld(c)) => match c.state {
                ClaimState::Active => {
                    return Err(Outcome::AlreadyMember {
                        pool: decision.pool.to_string(),
                        username: c.username.unwrap_or_default(),
                    });
                }
                ClaimState::Reserved
                    if now - c.updated_at < self.settings.stale_reservation.as_millis() as i64 =>
                {
                    return Err(if queued {
                        Outcome::Accepted {
                            pool: decision.pool.to_string(),
                            username: c.username.unwrap_or_default(),
                        }
                    } else {
                        Outcome::retry(
                            "claim_in_progress",
                            "A seat for this person is being set up by another request.",
                            10,
                        )
                    });
                }
                ClaimState::Reserved => {
                    // An attempt crashed after reserving: take its claim over.
                    tracing::warn!(pool = %decision.pool, claim = %c.claim_id, "adopting a stale reservation");
                    c.claim_id
                }
            },
            Err(e) => {
                tracing::error!("ledger reserve: {e}");
                return Err(store_unavailable());
            }
        };
        Ok((key, claim_id))
    }

    /// Takes a seat for `key` in the decided pool under a fresh claim id
    /// (see [`SeatLedger::reserve`]).
    async fn reserve_seat(
        &self,
        key: &ClaimKey,
        decision: &Decision,
        delivery: &DeliveryKey,
        now: UnixMillis,
    ) -> Result<Reservation, crate::seats::LedgerError> {
        self.ledger
            .reserve(ReserveRequest {
                key,
                capacity: decision.capacity,
                delivery: &delivery.as_string(),
                claim_id: &self.ids.claim_id(),
                username: decision.username.as_str(),
                now,
            })
            .await
    }

    async fn release_with_retry(&self, key: &ClaimKey, claim_id: &str) -> bool {
        for attempt in 0..3u32 {
            match self.ledger.release(key, claim_id).await {
                Ok(released) => return released,
                Err(e) => {
                    tracing::error!(attempt, "release failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        false
    }

    /// Finds a free username and creates the member, or adopts the member a
    /// previous attempt created.
    async fn create_member(
        &self,
        req: &SignupRequest,
        decision: &Decision,
        candidates: u32,
        deadline: Instant,
    ) -> Result<Created, PortalError> {
        let portal = &*self.portal;
        let org_id = within(deadline, portal.org_id()).await?;
        let ids = within(deadline, portal.group_ids(&decision.groups)).await?;
        let mut group_ids = Vec::with_capacity(ids.len());
        for (name, id) in decision.groups.iter().zip(ids) {
            match id {
                Some(id) => group_ids.push(id),
                None => {
                    return Err(PortalError::Rejected {
                        code: "group_not_found".into(),
                        message: format!("no group titled {name:?} in the organization"),
                    });
                }
            }
        }
        let email_key = req.email.key();
        let is_ours = |m: &crate::portal::Member| {
            m.org_id.as_deref() == Some(org_id.as_str())
                && m.email.as_deref().map(str::to_lowercase).as_deref() == Some(email_key.as_str())
        };
        for n in 0..candidates {
            let name = candidate(&decision.username, n);
            let username = name.as_str();
            if let Some(existing) = within(deadline, portal.member(username)).await? {
                if is_ours(&existing) {
                    return Ok(Created::adopted(username));
                }
                continue;
            }
            if !within(deadline, portal.username_available(username)).await? {
                continue;
            }
            let member = NewMember {
                username: username.to_string(),
                email: req.email.as_str().to_string(),
                first_name: req.first_name.clone().unwrap_or_default(),
                last_name: req.last_name.clone().unwrap_or_default(),
                role: decision.role.clone(),
                user_type: decision.user_type.clone(),
                group_ids: group_ids.clone(),
                invitation: match decision.invitation {
                    InvitationMode::Email => Invitation::Email,
                    InvitationMode::Password => Invitation::Password(self.ids.password()),
                },
            };
            match within(deadline, portal.invite(&member)).await {
                Ok(()) => return Ok(Created::new(username)),
                Err(err @ (PortalError::NotInvited { .. } | PortalError::Unavailable(_))) => {
                    // The invitation may have gone through after all (a retry
                    // of a timed-out invite, a concurrent attempt): look once.
                    let again =
                        tokio::time::timeout(Duration::from_secs(3), portal.member(username)).await;
                    if let Ok(Ok(Some(m))) = again
                        && is_ours(&m)
                    {
                        return Ok(Created::adopted(username));
                    }
                    if matches!(err, PortalError::NotInvited { .. })
                        && matches!(
                            tokio::time::timeout(
                                Duration::from_secs(3),
                                portal.username_available(username)
                            )
                            .await,
                            Ok(Ok(false))
                        )
                    {
                        // Taken by someone else in the meantime: next name.
                        continue;
                    }
                    return Err(err);
                }
                Err(other) => return Err(other),
            }
        }
        Err(PortalError::Rejected {
            code: "username_unavailable".into(),
            message: if candidates == 1 {
                format!("the username {} is taken", decision.username)
            } else {
                format!(
                    "{candidates} usernames derived from {} are all taken",
                    decision.username
                )
            },
        })
    }
}

struct Created {
    username: String,
    adopted: bool,
}

impl Created {
    fn new(u: &str) -> Self {
        Created {
            username: u.to_string(),
            adopted: false,
        }
    }
    fn adopted(u: &str) -> Self {
        Created {
            username: u.to_string(),
            adopted: true,
        }
    }
}

/// How many usernames may be tried: the request's exact one only when the
/// overrides say so, otherwise the numbered alternatives too.
fn candidates(overrides: &Overrides) -> u32 {
    if overrides.exact_username {
        1
    } else {
        MAX_CANDIDATES
    }
}

/// Runs a portal call within the request's remaining time.
async fn within<T>(
    deadline: Instant,
    fut: impl std::future::Future<Output = Result<T, PortalError>>,
) -> Result<T, PortalError> {
    match tokio::time::timeout_at(deadline, fut).await {
        Ok(r) => r,
        Err(_) => Err(PortalError::Unavailable(
            "the portal did not answer within the request's deadline".into(),
        )),
    }
}

fn store_unavailable() -> Outcome {
    Outcome::retry("store_unavailable", "The seat store is unavailable.", 30)
}

fn no_matching_pool() -> Outcome {
    Outcome::Rejected {
        code: "no_matching_pool".into(),
        message: "No pool accepts this request (e-mail domain, organization or pool field).".into(),
    }
}

fn failure_outcome(err: &PortalError) -> Outcome {
    match err {
        PortalError::Unavailable(_) | PortalError::Protocol(_) => Outcome::retry(
            "portal_unavailable",
            "ArcGIS Online did not answer in time; the seat was released. Retry later.",
            60,
        ),
        PortalError::Config(_) => Outcome::retry(
            "portal_misconfigured",
            "The broker's ArcGIS connection is misconfigured; the seat was released. An operator must fix it.",
            300,
        ),
        PortalError::Auth(_) => Outcome::retry(
            "portal_auth_failed",
            "The broker's ArcGIS administrator credentials were refused; the seat was released. An operator must fix the credentials.",
            300,
        ),
        PortalError::NotInvited { .. } => Outcome::PortalFailed {
            code: "portal_refused".into(),
            message: "ArcGIS Online refused to create the member (no seat of this user type left in the organization, an incompatible role, or an invalid e-mail); the seat was released.".into(),
        },
        PortalError::Rejected { code, message } => Outcome::PortalFailed {
            code: if code == "group_not_found" || code == "username_unavailable" {
                code.clone()
            } else {
                "portal_rejected".into()
            },
            message: format!("ArcGIS Online rejected the request: {message}; the seat was released."),
        },
    }
}

#[cfg(test)]
mod tests;

//! A sign-up, from a verified delivery to its outcome: the one workflow
//! function every sender's route calls ([`Provisioner::sign_up`]).
//!
//! Policy first (pure: a request no pool accepts writes nothing), then the
//! delivery lease, then one of three ways to the member ([`Creation`]):
//! created in the request; created in the request with the job queue as a
//! fallback when the portal is slow (forms, which do not resend); or the
//! seat reserved and the creation queued at once (the identity providers'
//! hooks, which must answer within 2–3 seconds). A pool that needs approval
//! turns the sign-up into a pending request instead; a full pool with a
//! waitlist into a waitlisted one. Every failure after the reservation gives
//! the seat back before answering, unless the creation was queued.
//!
//! Crash safety comes from determinism rather than extra writes: a
//! redelivery after a crash finds its stale RESERVED claim, derives the same
//! username candidates, and adopts the member the first attempt may already
//! have created.

use tokio::time::Instant;

use crate::telemetry::emf::{self, MetricLine, Unit};

use super::claims::{Held, QUEUED};
use super::member::{CreateError, Created, candidates};
use super::outcome::{Handled, Outcome, failure_outcome, no_matching_pool, store_unavailable};
use super::workflow::{Provisioner, effective_approval};
use crate::domain::{ApprovalMode, DeliveryKey, Overrides, SignupRequest, UnixMillis};
use crate::policy::{Grant, InvitationMode};
use crate::portal::{Portal, PortalError};
use crate::queue::{Job, JobSink};
use crate::seats::{Hold, SeatLedger, Stage, Transition};

/// How a sign-up's member gets created.
#[derive(Clone, Copy)]
pub enum Creation<'a> {
    /// In the request; a slow portal releases the seat and answers "retry
    /// later" (the import, and deployments without a queue).
    InRequest,
    /// In the request; when the portal does not create the member within
    /// the deadline, or is unavailable, the reserved seat is kept and the
    /// creation handed to the queue ([`Outcome::Accepted`]). If the queue
    /// refuses the job, the seat is released as with [`Creation::InRequest`].
    /// For senders that do not retry well (forms).
    InRequestOrQueue(&'a dyn JobSink),
    /// Reserve the seat and queue the creation at once, answering
    /// [`Outcome::Accepted`] (the Okta and Entra hooks).
    Queued(&'a dyn JobSink),
}

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Handles one verified, parsed delivery. `payload_hash` identifies the
    /// body so a reused delivery id with another body is refused;
    /// `overrides` win over the pool's grants (a sender's approval setting, a
    /// CSV row's columns). The outcome is stored for replays unless it is
    /// "retry later".
    pub async fn sign_up(
        &self,
        delivery: &DeliveryKey,
        payload_hash: &str,
        req: &SignupRequest,
        overrides: &Overrides,
        creation: Creation<'_>,
        now: UnixMillis,
    ) -> Handled {
        let handled = self
            .sign_up_once(delivery, payload_hash, req, overrides, creation, now)
            .await;
        // A replay was counted when it was first handled.
        if !handled.replayed {
            let mut line = MetricLine::at(now);
            if let Some(pool) = handled.outcome.pool() {
                line = line.dimension("Pool", pool);
            }
            emf::emit(&line.dimension("Code", handled.outcome.code()).metric(
                emf::SIGN_UPS,
                1.0,
                Unit::Count,
            ));
        }
        handled
    }

    /// [`Self::sign_up`] without its metrics.
    async fn sign_up_once(
        &self,
        delivery: &DeliveryKey,
        payload_hash: &str,
        req: &SignupRequest,
        overrides: &Overrides,
        creation: Creation<'_>,
        now: UnixMillis,
    ) -> Handled {
        // Policy first: it is pure, so a request no pool accepts is refused
        // without writing anything.
        let grant = match self.grant_for(req, overrides) {
            Ok(d) => d,
            Err(rejection) => {
                tracing::info!(delivery = %delivery.as_string(), "rejected: {rejection}");
                return Handled::fresh(no_matching_pool());
            }
        };
        let manual = effective_approval(overrides, &grant) == ApprovalMode::Manual;
        // A member created in the request: the lease and the seat in one
        // write, and (below) the activation, the audit record and the
        // outcome in one more.
        let in_request = !manual && !matches!(creation, Creation::Queued(_));
        let (attempt, opened) = if in_request {
            match self
                .open_sign_up(delivery, payload_hash, req, &grant, now)
                .await
            {
                Ok(opened) => opened,
                Err(answer) => return answer,
            }
        } else {
            match self.begin_delivery(delivery, payload_hash, now).await {
                Ok(attempt) => (attempt, None),
                Err(answer) => return answer.into(),
            }
        };
        let mut stored = false;
        let outcome = if manual {
            self.request_approval(delivery, req, overrides, &grant, now)
                .await
        } else {
            let fallback = match creation {
                Creation::InRequestOrQueue(sink) => Some(sink),
                _ => None,
            };
            let outcome = match creation {
                Creation::InRequest | Creation::InRequestOrQueue(_) => {
                    let (outcome, closed) = self
                        .provision(
                            delivery, req, &grant, overrides, fallback, opened, &attempt, now,
                        )
                        .await;
                    stored = closed;
                    outcome
                }
                Creation::Queued(sink) => {
                    self.reserve_and_queue(delivery, req, &grant, overrides, sink, now)
                        .await
                }
            };
            match outcome {
                Outcome::PoolFull { .. } if grant.waitlist => {
                    self.join_waitlist(delivery, req, overrides, &grant, now)
                        .await
                }
                other => other,
            }
        };
        if !stored {
            self.finish_delivery(delivery, &attempt, &outcome, now)
                .await;
        }
        Handled::fresh(outcome)
    }

    /// The member created in the request: reserve (unless `opened` is the
    /// seat reserved with the lease), create (or adopt), confirm; on a
    /// portal failure, queue the creation when a `fallback` is given and the
    /// failure is transient, otherwise give the seat back. With the member
    /// made, the confirmation, the audit record and the outcome go in one
    /// write when they can ([`Self::close_sign_up`]); the flag says the
    /// outcome is stored already.
    #[allow(clippy::too_many_arguments)]
    async fn provision(
        &self,
        delivery: &DeliveryKey,
        req: &SignupRequest,
        grant: &Grant,
        overrides: &Overrides,
        fallback: Option<&dyn JobSink>,
        opened: Option<Held>,
        attempt: &str,
        now: UnixMillis,
    ) -> (Outcome, bool) {
        let held = match opened {
            Some(held) => held,
            None => match self
                .reserve_claim(delivery, req, grant, Hold::InFlight, now)
                .await
            {
                Ok(held) => held,
                Err(outcome) => return (outcome, false),
            },
        };
        let (key, claim_id, from) = (&held.key, &held.claim_id, &held.stage());

        let started = Instant::now();
        let deadline = started + self.settings.deadline;
        let created = self
            .create_member(req, grant, candidates(overrides), deadline)
            .await;
        emit_portal_time(&grant.pool, started, now);
        let outcome = match created {
            Ok(created) => {
                let provisioned = Outcome::Provisioned {
                    pool: grant.pool.to_string(),
                    username: created.username.clone(),
                    invitation: matches!(grant.invitation, InvitationMode::Email),
                    adopted: created.adopted,
                };
                let audit = self.audit_event(
                    &delivery.as_string(),
                    "member.created",
                    key,
                    created_detail(&created, grant),
                    now,
                );
                // One write for the confirmation, the audit record and the
                // outcome; when it does not apply, the steps one by one.
                if self
                    .close_sign_up(
                        delivery,
                        attempt,
                        &held,
                        &created.username,
                        &audit,
                        &provisioned,
                        now,
                    )
                    .await
                {
                    tracing::info!(pool = %grant.pool, username = %created.username, adopted = created.adopted, "member provisioned");
                    return (provisioned, true);
                }
                match self
                    .activate(key, claim_id, from, &created.username, now)
                    .await
                {
                    Ok(Transition::Done(_)) => {
                        tracing::info!(pool = %grant.pool, username = %created.username, adopted = created.adopted, "member provisioned");
                        self.record_audit(&audit).await;
                        provisioned
                    }
                    Ok(other) => {
                        // Only the sweeper moves a claim in flight, and only a
                        // stale one: this attempt outlived its lease. The member
                        // exists; the retry adopts it.
                        tracing::error!(pool = %grant.pool, ?other, "the claim moved on during the creation");
                        store_unavailable()
                    }
                    Err(e) => {
                        // The member exists but the claim is still RESERVED; the
                        // retry (this delivery resumes its own claim) adopts the
                        // member and confirms.
                        tracing::error!(pool = %grant.pool, "ledger confirm: {e}");
                        store_unavailable()
                    }
                }
            }
            Err(CreateError {
                error: err,
                invite_sent,
            }) => {
                // Unknown when this attempt's invitation, or an earlier
                // one's, may still land.
                let unknown = invite_sent || held.unknown();
                if let Some(sink) = fallback.filter(|_| err.is_transient() || unknown) {
                    let job = Job {
                        delivery: delivery.clone(),
                        request: req.clone(),
                        overrides: overrides.clone(),
                        claim: key.clone(),
                        claim_id: claim_id.clone(),
                        accepted_at: now,
                    };
                    let job_hold = if unknown { Hold::Unknown } else { Hold::Queued };
                    if let Some(accepted) = self
                        .defer(sink, &job, from, job_hold, grant, &err, now)
                        .await
                    {
                        return (accepted, false);
                    }
                }
                if unknown {
                    // Unknown is not failed: the invitation may have gone
                    // through. The seat stays held until a look-up settles
                    // it (the sender's retry of this delivery, another
                    // sign-up of the person, or the sweeper).
                    let kept = self.rehold(key, claim_id, from, Hold::Unknown, now).await;
                    tracing::warn!(pool = %grant.pool, kept, "the invitation's outcome was not seen: {err}");
                    self.audit(
                        &delivery.as_string(),
                        "member.unknown",
                        key,
                        format!("{err}; the seat is kept until the member is looked up"),
                        now,
                    )
                    .await;
                    return (
                        Outcome::retry(
                            "portal_unavailable",
                            "ArcGIS Online did not answer in time; the seat is kept until the outcome is known. Retry later.",
                            60,
                        ),
                        false,
                    );
                }
                // Compensation: the member was not created, give the seat back.
                let released = self.give_back(key, claim_id, from).await;
                tracing::warn!(pool = %grant.pool, released, "member not created: {err}");
                self.audit(
                    &delivery.as_string(),
                    "member.failed",
                    key,
                    format!("{err}; seat released: {released}"),
                    now,
                )
                .await;
                failure_outcome(&err)
            }
        };
        (outcome, false)
    }

    /// The fast half of a sign-up: reserve a seat and queue the member's
    /// creation. [`Outcome::Accepted`] when a job was queued (or one is
    /// already under way for this person), the usual refusals otherwise.
    async fn reserve_and_queue(
        &self,
        delivery: &DeliveryKey,
        req: &SignupRequest,
        grant: &Grant,
        overrides: &Overrides,
        sink: &dyn JobSink,
        now: UnixMillis,
    ) -> Outcome {
        match self
            .reserve_claim(delivery, req, grant, Hold::Queued, now)
            .await
        {
            Err(outcome) => outcome,
            Ok(held) => {
                let job = Job {
                    delivery: delivery.clone(),
                    request: req.clone(),
                    overrides: overrides.clone(),
                    claim: held.key.clone(),
                    claim_id: held.claim_id.clone(),
                    accepted_at: now,
                };
                match sink.enqueue(&job).await {
                    Ok(()) => {
                        tracing::info!(pool = %grant.pool, delivery = %delivery.as_string(), "seat reserved, member queued");
                        Outcome::Accepted {
                            pool: grant.pool.to_string(),
                            username: grant.username.to_string(),
                        }
                    }
                    Err(e) if held.unknown() => {
                        // An earlier invitation may still land: the seat
                        // stays for a look-up.
                        tracing::error!("{e}; the seat is kept (outcome unknown)");
                        Outcome::retry(
                            "queue_unavailable",
                            "The job queue is unavailable. Retry later.",
                            30,
                        )
                    }
                    Err(e) => {
                        let released = self.give_back(&held.key, &held.claim_id, QUEUED).await;
                        tracing::error!(released, "{e}");
                        Outcome::retry(
                            "queue_unavailable",
                            "The job queue is unavailable; the seat was released. Retry later.",
                            30,
                        )
                    }
                }
            }
        }
    }

    /// The synchronous path's fallback: the portal did not create the
    /// member in time (`err` is transient, or an invitation may still
    /// land), so the reserved seat is kept and the creation queued, the
    /// claim moved from `from` to `hold` (UNKNOWN when an invitation may
    /// land: the job looks it up and never gives it back blindly).
    /// [`Outcome::Accepted`], or `None` when the queue refused the job and
    /// the caller settles the seat as usual.
    #[allow(clippy::too_many_arguments)]
    async fn defer(
        &self,
        sink: &dyn JobSink,
        job: &Job,
        from: &[Stage],
        hold: Hold,
        grant: &Grant,
        err: &PortalError,
        now: UnixMillis,
    ) -> Option<Outcome> {
        let delivery = job.delivery.as_string();
        if let Err(e) = sink.enqueue(job).await {
            tracing::error!(delivery, "portal slow and {e}: the seat is released");
            return None;
        }
        // The job owns the claim now (it also takes one left in flight, if
        // this write fails).
        self.rehold(&job.claim, &job.claim_id, from, hold, now)
            .await;
        tracing::info!(pool = %grant.pool, delivery, "portal slow ({err}): seat kept, member queued");
        self.audit(
            &delivery,
            "member.deferred",
            &job.claim,
            format!("{err}; the creation was queued"),
            now,
        )
        .await;
        Some(Outcome::Accepted {
            pool: grant.pool.to_string(),
            username: grant.username.to_string(),
        })
    }
}

/// The audit detail of a member made or adopted.
fn created_detail(created: &Created, grant: &Grant) -> String {
    format!(
        "{} ({}, {}){}{}",
        created.username,
        grant.role,
        grant.user_type,
        if created.adopted { ", adopted" } else { "" },
        created.password_reset.detail()
    )
}

/// The time one member's creation spent on the portal, as a metric.
pub(super) fn emit_portal_time(pool: &crate::domain::PoolId, started: Instant, now: UnixMillis) {
    emf::emit(
        &MetricLine::at(now).dimension("Pool", pool.as_str()).metric(
            emf::PORTAL_MILLIS,
            started.elapsed().as_secs_f64() * 1000.0,
            Unit::Milliseconds,
        ),
    );
}

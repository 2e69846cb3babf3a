//! The queued half of a sign-up: create the member for a [`Job`].
//!
//! Okta and Entra give a hook 2–3 seconds, less than ArcGIS Online may take
//! to create a member. Their routes reserve a seat and queue a [`Job`]
//! ([`super::Creation::Queued`]); forms queue one when the portal is slow
//! ([`super::Creation::InRequestOrQueue`]). A worker (SQS in AWS, the local
//! server's in-process worker) then runs [`Provisioner::run_job`] for each
//! delivery of the job, as many times as the queue redelivers it:
//!
//! - the member is created (or adopted) and the claim confirmed → done;
//! - the portal refused the member for good → the seat is released and a
//!   [`FailedSignup`] recorded (shown by `seats` and `/status`) → done;
//! - the portal is unavailable → the claim is touched (so the stale-claim
//!   sweeper leaves it alone) and the job is retried; on the last attempt
//!   the seat is released and the failure recorded, and the queue moves the
//!   message to its dead-letter queue.
//!
//! A seat given back admits the first person on the pool's waitlist; their
//! member is queued as a job of its own ([`Provisioner::run_job`]).

use std::time::Duration;

use tokio::time::Instant;

use super::claims::{JOB, JOB_NOT_SENT};
use super::member::{CreateError, candidates};
use super::outcome::{Outcome, failure_outcome};
use super::workflow::Provisioner;
use crate::domain::{Email, PoolId, SignupRequest, UnixMillis};
use crate::policy::InvitationMode;
use crate::portal::Portal;
use crate::queue::{Job, JobSink};
use crate::seats::{FailedSignup, Hold, SeatLedger, Stage, Transition};

/// What one attempt at a job came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    /// The outcome (final unless `retry`).
    pub outcome: Outcome,
    /// True when the queue should deliver the job again.
    pub retry: bool,
    /// A pool whose seat this attempt gave back: the caller admits the next
    /// in line ([`Provisioner::admit_waitlisted`]).
    pub freed: Option<PoolId>,
}

impl JobResult {
    fn done(outcome: Outcome) -> Self {
        JobResult {
            outcome,
            retry: false,
            freed: None,
        }
    }
}

/// How long a failed sign-up stays listed.
pub(super) const FAILURE_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// One delivery of a queued job, as a worker runs it: the attempt
    /// ([`Self::complete_job`]), then, when it gave a seat back, the first in
    /// line on that pool's waitlist is admitted, their member queued on
    /// `jobs` (the worker's own queue) so that a transient failure is
    /// retried like any job's. `last_attempt` tells the queue's final
    /// delivery, after which a transient failure is given up. Returns
    /// whether the queue should deliver the job again.
    pub async fn run_job(&self, job: &Job, last_attempt: bool, jobs: &dyn JobSink) -> bool {
        let result = self.complete_job(job, last_attempt, self.clock.now()).await;
        if let Some(pool) = &result.freed {
            self.admit_waitlisted(pool, Some(jobs), self.clock.now())
                .await;
        }
        result.retry
    }

    /// The slow half: creates the member for a queued job. Safe to run any
    /// number of times for the same job (adoption, claim ids); see the module
    /// docs for what each result means. `last_attempt` tells the worker's
    /// final try, after which a transient failure is given up.
    pub async fn complete_job(&self, job: &Job, last_attempt: bool, now: UnixMillis) -> JobResult {
        let delivery = job.delivery.as_string();
        let claim = match self.ledger.claim(&job.claim).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(delivery, "job: ledger unavailable: {e}");
                return self
                    .transient(job, last_attempt, "store_unavailable", false, now)
                    .await;
            }
        };
        let unknown = claim
            .as_ref()
            .is_some_and(|c| c.stage() == Stage::Reserved(Hold::Unknown));
        match claim {
            Some(c) if c.claim_id == job.claim_id && c.stage() == Stage::Active => {
                return JobResult::done(Outcome::AlreadyMember {
                    pool: job.claim.pool.to_string(),
                    username: c.username.unwrap_or_default(),
                });
            }
            Some(c) if c.claim_id == job.claim_id && JOB.contains(&c.stage()) => {}
            _ => {
                // Released by the sweeper or a compensation, re-made by a
                // later sign-up with its own job, or (an approval hold) not
                // ours to finish: nothing to do.
                tracing::warn!(delivery, "job: its reservation is gone; nothing to do");
                return JobResult::done(Outcome::Rejected {
                    code: "reservation_gone".into(),
                    message: "The seat reserved for this sign-up was released before the member could be created.".into(),
                });
            }
        }
        // Still ours and RESERVED: queued (again, if an earlier attempt left
        // it in flight) and fresh, so the sweeper leaves it to us. One whose
        // invitation's outcome was not seen stays UNKNOWN (refreshed): an
        // invitation may still land, so no failure of this attempt gives
        // the seat back.
        let hold = if unknown { Hold::Unknown } else { Hold::Queued };
        if !self.rehold(&job.claim, &job.claim_id, JOB, hold, now).await {
            tracing::warn!(delivery, "job: could not refresh the claim");
        }
        let request = match revalidate(&job.request) {
            Some(r) => r,
            None => {
                return self.give_up(job, invalid_job(), now).await;
            }
        };
        let grant = match self.grant_for(&request, &job.overrides) {
            Ok(d) if d.pool == job.claim.pool => d,
            _ => {
                // The rules changed since the seat was reserved.
                return self
                    .give_up(
                        job,
                        Outcome::Rejected {
                            code: "no_matching_pool".into(),
                            message: "The rules no longer put this person in the pool their seat was reserved in.".into(),
                        },
                        now,
                    )
                    .await;
            }
        };
        let started = Instant::now();
        let deadline = started + self.settings.deadline;
        let created = self
            .create_member(&request, &grant, candidates(&job.overrides), deadline)
            .await;
        super::signup::emit_portal_time(&grant.pool, started, now);
        match created {
            Ok(created) => match self
                .activate(&job.claim, &job.claim_id, JOB, &created.username, now)
                .await
            {
                Ok(Transition::Done(_)) => {
                    tracing::info!(pool = %grant.pool, username = %created.username, adopted = created.adopted, "queued member provisioned");
                    self.audit(
                        &delivery,
                        "member.created",
                        &job.claim,
                        format!("{}{}", created.username, created.password_reset.detail()),
                        now,
                    )
                    .await;
                    JobResult::done(Outcome::Provisioned {
                        pool: grant.pool.to_string(),
                        username: created.username,
                        invitation: matches!(grant.invitation, InvitationMode::Email),
                        adopted: created.adopted,
                    })
                }
                Ok(other) => {
                    // The claim moved on while the member was made (the
                    // sweeper settled it): nothing of ours to confirm.
                    tracing::warn!(
                        delivery,
                        ?other,
                        "job: the claim moved on during the creation"
                    );
                    JobResult::done(Outcome::Rejected {
                        code: "reservation_gone".into(),
                        message: "The seat reserved for this sign-up was settled before the member could be confirmed.".into(),
                    })
                }
                Err(e) => {
                    // The member exists; the next attempt adopts it.
                    tracing::error!(delivery, "job: ledger confirm: {e}");
                    self.transient(job, last_attempt, "store_unavailable", true, now)
                        .await
                }
            },
            Err(CreateError {
                error: err,
                invite_sent,
            }) => {
                let outcome = failure_outcome(&err);
                tracing::warn!(delivery, "job: member not created: {err}");
                if outcome.is_final() && !unknown {
                    self.give_up(job, outcome, now).await
                } else {
                    // A refusal of a claim whose earlier invitation may
                    // still land is not final: the look-up settles it.
                    let code = match &outcome {
                        Outcome::RetryLater { code, .. }
                        | Outcome::PortalFailed { code, .. }
                        | Outcome::Rejected { code, .. } => code.clone(),
                        _ => "portal_unavailable".into(),
                    };
                    self.transient(job, last_attempt, &code, invite_sent || unknown, now)
                        .await
                }
            }
        }
    }

    /// A failure that a later attempt may not see: retry, or on the last
    /// attempt give the seat back and record the failure. When the last
    /// attempt's invitation was sent and its outcome not seen, the member
    /// may exist: the seat is kept for a look-up (the sweeper) instead.
    async fn transient(
        &self,
        job: &Job,
        last_attempt: bool,
        code: &str,
        invite_sent: bool,
        now: UnixMillis,
    ) -> JobResult {
        if invite_sent {
            // Remembered on the claim, so that no later failure gives the
            // seat back blindly.
            self.rehold(&job.claim, &job.claim_id, JOB, Hold::Unknown, now)
                .await;
        }
        if !last_attempt {
            return JobResult {
                outcome: Outcome::retry(code, "The member will be created on a later attempt.", 60),
                retry: true,
                freed: None,
            };
        }
        if invite_sent {
            let kept = self
                .rehold(&job.claim, &job.claim_id, JOB, Hold::Unknown, now)
                .await;
            tracing::warn!(pool = %job.claim.pool, delivery = %job.delivery.as_string(), kept, "last attempt: the invitation's outcome was not seen; the seat is kept for a look-up");
            self.audit(
                "system",
                "member.unknown",
                &job.claim,
                format!("{code}: the last attempt's invitation was not answered; the seat is kept until the member is looked up"),
                now,
            )
            .await;
            // Exhausted: the queue moves the message to its dead-letter queue.
            return JobResult {
                outcome: Outcome::retry(
                    code,
                    "The outcome of the last attempt is not known yet.",
                    60,
                ),
                retry: true,
                freed: None,
            };
        }
        let mut result = self
            .give_up(
                job,
                Outcome::PortalFailed {
                    code: code.to_string(),
                    message: "The member could not be created after every attempt; the seat was released.".into(),
                },
                now,
            )
            .await;
        // Exhausted: the queue moves the message to its dead-letter queue.
        result.retry = true;
        result
    }

    /// Releases the job's seat and records why.
    async fn give_up(&self, job: &Job, outcome: Outcome, now: UnixMillis) -> JobResult {
        // Never a claim whose invitation may still land (UNKNOWN): the
        // sweeper's look-up settles that one.
        let (code, message) = match &outcome {
            Outcome::PortalFailed { code, message }
            | Outcome::Rejected { code, message }
            | Outcome::RetryLater { code, message, .. } => (code.clone(), message.clone()),
            other => (format!("{other:?}"), String::new()),
        };
        let failure = FailedSignup {
            key: job.claim.clone(),
            delivery: job.delivery.as_string(),
            username: job.request.username.as_ref().map(|u| u.to_string()),
            code,
            message,
            at: now,
        };
        let retain_until = now + FAILURE_RETENTION.as_millis() as i64;
        // The release and the failure in one write: a crash between two
        // writes would leave the seat given back and the job, delivered
        // again, finding no reservation and nothing saying why.
        let released = self
            .give_up_on(
                &job.claim,
                &job.claim_id,
                JOB_NOT_SENT,
                &failure,
                retain_until,
            )
            .await;
        if !released {
            // The claim moved on (taken over, already given up): the
            // failure of this attempt is still recorded.
            if let Err(e) = self.ledger.record_failure(&failure, retain_until).await {
                tracing::error!(delivery = %failure.delivery, "could not record the failure: {e}");
            }
        }
        tracing::warn!(pool = %job.claim.pool, delivery = %failure.delivery, code = %failure.code, released, "queued sign-up failed; seat released");
        self.audit(
            "system",
            "member.failed",
            &job.claim,
            format!("{}: {}", failure.code, failure.message),
            now,
        )
        .await;
        JobResult {
            outcome,
            retry: false,
            // The worker then admits the next in line (not done here: admitting
            // may create a member, which may fail and come back here).
            freed: released.then(|| job.claim.pool.clone()),
        }
    }
}

/// A job's request re-checked: queue messages come from our own sender, but
/// the domain types are validated on parse, not on deserialisation.
fn revalidate(req: &SignupRequest) -> Option<SignupRequest> {
    let email = Email::parse(req.email.as_str()).ok()?;
    Some(SignupRequest {
        email,
        ..req.clone()
    })
}

fn invalid_job() -> Outcome {
    Outcome::Rejected {
        code: "invalid_job".into(),
        message: "The queued sign-up is not valid.".into(),
    }
}

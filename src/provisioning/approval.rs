//! The approval step: a pool with `approval = "manual"` turns a sign-up
//! into a PENDING request holding the applicant's data and what they would
//! get; with `hold_seat` (the default) a seat is reserved for it at once, so
//! an approval never finds the pool full.
//!
//! Decisions ([`Provisioner::decide_request`]) are single-use conditional
//! transitions in the ledger: a double click, a replayed webhook or a second
//! approver changes nothing and is told so. Approve → (reserve if not held)
//! → the member's creation is queued like an identity provider's sign-up;
//! deny → the hold is released and the first in line admitted. Either way
//! the applicant is mailed the decision (`applicants`).
//!
//! Every step is written to the audit trail.

use super::delivery::DeliveryAnswer;
use super::outcome::{Outcome, store_unavailable};
use super::workflow::Provisioner;
use crate::domain::{DeliveryKey, Overrides, RequestState, SignupRequest, UnixMillis, Verdict};
use crate::notify::ApprovalNotice;
use crate::notify::mail::ApplicantEvent;
use crate::policy::Grant;
use crate::portal::Portal;
use crate::queue::JobSink;
use crate::seats::{
    Hold, LedgerError, RequestChange, Reservation, SeatLedger, SignupRecord, Stage,
};

use super::claims::{APPROVAL, QUEUED};
use super::requests::{RequestPayload, RequestSeat, view};

/// What a decision came to.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum DecisionOutcome {
    /// This call decided it.
    Decided {
        /// The request after the decision.
        request: Box<SignupRecord>,
        /// The verdict.
        verdict: Verdict,
    },
    /// It was decided before (double click, replay, another approver).
    AlreadyDecided {
        /// Its state now.
        state: RequestState,
    },
    /// It expired before the decision.
    Expired,
    /// No such request.
    NotFound,
    /// Approval of a request without a held seat, while the pool is full:
    /// nothing changed; decide again when a seat frees.
    PoolFull,
    /// Store or queue trouble: nothing was decided; try again.
    Unavailable(String),
    /// The signed decision's delivery id was used before with another
    /// body (or for another request): nothing changed.
    DeliveryReused,
}

impl DeliveryAnswer for DecisionOutcome {
    fn in_progress() -> Self {
        DecisionOutcome::Unavailable("this decision is being handled by another attempt".into())
    }
    fn reused() -> Self {
        DecisionOutcome::DeliveryReused
    }
    fn store_failed(e: &LedgerError) -> Self {
        DecisionOutcome::Unavailable(e.to_string())
    }
    fn unreadable(e: &serde_json::Error) -> Self {
        DecisionOutcome::Unavailable(format!("stored decision unreadable: {e}"))
    }
    fn is_final(&self) -> bool {
        !matches!(self, DecisionOutcome::Unavailable(_))
    }
}

/// A decision answered for a delivery (a signed webhook): whether it was
/// answered from the delivery's stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveredDecision {
    /// What the decision came to (the first time, for a replay).
    pub outcome: DecisionOutcome,
    /// Answered from the stored record: nothing was decided now.
    pub replayed: bool,
}

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// A decision that arrives as a delivery (a signed webhook): single use.
    /// The delivery's lease is taken first, as for a sign-up; a delivery
    /// seen before is answered from its stored outcome (the sender's retry
    /// after a lost reply) and decides nothing, one reused with another
    /// body is refused. Only final answers are stored: "try again"
    /// (`Unavailable`) drops the lease so the retry runs.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_delivered(
        &self,
        delivery: &DeliveryKey,
        payload_hash: &str,
        id: &str,
        verdict: Verdict,
        actor: &str,
        comment: Option<&str>,
        sink: Option<&dyn JobSink>,
        now: UnixMillis,
    ) -> DeliveredDecision {
        let attempt = match self.begin_delivery(delivery, payload_hash, now).await {
            Ok(attempt) => attempt,
            Err(answered) => {
                return DeliveredDecision {
                    outcome: answered.answer,
                    replayed: answered.replayed,
                };
            }
        };
        let outcome = self
            .decide_request(id, verdict, actor, comment, sink, now)
            .await;
        // The lease expires on its own if this fails; a retry then decides
        // again, which the request's own state makes harmless.
        self.finish_delivery(delivery, &attempt, &outcome, now)
            .await;
        DeliveredDecision {
            outcome,
            replayed: false,
        }
    }
}

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// A sign-up for a pool that requires approval: hold a seat (if the pool
    /// says so), record a PENDING request and tell the approvers. A full
    /// pool with a waitlist gives a WAITLISTED request instead. A person with
    /// an open request gets that request back; nothing new is written.
    pub(super) async fn request_approval(
        &self,
        delivery: &DeliveryKey,
        req: &SignupRequest,
        overrides: &Overrides,
        grant: &Grant,
        now: UnixMillis,
    ) -> Outcome {
        let key = grant.claim_key(&req.email);
        let mut state = RequestState::Pending;
        // The request's hold: its claim id, and whether this call took it.
        let mut held: Option<(String, bool)> = None;
        if grant.hold_seat {
            let this_delivery = delivery.as_string();
            match self
                .reserve_seat(&key, grant, &this_delivery, Hold::Approval, now)
                .await
            {
                Ok(Reservation::Reserved(c)) => held = Some((c.claim_id, true)),
                Ok(Reservation::AlreadyHeld(c)) => match c.stage() {
                    Stage::Active => {
                        return Outcome::AlreadyMember {
                            pool: grant.pool.to_string(),
                            username: c.username.unwrap_or_default(),
                        };
                    }
                    // The person's open request holds it (that request is
                    // answered below), or an earlier attempt left it.
                    Stage::Reserved(Hold::Approval) => held = Some((c.claim_id, false)),
                    // Another path is creating the member right now.
                    Stage::Reserved(Hold::Queued) => {
                        return Outcome::Accepted {
                            pool: grant.pool.to_string(),
                            username: c.username.unwrap_or_default(),
                        };
                    }
                    Stage::Reserved(Hold::InFlight | Hold::Unknown) => {
                        return Outcome::retry(
                            "claim_in_progress",
                            "A seat for this person is being set up by another request.",
                            10,
                        );
                    }
                },
                Ok(Reservation::PoolFull { .. }) if grant.waitlist => {
                    state = RequestState::Waitlisted;
                }
                Ok(Reservation::PoolFull { .. }) => {
                    return Outcome::PoolFull {
                        pool: grant.pool.to_string(),
                        seats: grant.capacity,
                    };
                }
                Err(e) => {
                    tracing::error!("ledger reserve: {e}");
                    return store_unavailable();
                }
            }
        } else {
            match self.ledger.claim(&key).await {
                Ok(Some(c)) if c.stage() == Stage::Active => {
                    return Outcome::AlreadyMember {
                        pool: grant.pool.to_string(),
                        username: c.username.unwrap_or_default(),
                    };
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!("ledger: {e}");
                    return store_unavailable();
                }
            }
        }
        let outcome = self
            .open_request(
                delivery,
                req,
                overrides,
                grant,
                state,
                held.as_ref().map(|(id, _)| id.clone()),
                now,
            )
            .await;
        // Our fresh hold is not needed when the person already had a request
        // (or none could be written).
        if let (Some((claim_id, true)), Err(_)) = (&held, &outcome) {
            self.give_back(&key, claim_id, APPROVAL).await;
        }
        match outcome {
            Ok(o) | Err(o) => o,
        }
    }

    /// Decides a pending request; see [`DecisionOutcome`]. With a `sink`
    /// the member's creation is queued (fast, for Slack's 3 seconds);
    /// without one it runs now.
    pub async fn decide_request(
        &self,
        id: &str,
        verdict: Verdict,
        actor: &str,
        comment: Option<&str>,
        sink: Option<&dyn JobSink>,
        now: UnixMillis,
    ) -> DecisionOutcome {
        let record = match self.ledger.request(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return DecisionOutcome::NotFound,
            Err(e) => return DecisionOutcome::Unavailable(e.to_string()),
        };
        if record.state != RequestState::Pending {
            return DecisionOutcome::AlreadyDecided {
                state: record.state,
            };
        }
        if now > record.expires_at {
            self.expire(&record, now, sink).await;
            return DecisionOutcome::Expired;
        }
        let Ok(payload) = serde_json::from_str::<RequestPayload>(&record.payload) else {
            return DecisionOutcome::Unavailable("the request's data is unreadable".into());
        };
        let change = |claim_id: Option<Option<String>>| RequestChange {
            at: now,
            by: Some(actor.to_string()),
            reason: comment.map(str::to_string),
            claim_id,
            retain_until: Some(self.closed_request_retained_until(now)),
        };
        match verdict {
            Verdict::Deny => {
                match self
                    .ledger
                    .transition_request(
                        id,
                        RequestState::Pending,
                        RequestState::Denied,
                        &change(None),
                    )
                    .await
                {
                    Ok(Some(updated)) => {
                        self.audit(
                            actor,
                            "request.denied",
                            &record.key,
                            comment.unwrap_or("").to_string(),
                            now,
                        )
                        .await;
                        if let Some(claim_id) = &record.claim_id
                            && self.give_back(&record.key, claim_id, APPROVAL).await
                        {
                            self.audit(
                                "system",
                                "seat.released",
                                &record.key,
                                format!("hold of denied request {id}"),
                                now,
                            )
                            .await;
                            self.admit_waitlisted(&record.key.pool, sink, now).await;
                        }
                        self.tell_applicant(
                            &updated,
                            ApplicantEvent::Denied {
                                reason: comment.map(str::to_string),
                            },
                        )
                        .await;
                        DecisionOutcome::Decided {
                            request: Box::new(updated),
                            verdict,
                        }
                    }
                    Ok(None) => self.decided_elsewhere(id).await,
                    Err(e) => DecisionOutcome::Unavailable(e.to_string()),
                }
            }
            Verdict::Approve => {
                let seat = match self.approval_seat(&record, &payload, now).await {
                    Ok(Some(seat)) => seat,
                    Ok(None) => return DecisionOutcome::PoolFull,
                    Err(e) => return DecisionOutcome::Unavailable(e),
                };
                match self
                    .ledger
                    .transition_request(
                        id,
                        RequestState::Pending,
                        RequestState::Approved,
                        &change(Some(Some(seat.claim_id.clone()))),
                    )
                    .await
                {
                    Ok(Some(updated)) => {
                        self.audit(
                            actor,
                            "request.approved",
                            &record.key,
                            comment.unwrap_or("").to_string(),
                            now,
                        )
                        .await;
                        if seat.ours {
                            self.start_member(
                                &updated,
                                &payload,
                                &seat.claim_id,
                                QUEUED,
                                sink,
                                now,
                            )
                            .await;
                        }
                        self.tell_applicant(
                            &updated,
                            ApplicantEvent::Approved {
                                invitation: self.invitation_of(&updated),
                            },
                        )
                        .await;
                        DecisionOutcome::Decided {
                            request: Box::new(updated),
                            verdict,
                        }
                    }
                    Ok(None) => {
                        if seat.ours {
                            self.give_back_unless_used(&record, &seat.claim_id, QUEUED)
                                .await;
                        }
                        self.decided_elsewhere(id).await
                    }
                    Err(e) => {
                        if seat.ours {
                            self.give_back_unless_used(&record, &seat.claim_id, QUEUED)
                                .await;
                        }
                        DecisionOutcome::Unavailable(e.to_string())
                    }
                }
            }
        }
    }

    /// The seat an approval starts the member from, queued for its job
    /// before the request is marked approved (so no moment exists where an
    /// approved request's seat still looks like an approval hold): the
    /// request's hold if it is still there, else a fresh reservation or the
    /// person's claim ([`Provisioner::seat_for`]). `None` when the pool is
    /// full.
    async fn approval_seat(
        &self,
        record: &SignupRecord,
        payload: &RequestPayload,
        now: UnixMillis,
    ) -> Result<Option<RequestSeat>, String> {
        let mut seat = None;
        if let Some(held) = &record.claim_id {
            match self.ledger.claim(&record.key).await {
                Ok(Some(c))
                    if &c.claim_id == held && c.stage() == Stage::Reserved(Hold::Approval) =>
                {
                    seat = Some(RequestSeat {
                        stage: c.stage(),
                        claim_id: c.claim_id,
                        ours: true,
                    });
                }
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let seat = match seat {
            Some(s) => s,
            None => match self.seat_for(record, payload, Hold::Queued, now).await {
                Ok(Some(s)) => s,
                Ok(None) => return Ok(None),
                Err(e) => return Err(e.to_string()),
            },
        };
        if seat.ours
            && seat.stage != Stage::Reserved(Hold::Queued)
            && !self
                .rehold(
                    &record.key,
                    &seat.claim_id,
                    &[seat.stage],
                    Hold::Queued,
                    now,
                )
                .await
        {
            // Denied, expired or swept meanwhile: decide again.
            return Err("the request's seat changed meanwhile; try again".into());
        }
        Ok(Some(seat))
    }

    async fn decided_elsewhere(&self, id: &str) -> DecisionOutcome {
        match self.ledger.request(id).await {
            Ok(Some(r)) => DecisionOutcome::AlreadyDecided { state: r.state },
            Ok(None) => DecisionOutcome::NotFound,
            Err(e) => DecisionOutcome::Unavailable(e.to_string()),
        }
    }

    pub(super) async fn notify_approvers(&self, record: &SignupRecord, capacity: u32) {
        let wiring = &self.approvals;
        if wiring.notifiers.is_empty() {
            tracing::info!(request = %record.id, pool = %record.key.pool, "approval requested (no notifier configured)");
            return;
        }
        let used = self
            .ledger
            .usage(&record.key.pool)
            .await
            .map_or(0, |u| u.used);
        let (approve_url, deny_url, admin_url) = match &wiring.links {
            Some(l) => {
                let (a, d) = l.links(&record.id, record.expires_at);
                (Some(a), Some(d), Some(l.admin_url()))
            }
            None => (None, None, None),
        };
        let notice = ApprovalNotice {
            request: view(record),
            seats_left: capacity.saturating_sub(used),
            approve_url,
            deny_url,
            admin_url,
        };
        for n in &wiring.notifiers {
            n.notify(&notice).await;
        }
    }
}

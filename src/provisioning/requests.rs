//! A sign-up request's record (approval and waitlist) and the steps every
//! path that opens, admits or closes one shares: writing it, describing it
//! to the sender, holding a seat for it, starting its member once approved,
//! expiring it (and telling the applicant when it joins the waitlist or
//! lapses).

use serde::{Deserialize, Serialize};

use super::outcome::{Outcome, store_unavailable};
use super::workflow::{Provisioner, effective_approval};
use crate::domain::{
    ApprovalMode, DeliveryKey, Overrides, RequestState, SignupRequest, UnixMillis,
};
use crate::notify::RequestView;
use crate::notify::mail::ApplicantEvent;
use crate::policy::Grant;
use crate::portal::Portal;
use crate::queue::{Job, JobSink};
use crate::seats::{
    Hold, LedgerError, RequestChange, Reservation, ReserveRequest, SeatLedger, SignupRecord, Stage,
};

use super::claims::APPROVAL;

/// What a request record's payload holds: the sign-up and what it gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestPayload {
    /// The sign-up as parsed at intake.
    pub request: SignupRequest,
    /// Values that win over the pool's grants.
    #[serde(default)]
    pub overrides: Overrides,
    /// Role id it gets.
    pub role: String,
    /// User type it gets.
    pub user_type: String,
    /// Group titles it gets.
    pub groups: Vec<String>,
    /// The intended username.
    pub username: String,
    /// Whether the pool requires approval (a waitlisted request of such a
    /// pool goes through approval when admitted).
    pub approval: bool,
    /// Whether a seat is held while pending.
    pub hold_seat: bool,
}

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Writes the request. `Ok` with the new request's outcome; `Err` with
    /// the person's existing open request (or a store error), nothing written.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn open_request(
        &self,
        delivery: &DeliveryKey,
        req: &SignupRequest,
        overrides: &Overrides,
        grant: &Grant,
        state: RequestState,
        claim_id: Option<String>,
        now: UnixMillis,
    ) -> Result<Outcome, Outcome> {
        let payload = RequestPayload {
            request: req.clone(),
            overrides: overrides.clone(),
            role: grant.role.clone(),
            user_type: grant.user_type.clone(),
            groups: grant.groups.clone(),
            username: grant.username.to_string(),
            approval: effective_approval(overrides, grant) == ApprovalMode::Manual,
            hold_seat: grant.hold_seat,
        };
        let record = SignupRecord {
            id: self.ids.request_id(now),
            key: grant.claim_key(&req.email),
            delivery: delivery.as_string(),
            payload: serde_json::to_string(&payload).unwrap_or_default(),
            state,
            claim_id,
            created_at: now,
            expires_at: now + grant.pending_expiry.as_millis() as i64,
            decided_at: None,
            decided_by: None,
            reason: None,
            retain_until: None,
        };
        match self.ledger.create_request(&record).await {
            Ok(None) => {
                let action = match state {
                    RequestState::Waitlisted => "request.waitlisted",
                    _ => "request.created",
                };
                self.audit(
                    &delivery.as_string(),
                    action,
                    &record.key,
                    format!(
                        "request {} for {} ({}); seat held: {}",
                        record.id,
                        grant.pool,
                        grant.user_type,
                        record.claim_id.is_some()
                    ),
                    now,
                )
                .await;
                if state == RequestState::Pending {
                    self.notify_approvers(&record, grant.capacity).await;
                }
                let outcome = self.request_outcome(&record).await;
                if let Outcome::Waitlisted { position, .. } = &outcome {
                    self.tell_applicant(
                        &record,
                        ApplicantEvent::Waitlisted {
                            position: *position,
                            until: record.expires_at,
                        },
                    )
                    .await;
                }
                Ok(outcome)
            }
            Ok(Some(existing)) => Err(self.request_outcome(&existing).await),
            Err(e) => {
                tracing::error!("ledger create_request: {e}");
                Err(store_unavailable())
            }
        }
    }

    /// The outcome that describes an open request.
    pub(super) async fn request_outcome(&self, r: &SignupRecord) -> Outcome {
        match r.state {
            RequestState::Waitlisted => Outcome::Waitlisted {
                pool: r.key.pool.to_string(),
                request_id: r.id.clone(),
                position: self.position(r).await,
            },
            _ => Outcome::Pending {
                pool: r.key.pool.to_string(),
                request_id: r.id.clone(),
            },
        }
    }

    pub(super) async fn position(&self, r: &SignupRecord) -> u32 {
        match self
            .ledger
            .requests(&r.key.pool, RequestState::Waitlisted)
            .await
        {
            Ok(line) => line
                .iter()
                .position(|x| x.id == r.id)
                .map_or(0, |i| i as u32 + 1),
            Err(_) => 0,
        }
    }

    /// Finds the seat for a request that holds none (or whose hold is
    /// gone): a fresh reservation held as `hold`, or the person's claim
    /// that is there already; see [`RequestSeat`].
    pub(super) async fn seat_for(
        &self,
        record: &SignupRecord,
        payload: &RequestPayload,
        hold: Hold,
        now: UnixMillis,
    ) -> Result<Option<RequestSeat>, LedgerError> {
        let capacity = self
            .policy
            .rules()
            .pool(record.key.pool.as_str())
            .map_or(0, |p| p.seats);
        let fresh = self.ids.claim_id();
        Ok(
            match self
                .ledger
                .reserve(ReserveRequest {
                    key: &record.key,
                    capacity,
                    delivery: &record.delivery,
                    claim_id: &fresh,
                    username: &payload.username,
                    hold,
                    now,
                })
                .await?
            {
                Reservation::Reserved(c) => Some(RequestSeat {
                    claim_id: c.claim_id,
                    stage: Stage::Reserved(hold),
                    ours: true,
                }),
                Reservation::AlreadyHeld(c) => {
                    let stage = c.stage();
                    // An approval hold is the person's open request's, and
                    // this is it (one open request per person and pool):
                    // an orphan of an earlier attempt. A reservation of
                    // this request's delivery is an earlier attempt of this
                    // decision or admission. Anything else belongs to
                    // another path, which settles it.
                    let ours = stage == Stage::Reserved(Hold::Approval)
                        || (stage != Stage::Active && c.delivery == record.delivery);
                    Some(RequestSeat {
                        claim_id: c.claim_id,
                        stage,
                        ours,
                    })
                }
                Reservation::PoolFull { .. } => None,
            },
        )
    }

    /// After losing the race for a request (another decision or admission
    /// came first), gives back the seat this call reserved, unless the
    /// winner now uses it (it found our reservation and named it in the
    /// open or approved request): a loser must never free the winner's
    /// seat.
    pub(super) async fn give_back_unless_used(
        &self,
        record: &SignupRecord,
        claim_id: &str,
        from: &[Stage],
    ) {
        let used = match self.ledger.request(&record.id).await {
            Ok(Some(now)) => {
                now.claim_id.as_deref() == Some(claim_id)
                    && matches!(now.state, RequestState::Pending | RequestState::Approved)
            }
            // Unsure: keeping an unused seat is safe (a sweep settles a
            // stale one); freeing a used one oversells.
            Ok(None) => false,
            Err(_) => true,
        };
        if !used {
            self.give_back(&record.key, claim_id, from).await;
        }
    }

    /// Queues (or runs) the creation of an approved request's member, whose
    /// seat is the claim `claim_id`, held in one of the stages `from`.
    pub(super) async fn start_member(
        &self,
        record: &SignupRecord,
        payload: &RequestPayload,
        claim_id: &str,
        from: &[Stage],
        sink: Option<&dyn JobSink>,
        now: UnixMillis,
    ) {
        let (source, id) = record
            .delivery
            .split_once(':')
            .unwrap_or(("approval", record.delivery.as_str()));
        let job = Job {
            delivery: DeliveryKey {
                source: source.to_string(),
                id: id.to_string(),
            },
            request: payload.request.clone(),
            overrides: payload.overrides.clone(),
            claim: record.key.clone(),
            claim_id: claim_id.to_string(),
            accepted_at: now,
        };
        // The job owns the seat from here: queued before it is queued, so a
        // worker taking the job at once finds it so.
        self.rehold(&record.key, claim_id, from, Hold::Queued, now)
            .await;
        if let Some(sink) = sink
            && sink.enqueue(&job).await.is_ok()
        {
            return;
        }
        // No queue (or it is down): create the member now. A transient
        // failure leaves the claim queued (or unknown) for the sweeper.
        let result = self.complete_job(&job, false, now).await;
        if let Outcome::Provisioned { username, .. } = &result.outcome {
            self.audit(
                "system",
                "member.created",
                &record.key,
                username.clone(),
                now,
            )
            .await;
        }
    }

    /// Expires a pending or waitlisted request: releases its hold and admits
    /// the next in line.
    pub(super) async fn expire(
        &self,
        record: &SignupRecord,
        now: UnixMillis,
        sink: Option<&dyn JobSink>,
    ) {
        let change = RequestChange {
            at: now,
            by: Some("system".into()),
            reason: Some("expired".into()),
            claim_id: None,
            retain_until: Some(self.closed_request_retained_until(now)),
        };
        if let Ok(Some(_)) = self
            .ledger
            .transition_request(&record.id, record.state, RequestState::Expired, &change)
            .await
        {
            self.audit(
                "system",
                "request.expired",
                &record.key,
                record.id.clone(),
                now,
            )
            .await;
            self.tell_applicant(
                record,
                ApplicantEvent::Expired {
                    waitlisted: record.state == RequestState::Waitlisted,
                },
            )
            .await;
            if let Some(claim_id) = &record.claim_id
                && self.give_back(&record.key, claim_id, APPROVAL).await
            {
                self.admit_waitlisted(&record.key.pool, sink, now).await;
            }
        }
    }
}

/// The seat a request found ([`Provisioner::seat_for`]).
pub(super) struct RequestSeat {
    /// The claim's id.
    pub(super) claim_id: String,
    /// The stage it was found in.
    pub(super) stage: Stage,
    /// The request's own seat: its member is started from it. Otherwise
    /// another path's (an existing member, a sign-up in progress): the
    /// request names it but never starts nor gives it back.
    pub(super) ours: bool,
}

/// A record as the page shows it.
pub fn view(r: &SignupRecord) -> RequestView {
    let payload = serde_json::from_str::<RequestPayload>(&r.payload).ok();
    let req = payload.as_ref().map(|p| &p.request);
    RequestView {
        id: r.id.clone(),
        pool: r.key.pool.to_string(),
        email: r.key.person.clone(),
        first_name: req.and_then(|q| q.first_name.clone()),
        last_name: req.and_then(|q| q.last_name.clone()),
        organization: req.and_then(|q| q.organization.clone()),
        role: payload.as_ref().map(|p| p.role.clone()).unwrap_or_default(),
        user_type: payload
            .as_ref()
            .map(|p| p.user_type.clone())
            .unwrap_or_default(),
        groups: payload
            .as_ref()
            .map(|p| p.groups.clone())
            .unwrap_or_default(),
        created_at: r.created_at,
        expires_at: r.expires_at,
        state: r.state,
        holds_seat: r.claim_id.is_some(),
        position: None,
    }
}

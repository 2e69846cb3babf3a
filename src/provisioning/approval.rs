//! The approval step and the waitlist.
//!
//! A pool with `approval = "manual"` turns a sign-up into a PENDING
//! [`SignupRecord`] holding the applicant's data and what they would get;
//! with `hold_seat` (the default) a seat is reserved for it at once, so an
//! approval never finds the pool full. A pool with `waitlist = true` queues a
//! sign-up that finds it full as WAITLISTED, in arrival order.
//!
//! Decisions ([`Provisioner::decide_request`]) are single-use conditional
//! transitions in the ledger: a double click, a replayed webhook or a second
//! approver changes nothing and is told so. Approve → (reserve if not held)
//! → the member's creation is queued like an identity provider's sign-up;
//! deny → the hold is released. Whenever a seat frees (a deny, an expiry, a
//! failed creation, a sweep), [`Provisioner::admit_waitlisted`] admits the
//! first in line: through approval when the pool requires it.
//!
//! Every step is written to the audit trail.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Provisioner;
use super::outcome::Outcome;
use crate::domain::{
    ApprovalMode, ClaimKey, DeliveryKey, Overrides, PoolId, RequestState, SignupRequest,
    UnixMillis, Verdict,
};
use crate::notify::{ApprovalNotice, LinkMaker, Notifier, RequestView};
use crate::policy::Decision;
use crate::portal::Portal;
use crate::queue::{Job, JobSink};
use crate::seats::{
    AuditEvent, ClaimState, LedgerError, RequestChange, Reservation, ReserveRequest, SeatLedger,
    SignupRecord,
};

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

/// What a decision came to.
#[derive(Debug, Clone, PartialEq)]
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
}

/// The approval step's outside connections.
#[derive(Clone, Default)]
pub struct ApprovalWiring {
    /// Where approvers are told.
    pub notifiers: Vec<Arc<dyn Notifier>>,
    /// Signed links, when a public URL and a link key are configured.
    pub links: Option<Arc<dyn LinkMaker>>,
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
        decision: &Decision,
        now: UnixMillis,
    ) -> Outcome {
        let key = ClaimKey {
            pool: decision.pool.clone(),
            person: req.email.key(),
        };
        let mut state = RequestState::Pending;
        let mut held: Option<(String, bool)> = None;
        if decision.hold_seat {
            match self.reserve_seat(&key, decision, delivery, now).await {
                Ok(Reservation::Reserved(c)) => held = Some((c.claim_id, true)),
                Ok(Reservation::AlreadyHeld(c)) if c.state == ClaimState::Active => {
                    return Outcome::AlreadyMember {
                        pool: decision.pool.to_string(),
                        username: c.username.unwrap_or_default(),
                    };
                }
                Ok(Reservation::AlreadyHeld(c)) => held = Some((c.claim_id, false)),
                Ok(Reservation::PoolFull { .. }) if decision.waitlist => {
                    state = RequestState::Waitlisted;
                }
                Ok(Reservation::PoolFull { .. }) => {
                    return Outcome::PoolFull {
                        pool: decision.pool.to_string(),
                        seats: decision.capacity,
                    };
                }
                Err(e) => {
                    tracing::error!("ledger reserve: {e}");
                    return super::store_unavailable();
                }
            }
        } else {
            match self.ledger.claim(&key).await {
                Ok(Some(c)) if c.state == ClaimState::Active => {
                    return Outcome::AlreadyMember {
                        pool: decision.pool.to_string(),
                        username: c.username.unwrap_or_default(),
                    };
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!("ledger: {e}");
                    return super::store_unavailable();
                }
            }
        }
        let outcome = self
            .open_request(
                delivery,
                req,
                overrides,
                decision,
                state,
                held.as_ref().map(|(id, _)| id.clone()),
                now,
            )
            .await;
        // Our fresh hold is not needed when the person already had a request.
        if let (Some((claim_id, true)), Err(_)) = (&held, &outcome) {
            self.release_with_retry(&key, claim_id).await;
        }
        match outcome {
            Ok(o) | Err(o) => o,
        }
    }

    /// A sign-up that found its pool full, for a pool with a waitlist.
    pub(super) async fn join_waitlist(
        &self,
        delivery: &DeliveryKey,
        req: &SignupRequest,
        overrides: &Overrides,
        decision: &Decision,
        now: UnixMillis,
    ) -> Outcome {
        match self
            .open_request(
                delivery,
                req,
                overrides,
                decision,
                RequestState::Waitlisted,
                None,
                now,
            )
            .await
        {
            Ok(o) | Err(o) => o,
        }
    }

    /// Writes the request. `Ok` with the new request's outcome; `Err` with
    /// the person's existing open request (or a store error), nothing written.
    #[allow(clippy::too_many_arguments)]
    async fn open_request(
        &self,
        delivery: &DeliveryKey,
        req: &SignupRequest,
        overrides: &Overrides,
        decision: &Decision,
        state: RequestState,
        claim_id: Option<String>,
        now: UnixMillis,
    ) -> Result<Outcome, Outcome> {
        let payload = RequestPayload {
            request: req.clone(),
            overrides: overrides.clone(),
            role: decision.role.clone(),
            user_type: decision.user_type.clone(),
            groups: decision.groups.clone(),
            username: decision.username.to_string(),
            approval: effective_approval(overrides, decision) == ApprovalMode::Manual,
            hold_seat: decision.hold_seat,
        };
        let record = SignupRecord {
            id: self.ids.request_id(now),
            key: ClaimKey {
                pool: decision.pool.clone(),
                person: req.email.key(),
            },
            delivery: delivery.as_string(),
            payload: serde_json::to_string(&payload).unwrap_or_default(),
            state,
            claim_id,
            created_at: now,
            expires_at: now + decision.pending_expiry.as_millis() as i64,
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
                        decision.pool,
                        decision.user_type,
                        record.claim_id.is_some()
                    ),
                    now,
                )
                .await;
                if state == RequestState::Pending {
                    self.notify_approvers(&record, decision.capacity).await;
                }
                Ok(self.request_outcome(&record).await)
            }
            Ok(Some(existing)) => Err(self.request_outcome(&existing).await),
            Err(e) => {
                tracing::error!("ledger create_request: {e}");
                Err(super::store_unavailable())
            }
        }
    }

    /// The outcome that describes an open request.
    async fn request_outcome(&self, r: &SignupRecord) -> Outcome {
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

    async fn position(&self, r: &SignupRecord) -> u32 {
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
                            && self.release_with_retry(&record.key, claim_id).await
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
                // The seat first: a request without a hold must find one.
                let (claim_id, fresh) = match &record.claim_id {
                    Some(c) => (c.clone(), false),
                    None => match self.reserve_for(&record, &payload, now).await {
                        Ok(Some(c)) => (c, true),
                        Ok(None) => return DecisionOutcome::PoolFull,
                        Err(e) => return DecisionOutcome::Unavailable(e.to_string()),
                    },
                };
                match self
                    .ledger
                    .transition_request(
                        id,
                        RequestState::Pending,
                        RequestState::Approved,
                        &change(Some(Some(claim_id.clone()))),
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
                        self.start_member(&updated, &payload, &claim_id, sink, now)
                            .await;
                        DecisionOutcome::Decided {
                            request: Box::new(updated),
                            verdict,
                        }
                    }
                    Ok(None) => {
                        if fresh {
                            self.release_with_retry(&record.key, &claim_id).await;
                        }
                        self.decided_elsewhere(id).await
                    }
                    Err(e) => {
                        if fresh {
                            self.release_with_retry(&record.key, &claim_id).await;
                        }
                        DecisionOutcome::Unavailable(e.to_string())
                    }
                }
            }
        }
    }

    async fn decided_elsewhere(&self, id: &str) -> DecisionOutcome {
        match self.ledger.request(id).await {
            Ok(Some(r)) => DecisionOutcome::AlreadyDecided { state: r.state },
            Ok(None) => DecisionOutcome::NotFound,
            Err(e) => DecisionOutcome::Unavailable(e.to_string()),
        }
    }

    /// Reserves a seat for a request that holds none: `Ok(None)` when full.
    async fn reserve_for(
        &self,
        record: &SignupRecord,
        payload: &RequestPayload,
        now: UnixMillis,
    ) -> Result<Option<String>, LedgerError> {
        let capacity = self
            .policy
            .rules()
            .pool(record.key.pool.as_str())
            .map_or(0, |p| p.seats);
        let fresh = self.ids.claim_id();
        match self
            .ledger
            .reserve(ReserveRequest {
                key: &record.key,
                capacity,
                delivery: &record.delivery,
                claim_id: &fresh,
                username: &payload.username,
                now,
            })
            .await?
        {
            Reservation::Reserved(c) | Reservation::AlreadyHeld(c) => Ok(Some(c.claim_id)),
            Reservation::PoolFull { .. } => Ok(None),
        }
    }

    /// Queues (or runs) the creation of an approved request's member.
    async fn start_member(
        &self,
        record: &SignupRecord,
        payload: &RequestPayload,
        claim_id: &str,
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
        if let Some(sink) = sink
            && sink.enqueue(&job).await.is_ok()
        {
            return;
        }
        // No queue (or it is down): create the member now. A transient
        // failure leaves the claim RESERVED for the sweeper.
        let result = self.complete(&job, false, now).await;
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
    async fn expire(&self, record: &SignupRecord, now: UnixMillis, sink: Option<&dyn JobSink>) {
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
            if let Some(claim_id) = &record.claim_id
                && self.release_with_retry(&record.key, claim_id).await
            {
                self.admit_waitlisted(&record.key.pool, sink, now).await;
            }
        }
    }

    /// Expires every open request past its time, in every pool.
    pub async fn expire_requests(&self, sink: Option<&dyn JobSink>, now: UnixMillis) -> u32 {
        let mut expired = 0;
        for pool in &self.policy.rules().pools {
            for state in [RequestState::Pending, RequestState::Waitlisted] {
                let Ok(open) = self.ledger.requests(&pool.id, state).await else {
                    continue;
                };
                for r in open.iter().filter(|r| now > r.expires_at) {
                    self.expire(r, now, sink).await;
                    expired += 1;
                }
            }
            self.admit_waitlisted(&pool.id, sink, now).await;
        }
        expired
    }

    /// Admits the first in line while the pool has free seats: to approval
    /// when the pool requires it, straight to a member otherwise.
    pub async fn admit_waitlisted(
        &self,
        pool: &PoolId,
        sink: Option<&dyn JobSink>,
        now: UnixMillis,
    ) -> u32 {
        let Some(rules_pool) = self.policy.rules().pool(pool.as_str()) else {
            return 0;
        };
        let mut admitted = 0;
        // Bounded: one pass admits at most a pool's worth of people.
        for _ in 0..rules_pool.seats.min(1000) {
            let Ok(line) = self.ledger.requests(pool, RequestState::Waitlisted).await else {
                break;
            };
            let Some(first) = line.into_iter().find(|r| now <= r.expires_at) else {
                break;
            };
            let Ok(payload) = serde_json::from_str::<RequestPayload>(&first.payload) else {
                tracing::error!(request = %first.id, "waitlisted request unreadable; skipped");
                break;
            };
            let needs_seat_now = !payload.approval || payload.hold_seat;
            let claim_id = if needs_seat_now {
                match self.reserve_for(&first, &payload, now).await {
                    Ok(Some(c)) => Some(c),
                    Ok(None) | Err(_) => break,
                }
            } else {
                // Approval without a hold: admit only when a seat is free.
                match self.ledger.usage(pool).await {
                    Ok(u) if u.used < rules_pool.seats => None,
                    _ => break,
                }
            };
            let to = if payload.approval {
                RequestState::Pending
            } else {
                RequestState::Approved
            };
            let change = RequestChange {
                at: now,
                by: Some("system".into()),
                reason: Some("a seat freed".into()),
                claim_id: Some(claim_id.clone()),
                // Kept only when admitted straight to APPROVED (closed); a
                // move to PENDING stores none.
                retain_until: Some(self.closed_request_retained_until(now)),
            };
            match self
                .ledger
                .transition_request(&first.id, RequestState::Waitlisted, to, &change)
                .await
            {
                Ok(Some(updated)) => {
                    admitted += 1;
                    self.audit(
                        "system",
                        "request.admitted",
                        &first.key,
                        format!("{} → {}", first.id, to.as_str()),
                        now,
                    )
                    .await;
                    match (to, &claim_id) {
                        (RequestState::Approved, Some(c)) => {
                            self.start_member(&updated, &payload, c, sink, now).await;
                        }
                        _ => self.notify_approvers(&updated, rules_pool.seats).await,
                    }
                }
                _ => {
                    if let Some(c) = &claim_id {
                        self.release_with_retry(&first.key, c).await;
                    }
                    break;
                }
            }
            if !needs_seat_now {
                break;
            }
        }
        admitted
    }

    /// A pool's requests in a state, as the page shows them.
    pub async fn request_views(
        &self,
        pool: &PoolId,
        state: RequestState,
    ) -> Result<Vec<RequestView>, LedgerError> {
        let records = self.ledger.requests(pool, state).await?;
        Ok(records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut v = view(r);
                if state == RequestState::Waitlisted {
                    v.position = Some(i + 1);
                }
                v
            })
            .collect())
    }

    async fn notify_approvers(&self, record: &SignupRecord, capacity: u32) {
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

    /// When a request closed at `now` may be deleted with its personal
    /// data: `now` plus the configured retention (saturating, so an absurd
    /// setting means "kept", never a time in the past).
    fn closed_request_retained_until(&self, now: UnixMillis) -> UnixMillis {
        let retention =
            i64::try_from(self.settings.request_retention.as_millis()).unwrap_or(i64::MAX);
        now.saturating_add(retention)
    }

    /// Appends to the audit trail; a failure is logged, never fatal.
    pub(super) async fn audit(
        &self,
        actor: &str,
        action: &str,
        key: &ClaimKey,
        detail: String,
        now: UnixMillis,
    ) {
        let event = AuditEvent {
            at: now,
            actor: actor.to_string(),
            action: action.to_string(),
            pool: Some(key.pool.to_string()),
            person: Some(key.person.clone()),
            detail,
        };
        if let Err(e) = self.ledger.audit(&event).await {
            tracing::warn!(action, "audit trail: {e}");
        }
    }
}

/// The approval mode after a source's override.
pub(super) fn effective_approval(overrides: &Overrides, decision: &Decision) -> ApprovalMode {
    overrides.approval.unwrap_or(decision.approval)
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

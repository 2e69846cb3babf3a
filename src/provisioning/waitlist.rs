//! The waitlist: a pool with `waitlist = true` queues a sign-up that finds
//! it full as WAITLISTED, in arrival order. Whenever a seat frees (a deny, an
//! expiry, a failed creation, a sweep), [`Provisioner::admit_waitlisted`]
//! admits the first in line: through approval when the pool requires it,
//! straight to a member otherwise. Open requests past their time expire
//! ([`Provisioner::expire_requests`]). The applicant is mailed on joining
//! the line (with their place), on admission and on expiry.

use super::outcome::Outcome;
use super::requests::RequestPayload;
use super::workflow::Provisioner;
use crate::domain::{DeliveryKey, Overrides, PoolId, RequestState, SignupRequest, UnixMillis};
use crate::notify::mail::ApplicantEvent;
use crate::policy::Grant;
use crate::portal::Portal;
use crate::queue::JobSink;
use crate::seats::{Hold, RequestChange, SeatLedger, Stage};

use super::claims::QUEUED;

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// A sign-up that found its pool full, for a pool with a waitlist.
    pub(super) async fn join_waitlist(
        &self,
        delivery: &DeliveryKey,
        req: &SignupRequest,
        overrides: &Overrides,
        grant: &Grant,
        now: UnixMillis,
    ) -> Outcome {
        match self
            .open_request(
                delivery,
                req,
                overrides,
                grant,
                RequestState::Waitlisted,
                None,
                now,
            )
            .await
        {
            Ok(o) | Err(o) => o,
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
            let to = if payload.approval {
                RequestState::Pending
            } else {
                RequestState::Approved
            };
            // An admission to approval holds its seat as the approval's; one
            // straight to a member holds it for the member's job.
            let hold = if payload.approval {
                Hold::Approval
            } else {
                Hold::Queued
            };
            let seat = if needs_seat_now {
                match self.seat_for(&first, &payload, hold, now).await {
                    Ok(Some(s)) => Some(s),
                    Ok(None) | Err(_) => break,
                }
            } else {
                // Approval without a hold: admit only when a seat is free.
                match self.ledger.usage(pool).await {
                    Ok(u) if u.used < rules_pool.seats => None,
                    _ => break,
                }
            };
            if let Some(s) = &seat
                && s.ours
                && s.stage != Stage::Reserved(hold)
                && !self
                    .rehold(&first.key, &s.claim_id, &[s.stage], hold, now)
                    .await
            {
                break;
            }
            let claim_id = seat.as_ref().map(|s| s.claim_id.clone());
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
                    match (to, &seat) {
                        (RequestState::Approved, Some(s)) if s.ours => {
                            self.start_member(&updated, &payload, &s.claim_id, QUEUED, sink, now)
                                .await;
                        }
                        (RequestState::Approved, _) => {}
                        _ => self.notify_approvers(&updated, rules_pool.seats).await,
                    }
                    let event = if to == RequestState::Approved {
                        ApplicantEvent::Approved {
                            invitation: self.invitation_of(&updated),
                        }
                    } else {
                        ApplicantEvent::AwaitingApproval {
                            until: updated.expires_at,
                        }
                    };
                    self.tell_applicant(&updated, event).await;
                }
                _ => {
                    if let Some(s) = &seat
                        && s.ours
                    {
                        self.give_back_unless_used(&first, &s.claim_id, &[Stage::Reserved(hold)])
                            .await;
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
}

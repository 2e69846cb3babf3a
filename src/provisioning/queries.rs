//! What the workflow answers without changing anything: the seat status of
//! every pool (`GET /status`, the `seats` command, the administrator's
//! page), the requests waiting for a decision or a seat, one request as a
//! confirmation page shows it, the recent audit trail, sign-ups over the
//! last days, one pool's member list, and whether a person holds a seat.
//! Routes read through these, never through the ledger.

use std::collections::HashMap;

use super::history::{HISTORY_CAP, SignupHistory};
use super::requests::view;
use super::roster::{self, MemberRow};
use super::status::{self, PoolStatus};
use super::workflow::Provisioner;
use crate::domain::date::{DAY_MS, Day};
use crate::domain::{PoolId, RequestState, SignupRequest, UnixMillis};
use crate::notify::RequestView;
use crate::policy::lifecycle::Lifecycle;
use crate::portal::Portal;
use crate::seats::{AuditEvent, AuditLog, LedgerError, SeatLedger};

/// Everything the administrator's page shows, read at once.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    /// Every pool's seats.
    pub pools: Vec<PoolStatus>,
    /// Requests waiting for a decision, oldest first across pools.
    pub pending: Vec<RequestView>,
    /// Requests waiting for a seat, pool by pool in queue order.
    pub waitlist: Vec<RequestView>,
    /// The newest audit events, newest first.
    pub events: Vec<AuditEvent>,
    /// Some part could not be read (the page says so; the rest is shown).
    pub degraded: bool,
}

/// One pool as its page on the administrator's site shows it.
#[derive(Debug, Clone)]
pub struct PoolDetail {
    /// The pool's numbers.
    pub status: PoolStatus,
    /// Its pending requests that hold no seat yet (each takes a free seat
    /// when approved).
    pub pending_without_seat: u32,
    /// The pool's lifecycle, if it has one.
    pub lifecycle: Option<Lifecycle>,
    /// One row per seat, by person.
    pub members: Vec<MemberRow>,
    /// Whether the last sign-ins were read from the portal.
    pub sign_ins: SignIns,
}

/// Whether a member list carries the portal's last sign-ins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIns {
    /// Not asked for.
    NotRead,
    /// Read from the organization's member list.
    Read,
    /// Asked for, but the portal could not be read (why, for the page).
    Unavailable(String),
}

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Sign-ups per pool on each of the `days` days ending today (UTC),
    /// from the audit trail (see `provisioning::history`): one read of the
    /// trail, at most [`HISTORY_CAP`] events.
    pub async fn signup_history(
        &self,
        now: UnixMillis,
        days: usize,
    ) -> Result<SignupHistory, LedgerError> {
        let today = Day::of(now);
        let back = i64::try_from(days.saturating_sub(1)).unwrap_or(i64::MAX);
        let since = today.start().saturating_sub(back.saturating_mul(DAY_MS));
        let events = self.ledger.audit_since(since, HISTORY_CAP).await?;
        let complete = events.len() < HISTORY_CAP;
        Ok(SignupHistory::count(&events, today, days, complete))
    }

    /// The pool named `pool` with its member list; `None` when the rules
    /// have no such pool. With `sign_ins`, the members' last sign-ins are
    /// read from the portal (one listing of the whole organization); a
    /// portal that cannot be read leaves them unread and says why.
    pub async fn pool_detail(
        &self,
        pool: &str,
        sign_ins: bool,
        now: UnixMillis,
    ) -> Result<Option<PoolDetail>, LedgerError> {
        let Some(p) = self
            .policy
            .rules()
            .pools
            .iter()
            .find(|p| p.id.as_str() == pool)
        else {
            return Ok(None);
        };
        let status = status::pool_status(&*self.ledger, p, now).await?;
        let pending_without_seat = self
            .request_views(&p.id, RequestState::Pending)
            .await?
            .iter()
            .filter(|r| !r.holds_seat)
            .count() as u32;
        let claims = self.ledger.claims(&p.id).await?;
        let (logins, sign_ins) = if sign_ins {
            match self.portal.org_members().await {
                Ok(members) => (
                    Some(
                        members
                            .into_iter()
                            .map(|m| (m.username.to_lowercase(), m.last_login))
                            .collect::<HashMap<_, _>>(),
                    ),
                    SignIns::Read,
                ),
                Err(e) => {
                    tracing::warn!(pool, "admin page: last sign-ins: {e}");
                    (
                        None,
                        SignIns::Unavailable("ArcGIS Online could not be read".into()),
                    )
                }
            }
        } else {
            (None, SignIns::NotRead)
        };
        let members = roster::rows(&claims, p.lifecycle.as_ref(), logins.as_ref());
        Ok(Some(PoolDetail {
            status,
            pending_without_seat,
            lifecycle: p.lifecycle.clone(),
            members,
            sign_ins,
        }))
    }

    /// Fills the portal client's caches before the first sign-up needs
    /// them: the token and organization id, and every pool's group ids, so
    /// a new member then costs its one invitation. For a long-running
    /// server, in the background once it serves; a failure (the portal
    /// down at start) is only logged: the first sign-up fills the caches.
    pub async fn warm_up(&self) {
        if let Err(e) = self.portal.org_id().await {
            tracing::warn!("portal warm-up: {e}");
            return;
        }
        for pool in &self.policy.rules().pools {
            if pool.groups.is_empty() {
                continue;
            }
            if let Err(e) = self.portal.group_ids(&pool.groups).await {
                tracing::warn!(pool = %pool.id, "portal warm-up: {e}");
            }
        }
    }

    /// Whether the person already holds a seat (reserved or active) in the
    /// pool the rules give them. Reads only: for events that fire on every
    /// sign-in, so those write nothing for people who have a seat.
    pub async fn holds_seat(&self, req: &SignupRequest) -> Result<bool, LedgerError> {
        let Ok(grant) = self.policy.grant(req) else {
            return Ok(false);
        };
        let key = grant.claim_key(&req.email);
        Ok(self.ledger.claim(&key).await?.is_some())
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

    /// One request as a confirmation page shows it.
    pub async fn request_view(&self, id: &str) -> Result<Option<RequestView>, LedgerError> {
        Ok(self.ledger.request(id).await?.as_ref().map(view))
    }

    /// Every pool's seats at `now`.
    pub async fn seat_status(&self, now: UnixMillis) -> Result<Vec<PoolStatus>, LedgerError> {
        status::pools(&*self.ledger, self.policy.rules(), now).await
    }

    /// Appends an event that is not a seat's or a request's (an
    /// administrator signing in) to the audit trail.
    pub async fn record(&self, event: &AuditEvent) -> Result<(), LedgerError> {
        self.ledger.audit(event).await
    }

    /// The administrator's page at `now`: pools, pending requests,
    /// waitlists and recent events. A part that cannot be read is logged and
    /// left empty, and the overview says it is degraded.
    pub async fn overview(&self, now: UnixMillis) -> Overview {
        let rules = self.policy.rules();
        let mut degraded = false;
        let pools = self.seat_status(now).await.unwrap_or_else(|e| {
            tracing::error!("admin page: pools: {e}");
            degraded = true;
            Vec::new()
        });
        let (mut pending, mut waitlist) = (Vec::new(), Vec::new());
        for pool in &rules.pools {
            for (wanted, into) in [
                (RequestState::Pending, &mut pending),
                (RequestState::Waitlisted, &mut waitlist),
            ] {
                match self.request_views(&pool.id, wanted).await {
                    Ok(views) => into.extend(views),
                    Err(e) => {
                        tracing::error!(pool = %pool.id, "admin page: requests: {e}");
                        degraded = true;
                    }
                }
            }
        }
        // Oldest first across pools: the first to ask is the first shown.
        pending.sort_by(|a: &RequestView, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        let events = recent_events(&*self.ledger, now).await.unwrap_or_else(|e| {
            tracing::error!("admin page: audit: {e}");
            degraded = true;
            Vec::new()
        });
        Overview {
            pools,
            pending,
            waitlist,
            events,
            degraded,
        }
    }
}

/// How many audit events the administrator's page shows.
pub const RECENT_EVENTS: usize = 50;
/// The most events read from one window of the audit trail.
pub const WINDOW_CAP: usize = 1000;

/// The newest [`RECENT_EVENTS`] audit events, newest first.
///
/// The trail is read oldest first from a starting time, at most
/// [`WINDOW_CAP`] events at a time, so the page looks back through a window
/// of the last ten minutes: widened while it holds fewer events than the
/// page shows, narrowed (by bisection) while it holds more than one read
/// returns, since such a read would give its oldest events.
async fn recent_events<L: AuditLog>(
    ledger: &L,
    now: UnixMillis,
) -> Result<Vec<AuditEvent>, LedgerError> {
    const MINUTE: i64 = 60_000;
    let read = |window: i64| ledger.audit_since(now - window, WINDOW_CAP);
    let truncated = |events: &Vec<AuditEvent>| events.len() >= WINDOW_CAP;
    let first = 10 * MINUTE;
    let mut events = read(first).await?;
    if truncated(&events) {
        // Bisect between a window known to hold too many (`hi`) and one
        // known to hold few enough (`lo`, at first empty).
        let (mut lo, mut hi) = (0, first);
        events = Vec::new();
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let got = read(mid).await?;
            if truncated(&got) {
                hi = mid;
            } else {
                lo = mid;
                let enough = got.len() >= RECENT_EVENTS;
                events = got;
                if enough {
                    break;
                }
            }
        }
    } else {
        for wider in [
            60 * MINUTE,
            24 * 60 * MINUTE,
            7 * 24 * 60 * MINUTE,
            31 * 24 * 60 * MINUTE,
        ] {
            if events.len() >= RECENT_EVENTS {
                break;
            }
            let more = read(wider).await?;
            if truncated(&more) {
                break;
            }
            events = more;
        }
    }
    let skip = events.len().saturating_sub(RECENT_EVENTS);
    events.drain(..skip);
    events.reverse();
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seats::memory::MemoryLedger;

    const NOW: UnixMillis = 1_790_000_000_000;

    fn event(at: UnixMillis, n: usize) -> AuditEvent {
        AuditEvent {
            at,
            actor: "system".into(),
            action: "test".into(),
            pool: None,
            person: None,
            detail: format!("#{n}"),
        }
    }

    async fn details(ledger: &MemoryLedger) -> Vec<String> {
        recent_events(ledger, NOW)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.detail)
            .collect()
    }

    #[tokio::test]
    async fn the_newest_events_come_first_from_however_far_back() {
        let ledger = MemoryLedger::new();
        assert!(details(&ledger).await.is_empty());
        // Three events, days apart: all found, newest first.
        for (n, days) in [(0, 20), (1, 3), (2, 0)] {
            ledger
                .audit(&event(NOW - days * 86_400_000 - 1000, n))
                .await
                .unwrap();
        }
        assert_eq!(details(&ledger).await, ["#2", "#1", "#0"]);
    }

    #[tokio::test]
    async fn a_busy_trail_shows_only_its_newest_events() {
        let ledger = MemoryLedger::new();
        // More events in the last minutes than one window may read: the
        // page still shows the newest ones, not the oldest of the window.
        for n in 0..(WINDOW_CAP + 500) {
            ledger
                .audit(&event(NOW - 300_000 + n as i64, n))
                .await
                .unwrap();
        }
        let shown = details(&ledger).await;
        assert_eq!(shown.len(), RECENT_EVENTS);
        assert_eq!(shown[0], format!("#{}", WINDOW_CAP + 499));
    }
}

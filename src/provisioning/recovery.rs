//! Recovery of reservations left behind: by a crashed attempt, by a job
//! nobody runs any more, by an invitation whose outcome was not seen, or by
//! an approval hold whose request is gone.
//!
//! A process killed between `reserve` and `activate` leaves a RESERVED
//! claim. The member may or may not exist in the portal (the invite may
//! have gone through just before the crash). The sweeper settles each stale
//! claim (in flight, queued or unknown, untouched for the stale time) by
//! asking the portal the way creation does ([`Provisioner::scan`]): if a
//! member of this organization with the claim's e-mail holds one of the
//! usernames derived from the claim's intended one, the claim is activated
//! (adopted); otherwise the seat is released. If the portal cannot be asked,
//! the claim is kept for the next sweep. Either way the ledger's count
//! converges to the members in the portal.
//!
//! A seat held for approval belongs to its pending request: the sweeper
//! leaves it alone while a pending request names it, and gives it back
//! once none does (the request was written nowhere, or closed without its
//! hold being given back).

use std::time::Duration;

use tokio::time::Instant;

use crate::domain::{PoolId, RequestState, UnixMillis, Username};
use crate::policy::Pool;
use crate::policy::username::MAX_CANDIDATES;
use crate::portal::{Portal, PortalError};
use crate::seats::{Claim, FailedSignup, Hold, LedgerError, SeatLedger, Stage, Transition};

use super::claims::APPROVAL;
use super::jobs::FAILURE_RETENTION;
use super::member::{Person, Scan};
use super::workflow::Provisioner;

/// How long the sweeper gives the portal to settle one claim.
const SETTLE_TIME: Duration = Duration::from_secs(30);

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Stale claims whose member was found and activated.
    pub adopted: u32,
    /// Stale claims released (no member was created, or an approval hold
    /// no pending request names).
    pub released: u32,
    /// Stale claims left for later (portal or store unavailable, or moved
    /// on meanwhile).
    pub kept: u32,
}

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Settles every RESERVED claim not touched for `older_than`, in every
    /// pool of the rules, leaving alone the reservations in `spare` (claim
    /// ids of queued jobs that will settle them themselves) and the seats
    /// held for pending requests. Safe to run while requests are served, as
    /// long as `older_than` exceeds the request deadline (the default stale
    /// threshold does): every change is conditional on the claim's id and
    /// the stage it was read in, so a claim that moved on meanwhile is left
    /// as it is. A single-process server may pass zero at start-up, when no
    /// request can be in flight.
    pub async fn sweep(
        &self,
        now: UnixMillis,
        older_than: Duration,
        spare: &[String],
    ) -> SweepReport {
        let mut report = SweepReport::default();
        let mut org_id: Option<String> = None;
        for pool in &self.policy.rules().pools {
            let claims = match self.ledger.claims(&pool.id).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(pool = %pool.id, "sweep: cannot list claims: {e}");
                    continue;
                }
            };
            let mut pending: Option<Vec<String>> = None;
            for claim in claims {
                let age = now - claim.updated_at;
                let stage = claim.stage();
                if stage == Stage::Active
                    || age < older_than.as_millis() as i64
                    || spare.contains(&claim.claim_id)
                {
                    continue;
                }
                let settled = if stage == Stage::Reserved(Hold::Approval) {
                    self.settle_hold(&claim, &pool.id, &mut pending).await
                } else {
                    if org_id.is_none() {
                        match self.portal.org_id().await {
                            Ok(id) => org_id = Some(id),
                            Err(e) => {
                                tracing::warn!("sweep stopped: portal unavailable: {e}");
                                report.kept += 1;
                                return report;
                            }
                        }
                    }
                    let org = org_id.as_deref().unwrap_or_default();
                    self.settle(&claim, pool, org, now).await
                };
                match settled {
                    Ok(Settle::Adopted) => report.adopted += 1,
                    Ok(Settle::Released) => report.released += 1,
                    Ok(Settle::Left) => {}
                    Ok(Settle::MovedOn) => report.kept += 1,
                    Err(e) => {
                        tracing::warn!(pool = %pool.id, claim = %claim.claim_id, "sweep: kept: {e}");
                        report.kept += 1;
                    }
                }
            }
        }
        if report != SweepReport::default() {
            tracing::info!(
                adopted = report.adopted,
                released = report.released,
                kept = report.kept,
                "stale reservations settled"
            );
        }
        report
    }

    /// Activates or releases one claim in flight, queued or unknown, from
    /// the stage it was read in, by what the portal holds: for a sign-up
    /// (or an import's new member), the person's member under one of the
    /// claim's username candidates, looked up the way creation does; for an
    /// import's user type change (`import:…:move`), the member having the
    /// pool's user type.
    async fn settle(
        &self,
        claim: &Claim,
        pool: &Pool,
        org_id: &str,
        now: UnixMillis,
    ) -> Result<Settle, SettleError> {
        let from = [claim.stage()];
        let base = claim
            .username
            .as_deref()
            .and_then(|u| Username::parse(u).ok());
        let found = match base {
            None => None,
            Some(base) if is_import_move(&claim.delivery) => self
                .portal
                .member(base.as_str())
                .await?
                .filter(|m| m.user_type.as_deref() == Some(pool.user_type.as_str()))
                .map(|m| m.username),
            Some(base) => {
                let deadline = Instant::now() + SETTLE_TIME;
                match self
                    .scan(
                        org_id,
                        &Person {
                            key: claim.key.person.clone(),
                            identity: pool.email_identity,
                        },
                        &base,
                        MAX_CANDIDATES,
                        deadline,
                    )
                    .await?
                {
                    Scan::Ours(name) => Some(name.as_str().to_string()),
                    Scan::Free | Scan::AllTaken => None,
                }
            }
        };
        if let Some(username) = found {
            return Ok(
                match self
                    .activate(&claim.key, &claim.claim_id, &from, &username, now)
                    .await?
                {
                    Transition::Done(_) => {
                        // The attempt may have stopped between the account
                        // and its groups (an Enterprise portal's createUser
                        // takes none).
                        if !is_import_move(&claim.delivery) {
                            self.portal
                                .add_adopted_to_groups(&username, &pool.groups)
                                .await;
                        }
                        Settle::Adopted
                    }
                    _ => Settle::MovedOn,
                },
            );
        }
        // Whoever asked for this seat gets no member: say so where the
        // administrator looks (the status page's failures, the audit trail),
        // in the release's own write.
        let failure = FailedSignup {
            key: claim.key.clone(),
            delivery: claim.delivery.clone(),
            username: claim.username.clone(),
            code: "not_created".into(),
            message: "The member was not created (the attempt stopped before it finished and the portal holds no member or invitation for the person); the seat was given back.".into(),
            at: now,
        };
        let retain_until = now + FAILURE_RETENTION.as_millis() as i64;
        if !self.give_up_as_read(claim, &failure, retain_until).await {
            return Ok(Settle::MovedOn);
        }
        self.audit(
            "system",
            "seat.released",
            &claim.key,
            format!("stale reservation of {} settled: no member", claim.delivery),
            now,
        )
        .await;
        Ok(Settle::Released)
    }

    /// Gives back a stale approval hold that no pending request of the pool
    /// names (`Some(false)`); leaves one that a request names (`None`).
    async fn settle_hold(
        &self,
        claim: &Claim,
        pool: &PoolId,
        pending: &mut Option<Vec<String>>,
    ) -> Result<Settle, SettleError> {
        if pending.is_none() {
            let open = self.ledger.requests(pool, RequestState::Pending).await?;
            *pending = Some(open.into_iter().filter_map(|r| r.claim_id).collect());
        }
        if pending
            .as_ref()
            .is_some_and(|ids| ids.contains(&claim.claim_id))
        {
            return Ok(Settle::Left);
        }
        tracing::warn!(pool = %pool, claim = %claim.claim_id, "an approval hold no pending request names: given back");
        Ok(
            if self.give_back(&claim.key, &claim.claim_id, APPROVAL).await {
                Settle::Released
            } else {
                Settle::MovedOn
            },
        )
    }
}

/// What settling an interrupted import found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Claims confirmed (the dead run's change had reached the portal).
    pub confirmed: u32,
    /// Claims released (it had not).
    pub released: u32,
}

/// What settling one claim did.
enum Settle {
    /// Its member was found: ACTIVE.
    Adopted,
    /// No member: its seat was given back.
    Released,
    /// Left as it is (an approval hold its request still names).
    Left,
    /// It changed meanwhile (another path settled it), or the store refused
    /// the release: nothing done.
    MovedOn,
}

/// Whether a claim's delivery is an import's user type change
/// (`import:<file hash>:<row>:move`).
fn is_import_move(delivery: &str) -> bool {
    delivery.starts_with("import:") && delivery.ends_with(":move")
}

/// Why settling an interrupted import (or a stale claim) could not finish.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// The portal could not be asked.
    #[error("{0}")]
    Portal(#[from] PortalError),
    /// The ledger could not be read or written.
    #[error("{0}")]
    Ledger(#[from] LedgerError),
}

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Settles the RESERVED claims an earlier, interrupted import of the
    /// file `file_hash` left (their delivery is `import:<file hash>:<row>`
    /// for a creation, `…:move` for a user type change), in every pool of the
    /// rules: a creation whose member exists (ours: same organization and
    /// e-mail) is confirmed, otherwise released; a move whose member already
    /// has the pool's user type is confirmed, otherwise released. Only one
    /// import of a file runs at a time, so nothing else is working on them.
    pub async fn settle_import(
        &self,
        file_hash: &str,
        now: UnixMillis,
    ) -> Result<Settled, SettleError> {
        let prefix = format!("import:{file_hash}:");
        let mut out = Settled::default();
        let mut org_id: Option<String> = None;
        for pool in &self.policy.rules().pools {
            for claim in self.ledger.claims(&pool.id).await? {
                let unsettled = matches!(
                    claim.stage(),
                    Stage::Reserved(Hold::InFlight | Hold::Unknown)
                );
                if !unsettled || !claim.delivery.starts_with(&prefix) {
                    continue;
                }
                if org_id.is_none() {
                    org_id = Some(self.portal.org_id().await?);
                }
                let org = org_id.as_deref().unwrap_or_default();
                match self.settle(&claim, pool, org, now).await? {
                    Settle::Adopted => out.confirmed += 1,
                    Settle::Released => out.released += 1,
                    Settle::Left | Settle::MovedOn => {}
                }
            }
        }
        if out != Settled::default() {
            tracing::info!(
                confirmed = out.confirmed,
                released = out.released,
                "settled the seats an interrupted run of this file left reserved"
            );
        }
        Ok(out)
    }
}

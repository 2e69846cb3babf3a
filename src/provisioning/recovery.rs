//! Recovery of reservations left behind by a crashed attempt.
//!
//! A process killed between `reserve` and `confirm` leaves a RESERVED claim.
//! The member may or may not exist in the portal (the invite may have gone
//! through just before the crash). The sweeper settles each stale claim by
//! asking the portal: if a member with the claim's e-mail exists under one of
//! the usernames derived from the claim's intended username, the claim is
//! confirmed (adopted); otherwise the seat is released. If the portal cannot
//! be asked, the claim is kept for the next sweep. Either way the ledger's
//! count converges to the members in the portal.

use std::time::Duration;

use crate::domain::{UnixMillis, Username};
use crate::policy::username::{MAX_CANDIDATES, candidate};
use crate::portal::{Portal, PortalError};
use crate::seats::{Claim, ClaimState, LedgerError, SeatLedger};

use super::workflow::Provisioner;

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Stale claims whose member was found and confirmed.
    pub adopted: u32,
    /// Stale claims released (no member was created).
    pub released: u32,
    /// Stale claims left for later (portal or store unavailable).
    pub kept: u32,
}

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Settles every RESERVED claim not touched for `older_than`, in every
    /// pool of the rules, leaving alone the reservations in `spare` (claim
    /// ids of queued jobs that will settle them themselves). Safe to run
    /// while requests are served, as long as `older_than` exceeds the request
    /// deadline (the default stale threshold does); a single-process server
    /// may pass zero at start-up, when no request can be in flight.
    pub async fn sweep(
        &self,
        now: UnixMillis,
        older_than: Duration,
        spare: &[String],
    ) -> SweepReport {
        let mut report = SweepReport::default();
        let org_id = match self.portal.org_id().await {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!("sweep skipped: portal unavailable: {e}");
                return report;
            }
        };
        for pool in &self.policy.rules().pools {
            let claims = match self.ledger.claims(&pool.id).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(pool = %pool.id, "sweep: cannot list claims: {e}");
                    continue;
                }
            };
            for claim in claims {
                let age = now - claim.updated_at;
                if claim.state != ClaimState::Reserved
                    || age < older_than.as_millis() as i64
                    || spare.contains(&claim.claim_id)
                {
                    continue;
                }
                match self.settle(&claim, &org_id, now).await {
                    Ok(true) => report.adopted += 1,
                    Ok(false) => report.released += 1,
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

    /// Adopts (true) or releases (false) one stale claim.
    async fn settle(&self, claim: &Claim, org_id: &str, now: UnixMillis) -> Result<bool, String> {
        let base = claim
            .username
            .as_deref()
            .and_then(|u| Username::parse(u).ok());
        if let Some(base) = base {
            for n in 0..MAX_CANDIDATES {
                let name = candidate(&base, n);
                let found = self
                    .portal
                    .member(name.as_str())
                    .await
                    .map_err(|e: PortalError| e.to_string())?;
                let Some(m) = found else {
                    // Candidates are used in order: past the first unused
                    // name, no later one can be ours.
                    break;
                };
                let ours = m.org_id.as_deref() == Some(org_id)
                    && m.email.as_deref().map(str::to_lowercase).as_deref()
                        == Some(claim.key.person.as_str());
                if ours {
                    self.confirm_seat(&claim.key, &claim.claim_id, name.as_str(), now)
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(true);
                }
            }
        }
        self.release_seat(&claim.key, &claim.claim_id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(false)
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

/// Why settling an interrupted import could not finish.
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
                if claim.state != ClaimState::Reserved || !claim.delivery.starts_with(&prefix) {
                    continue;
                }
                let is_move = claim.delivery.ends_with(":move");
                let member = match &claim.username {
                    Some(u) => self.portal.member(u).await?,
                    None => None,
                };
                let keep = match &member {
                    None => false,
                    Some(m) if is_move => m.user_type.as_deref() == Some(pool.user_type.as_str()),
                    Some(m) => {
                        if org_id.is_none() {
                            org_id = Some(self.portal.org_id().await?);
                        }
                        m.org_id == org_id
                            && m.email.as_deref().map(str::to_lowercase).as_deref()
                                == Some(claim.key.person.as_str())
                    }
                };
                match (keep, member) {
                    (true, Some(m)) => {
                        self.confirm_seat(&claim.key, &claim.claim_id, &m.username, now)
                            .await?;
                        out.confirmed += 1;
                    }
                    _ => {
                        self.release_seat(&claim.key, &claim.claim_id).await?;
                        out.released += 1;
                    }
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

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
use crate::seats::{Claim, ClaimState, SeatLedger};

use super::Provisioner;

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
    /// pool of the rules. Safe to run while requests are served, as long as
    /// `older_than` exceeds the request deadline (the default stale threshold
    /// does); a single-process server may pass zero at start-up, when no
    /// request can be in flight.
    pub async fn sweep(&self, now: UnixMillis, older_than: Duration) -> SweepReport {
        self.sweep_sparing(now, older_than, &[]).await
    }

    /// [`Self::sweep`], leaving alone the reservations in `spare` (claim
    /// ids of queued jobs that will settle them themselves).
    pub async fn sweep_sparing(
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
                    self.ledger
                        .confirm(&claim.key, &claim.claim_id, name.as_str(), now)
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(true);
                }
            }
        }
        self.ledger
            .release(&claim.key, &claim.claim_id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(false)
    }
}

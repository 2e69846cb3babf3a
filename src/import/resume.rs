//! Resuming an interrupted import of the same file.
//!
//! A run killed mid-way leaves, for the rows it had in flight, RESERVED
//! claims whose delivery is `import:<file hash>:<row>` (a creation) or
//! `import:<file hash>:<row>:move` (a user type change), and delivery
//! leases still marked in progress. Only one import of a file runs at a
//! time (the CLI takes a lock; the Lambda runs one at a time), so before
//! validating, the new run settles its own claims like the sweeper does:
//! a creation whose member exists (ours: same organization and e-mail) is
//! confirmed, otherwise released; a move whose member already has the new
//! user type is confirmed, otherwise released. Leases are dropped lazily by
//! the executor when it meets one. Then validation sees the members the dead
//! run created as existing and reports them unchanged, and creates each
//! missing one exactly once.

use crate::domain::UnixMillis;
use crate::policy::Rules;
use crate::portal::{Portal, PortalError};
use crate::seats::{ClaimState, ClaimStore, LedgerError};

/// What settling found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Claims confirmed (the dead run's change had reached the portal).
    pub confirmed: u32,
    /// Claims released (it had not).
    pub released: u32,
}

/// Why settling could not finish.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// The portal could not be asked.
    #[error("{0}")]
    Portal(#[from] PortalError),
    /// The ledger could not be read or written.
    #[error("{0}")]
    Ledger(#[from] LedgerError),
}

/// Settles the RESERVED claims an earlier run of the file `file_hash` left.
pub async fn settle<L: ClaimStore, P: Portal>(
    ledger: &L,
    portal: &P,
    rules: &Rules,
    file_hash: &str,
    now: UnixMillis,
) -> Result<Settled, SettleError> {
    let prefix = format!("import:{file_hash}:");
    let mut out = Settled::default();
    let mut org_id: Option<String> = None;
    for pool in &rules.pools {
        for claim in ledger.claims(&pool.id).await? {
            if claim.state != ClaimState::Reserved || !claim.delivery.starts_with(&prefix) {
                continue;
            }
            let is_move = claim.delivery.ends_with(":move");
            let member = match &claim.username {
                Some(u) => portal.member(u).await?,
                None => None,
            };
            let keep = match &member {
                None => false,
                Some(m) if is_move => m.user_type.as_deref() == Some(pool.user_type.as_str()),
                Some(m) => {
                    if org_id.is_none() {
                        org_id = Some(portal.org_id().await?);
                    }
                    m.org_id == org_id
                        && m.email.as_deref().map(str::to_lowercase).as_deref()
                            == Some(claim.key.person.as_str())
                }
            };
            match (keep, member) {
                (true, Some(m)) => {
                    ledger
                        .confirm(&claim.key, &claim.claim_id, &m.username, now)
                        .await?;
                    out.confirmed += 1;
                }
                _ => {
                    ledger.release(&claim.key, &claim.claim_id).await?;
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

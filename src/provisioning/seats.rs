//! The seat side of the workflow: every write to a claim the workflow and
//! the import make goes through the methods here (reserve, confirm, release,
//! move to another pool, move to another e-mail), so the rules of a claim's
//! life are in one file.
//!
//! Reads for status pages and planning may use the ledger's read ports;
//! writes never bypass this file.

use std::time::Duration;

use super::outcome::{Outcome, store_unavailable};
use super::workflow::Provisioner;
use crate::domain::{ClaimKey, DeliveryKey, SignupRequest, UnixMillis};
use crate::policy::Grant;
use crate::portal::Portal;
use crate::seats::{
    Claim, ClaimState, LedgerError, Rekey, Reservation, ReserveRequest, SeatLedger,
};

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Reserves the person's seat: the claim's key and id to work on, or the
    /// answer when there is nothing to do. A live reservation by another
    /// attempt is "in progress" (`queued`: "accepted", its job will finish
    /// it); a stale one is taken over.
    pub(super) async fn reserve_claim(
        &self,
        delivery: &DeliveryKey,
        req: &SignupRequest,
        grant: &Grant,
        now: UnixMillis,
        queued: bool,
    ) -> Result<(ClaimKey, String), Outcome> {
        let key = ClaimKey {
            pool: grant.pool.clone(),
            person: req.email.key(),
        };
        let claim_id = match self.reserve_seat(&key, grant, delivery, now).await {
            Ok(Reservation::Reserved(c)) => c.claim_id,
            Ok(Reservation::PoolFull { used }) => {
                tracing::info!(pool = %grant.pool, used, "pool full");
                return Err(Outcome::PoolFull {
                    pool: grant.pool.to_string(),
                    seats: grant.capacity,
                });
            }
            Ok(Reservation::AlreadyHeld(c)) => match c.state {
                ClaimState::Active => {
                    return Err(Outcome::AlreadyMember {
                        pool: grant.pool.to_string(),
                        username: c.username.unwrap_or_default(),
                    });
                }
                ClaimState::Reserved
                    if now - c.updated_at < self.settings.stale_reservation.as_millis() as i64 =>
                {
                    return Err(if queued {
                        Outcome::Accepted {
                            pool: grant.pool.to_string(),
                            username: c.username.unwrap_or_default(),
                        }
                    } else {
                        Outcome::retry(
                            "claim_in_progress",
                            "A seat for this person is being set up by another request.",
                            10,
                        )
                    });
                }
                ClaimState::Reserved => {
                    // An attempt crashed after reserving: take its claim over.
                    tracing::warn!(pool = %grant.pool, claim = %c.claim_id, "adopting a stale reservation");
                    c.claim_id
                }
            },
            Err(e) => {
                tracing::error!("ledger reserve: {e}");
                return Err(store_unavailable());
            }
        };
        Ok((key, claim_id))
    }

    /// Takes a seat for `key` in the decided pool under a fresh claim id
    /// (see [`crate::seats::ClaimStore::reserve`]).
    pub(super) async fn reserve_seat(
        &self,
        key: &ClaimKey,
        grant: &Grant,
        delivery: &DeliveryKey,
        now: UnixMillis,
    ) -> Result<Reservation, crate::seats::LedgerError> {
        self.ledger
            .reserve(ReserveRequest {
                key,
                capacity: grant.capacity,
                delivery: &delivery.as_string(),
                claim_id: &self.ids.claim_id(),
                username: grant.username.as_str(),
                now,
            })
            .await
    }

    pub(super) async fn release_with_retry(&self, key: &ClaimKey, claim_id: &str) -> bool {
        for attempt in 0..3u32 {
            match self.ledger.release(key, claim_id).await {
                Ok(released) => return released,
                Err(e) => {
                    tracing::error!(attempt, "release failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        false
    }

    /// Confirms a RESERVED claim as ACTIVE under `username` (a seat the
    /// import moved, once the portal took the change).
    pub async fn confirm_seat(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        username: &str,
        now: UnixMillis,
    ) -> Result<Claim, LedgerError> {
        self.ledger.confirm(key, claim_id, username, now).await
    }

    /// Gives a claim's seat back (only the claim with this id). Whether a
    /// seat was given back.
    pub async fn release_seat(&self, key: &ClaimKey, claim_id: &str) -> Result<bool, LedgerError> {
        self.ledger.release(key, claim_id).await
    }

    /// Reserves a seat for `key` in a pool of `capacity` seats for a member
    /// that already exists (the import moving a member to the pool of their
    /// new user type): the delivery and intended username are kept on the
    /// claim, as for a sign-up.
    pub async fn reserve_seat_for(
        &self,
        key: &ClaimKey,
        capacity: u32,
        delivery: &str,
        username: &str,
        now: UnixMillis,
    ) -> Result<Reservation, LedgerError> {
        self.ledger
            .reserve(ReserveRequest {
                key,
                capacity,
                delivery,
                claim_id: &self.ids.claim_id(),
                username,
                now,
            })
            .await
    }

    /// Moves a claim to the person's new e-mail (same seat, same id), when
    /// a member's e-mail changes; see the ledger's `rekey`.
    pub async fn rekey_seat(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        new_person: &str,
        now: UnixMillis,
    ) -> Result<Rekey, LedgerError> {
        self.ledger.rekey(key, claim_id, new_person, now).await
    }
}

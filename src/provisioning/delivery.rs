//! The delivery lease around a sign-up: take it (or answer a replay, a
//! delivery in progress, a reused id) before anything is written, and after
//! the work store the final outcome for replays or drop the lease so the
//! sender's retry runs again.
//!
//! Only final outcomes (2xx/4xx in the sender's terms) are stored; a
//! "retry later" or a portal refusal (502) never is.

use super::outcome::{Handled, Outcome, store_unavailable};
use super::workflow::Provisioner;
use crate::domain::{DeliveryKey, UnixMillis};
use crate::portal::Portal;
use crate::seats::{DeliveryBegin, SeatLedger};

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Takes the delivery's lease, or returns the answer to give instead
    /// (a replay, "in progress", a reused id).
    pub(super) async fn begin_delivery(
        &self,
        delivery: &DeliveryKey,
        payload_hash: &str,
        now: UnixMillis,
    ) -> Result<(), Handled> {
        let lease_ms = self.settings.lease.as_millis() as i64;
        let answer = match self
            .ledger
            .begin_delivery(delivery, payload_hash, now, lease_ms)
            .await
        {
            Ok(DeliveryBegin::Started) => return Ok(()),
            Ok(DeliveryBegin::InProgress) => Handled::fresh(Outcome::retry(
                "delivery_in_progress",
                "This delivery is being handled by another attempt.",
                5,
            )),
            Ok(DeliveryBegin::Completed(json)) => match serde_json::from_str::<Outcome>(&json) {
                Ok(o) => Handled {
                    outcome: o,
                    replayed: true,
                },
                Err(e) => {
                    tracing::error!(delivery = %delivery.as_string(), "stored outcome unreadable: {e}");
                    Handled::fresh(store_unavailable())
                }
            },
            Ok(DeliveryBegin::PayloadMismatch) => Handled::fresh(Outcome::Rejected {
                code: "delivery_id_reused".into(),
                message: "This delivery id was already used with a different body.".into(),
            }),
            Err(e) => {
                tracing::error!(delivery = %delivery.as_string(), "ledger: {e}");
                Handled::fresh(store_unavailable())
            }
        };
        Err(answer)
    }

    /// Stores a final outcome for replays, or drops the lease of any other
    /// so the sender's retry runs again.
    pub(super) async fn finish_delivery(
        &self,
        delivery: &DeliveryKey,
        outcome: &Outcome,
        now: UnixMillis,
    ) {
        if outcome.stored_for_replay() {
            let retain_until = now + self.settings.retain.as_millis() as i64;
            match serde_json::to_string(outcome) {
                Ok(json) => {
                    if let Err(e) = self
                        .ledger
                        .finish_delivery(delivery, &json, now, retain_until)
                        .await
                    {
                        // The lease expires on its own; a retry then finds the
                        // claim and answers from it.
                        tracing::warn!(delivery = %delivery.as_string(), "could not store outcome: {e}");
                    }
                }
                Err(e) => tracing::error!("outcome not serialisable: {e}"),
            }
        } else {
            self.drop_delivery_lease(delivery).await;
        }
    }

    /// Drops a delivery's lease without an outcome, so the delivery runs
    /// again on its next attempt (a transient failure, or a lease left by a
    /// run that died). A failure is logged: the lease expires on its own.
    pub async fn drop_delivery_lease(&self, delivery: &DeliveryKey) {
        if let Err(e) = self.ledger.abandon_delivery(delivery).await {
            tracing::warn!(delivery = %delivery.as_string(), "could not drop lease: {e}");
        }
    }
}

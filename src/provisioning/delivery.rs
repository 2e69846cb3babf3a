//! The delivery lease around a sign-up: take it (or answer a replay, a
//! delivery in progress, a reused id) before anything is written, and after
//! the work store the final outcome for replays or drop the lease so the
//! sender's retry runs again.
//!
//! Each run of a delivery is one attempt with a fresh token (drawn from the
//! workflow's [`crate::ids::Ids`]) that owns the lease it takes: the store
//! answers that attempt's own repeated lease write "started" (its first
//! reply was lost), and stores the outcome or drops the lease only while
//! the lease is still that attempt's, so a run whose lease expired and was
//! taken over by another writes nothing (logged).
//!
//! Only final outcomes (2xx/4xx in the sender's terms) are stored; a
//! "retry later" or a portal refusal (502) never is.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::outcome::{Handled, Outcome, store_unavailable};
use super::workflow::Provisioner;
use crate::domain::{DeliveryKey, UnixMillis};
use crate::portal::Portal;
use crate::seats::{DeliveryBegin, LeaseHolder, LedgerError, SeatLedger};

impl<L: SeatLedger, P: Portal> Provisioner<L, P> {
    /// Takes the delivery's lease for a new attempt and returns the
    /// attempt's token (to pass to [`Self::finish_delivery`]), or returns
    /// the answer to give instead (a replay, "in progress", a reused id, a
    /// store failure) in the terms of `T`: a sign-up's [`Outcome`] or a
    /// decision's `DecisionOutcome`.
    pub(super) async fn begin_delivery<T: DeliveryAnswer>(
        &self,
        delivery: &DeliveryKey,
        payload_hash: &str,
        now: UnixMillis,
    ) -> Result<String, Answered<T>> {
        let lease_ms = self.settings.lease.as_millis() as i64;
        let attempt = self.ids.delivery_attempt();
        match self
            .ledger
            .begin_delivery(delivery, &attempt, payload_hash, now, lease_ms)
            .await
        {
            Ok(begin) => match answer_for(delivery, begin) {
                None => Ok(attempt),
                Some(answer) => Err(answer),
            },
            Err(e) => {
                tracing::error!(delivery = %delivery.as_string(), "ledger: {e}");
                self.drop_unanswered_lease(delivery, &attempt).await;
                Err(Answered::fresh(T::store_failed(&e)))
            }
        }
    }

    /// After a lease write that failed: it may have landed with its reply
    /// lost, and this run answers "retry later" without doing the work, so
    /// a lease of this attempt would only block the sender's retry until it
    /// expires. Drop it if it is there; only this attempt's lease can be
    /// dropped, so this is safe when the write never landed or another
    /// attempt holds the lease.
    pub(super) async fn drop_unanswered_lease(&self, delivery: &DeliveryKey, attempt: &str) {
        match self
            .ledger
            .abandon_delivery(delivery, LeaseHolder::Attempt(attempt))
            .await
        {
            Ok(true) => tracing::info!(
                delivery = %delivery.as_string(),
                "dropped the lease an unanswered write had taken"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                delivery = %delivery.as_string(),
                "could not check for a lease an unanswered write took; if it did, it blocks retries until it expires: {e}"
            ),
        }
    }

    /// Stores a final outcome for replays, or drops the lease of any other
    /// so the sender's retry runs again; either only while `attempt` (from
    /// [`Self::begin_delivery`]) still holds the lease.
    pub(super) async fn finish_delivery<T: DeliveryAnswer>(
        &self,
        delivery: &DeliveryKey,
        attempt: &str,
        outcome: &T,
        now: UnixMillis,
    ) {
        if outcome.is_final() {
            let retain_until = self.settings.retain_until(delivery, now);
            match serde_json::to_string(outcome) {
                Ok(json) => match self
                    .ledger
                    .finish_delivery(delivery, attempt, &json, now, retain_until)
                    .await
                {
                    Ok(true) => {}
                    // Nothing to undo: the lease expired and another attempt
                    // took it over (its outcome is the one kept, never ours
                    // over it), or the record was dropped and a redelivery
                    // answers from the claim.
                    Ok(false) => tracing::warn!(
                        delivery = %delivery.as_string(),
                        "outcome not stored: the lease is no longer this attempt's"
                    ),
                    // The lease expires on its own; a retry then finds the
                    // claim and answers from it.
                    Err(e) => {
                        tracing::warn!(delivery = %delivery.as_string(), "could not store outcome: {e}")
                    }
                },
                Err(e) => tracing::error!("outcome not serialisable: {e}"),
            }
        } else {
            match self
                .ledger
                .abandon_delivery(delivery, LeaseHolder::Attempt(attempt))
                .await
            {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    delivery = %delivery.as_string(),
                    "lease not dropped: it is no longer this attempt's"
                ),
                Err(e) => {
                    tracing::warn!(delivery = %delivery.as_string(), "could not drop lease: {e}")
                }
            }
        }
    }

    /// Drops a delivery's lease without an outcome, whichever attempt holds
    /// it, so the delivery runs again on its next attempt. Only for a caller
    /// that knows the holder is dead (the CSV import, under its file's lock,
    /// clearing a lease left by a run that died). A failure is logged: the
    /// lease expires on its own.
    pub async fn drop_delivery_lease(&self, delivery: &DeliveryKey) {
        match self
            .ledger
            .abandon_delivery(delivery, LeaseHolder::Any)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::info!(
                delivery = %delivery.as_string(),
                "no lease to drop: it ended or was finished meanwhile"
            ),
            Err(e) => {
                tracing::warn!(delivery = %delivery.as_string(), "could not drop lease: {e}")
            }
        }
    }
}

/// An answer given instead of running a delivery, and whether it is the
/// stored answer of an earlier run (a replay).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Answered<T> {
    /// The answer.
    pub(super) answer: T,
    /// Whether it was read from the delivery's stored record.
    pub(super) replayed: bool,
}

impl<T> Answered<T> {
    fn fresh(answer: T) -> Self {
        Answered {
            answer,
            replayed: false,
        }
    }
}

impl From<Answered<Outcome>> for Handled {
    fn from(a: Answered<Outcome>) -> Self {
        Handled {
            outcome: a.answer,
            replayed: a.replayed,
        }
    }
}

/// What a delivery answers its sender, as the lease around it needs to
/// know it: the answers for a lease it did not get, and which answers are
/// final (stored for replays; "retry later" never is). A sign-up answers
/// with an [`Outcome`], a signed decision with a `DecisionOutcome`
/// (its impl lives with it, in `approval`).
pub(super) trait DeliveryAnswer: Serialize + DeserializeOwned {
    /// Another attempt holds the lease.
    fn in_progress() -> Self;
    /// The delivery id was used before with another body.
    fn reused() -> Self;
    /// The store failed: nothing was done; retry later.
    fn store_failed(e: &LedgerError) -> Self;
    /// The stored answer of an earlier run could not be read.
    fn unreadable(e: &serde_json::Error) -> Self;
    /// Whether the answer is final in the sender's terms, so stored and
    /// replayed.
    fn is_final(&self) -> bool;
}

impl DeliveryAnswer for Outcome {
    fn in_progress() -> Self {
        Outcome::retry(
            "delivery_in_progress",
            "This delivery is being handled by another attempt.",
            5,
        )
    }
    fn reused() -> Self {
        Outcome::Rejected {
            code: "delivery_id_reused".into(),
            message: "This delivery id was already used with a different body.".into(),
        }
    }
    fn store_failed(_: &LedgerError) -> Self {
        store_unavailable()
    }
    fn unreadable(_: &serde_json::Error) -> Self {
        store_unavailable()
    }
    fn is_final(&self) -> bool {
        self.stored_for_replay()
    }
}

/// The answer a delivery whose lease was refused gets (a replay, another
/// attempt's lease, a reused id), or `None` when the lease is the
/// attempt's ([`DeliveryBegin::Started`]).
pub(super) fn answer_for<T: DeliveryAnswer>(
    delivery: &DeliveryKey,
    begin: DeliveryBegin,
) -> Option<Answered<T>> {
    Some(match begin {
        DeliveryBegin::Started => return None,
        DeliveryBegin::InProgress => Answered::fresh(T::in_progress()),
        DeliveryBegin::Completed(json) => match serde_json::from_str::<T>(&json) {
            Ok(answer) => Answered {
                answer,
                replayed: true,
            },
            Err(e) => {
                tracing::error!(delivery = %delivery.as_string(), "stored outcome unreadable: {e}");
                Answered::fresh(T::unreadable(&e))
            }
        },
        DeliveryBegin::PayloadMismatch => Answered::fresh(T::reused()),
    })
}

/// [`answer_for`] a sign-up.
pub(super) fn refused(delivery: &DeliveryKey, begin: DeliveryBegin) -> Option<Handled> {
    answer_for::<Outcome>(delivery, begin).map(Handled::from)
}

#[cfg(test)]
mod tests {
    //! A lease write whose reply is lost, through the whole sign-up: the
    //! memory ledger behind the fault-injecting wrapper, which does the
    //! write and then loses its answer (or retries it, as the DynamoDB SDK
    //! retries a timed-out write whose first try landed).

    use std::sync::Arc;

    use super::*;
    use crate::config::WorkflowSettings;
    use crate::domain::{Email, Overrides, PoolId, SignupRequest};
    use crate::policy::{Policy, Rules};
    use crate::portal::fake::FakePortal;
    use crate::provisioning::Creation;
    use crate::seats::ClaimStore;
    use crate::seats::faulty::{FaultyLedger, StoreOp, Strike};
    use crate::seats::memory::MemoryLedger;

    const RULES: &str = r#"
        [[pools]]
        name = "acme"
        seats = 2
        role = "viewer"
        user_type = "viewerUT"
        groups = ["Partners"]
        [pools.match]
        email_domains = ["acme.org"]
    "#;

    const NOW: UnixMillis = 1_772_443_800_000;

    type Ledger = FaultyLedger<MemoryLedger>;

    /// A world whose next lease write is struck by `fault`.
    fn world(fault: Strike) -> (Provisioner<Ledger, FakePortal>, Arc<Ledger>) {
        let portal = Arc::new(FakePortal::new("org1", &["Partners"]));
        let ledger = Arc::new(FaultyLedger::new(Arc::new(MemoryLedger::new())));
        ledger.fail(StoreOp::BeginDelivery, fault, 1);
        let policy = Arc::new(Policy::new(Rules::from_toml(RULES).unwrap()));
        let p = Provisioner::new(ledger.clone(), portal, policy, WorkflowSettings::default());
        (p, ledger)
    }

    fn delivery() -> DeliveryKey {
        DeliveryKey {
            source: "standard".into(),
            id: "d1".into(),
        }
    }

    async fn sign_up_ana(p: &Provisioner<Ledger, FakePortal>, now: UnixMillis) -> Handled {
        let req = SignupRequest {
            email: Email::parse("ana@acme.org").unwrap(),
            first_name: Some("Ana".into()),
            last_name: Some("Lopez".into()),
            username: None,
            organization: None,
            pool: None,
            attributes: Default::default(),
        };
        p.sign_up(
            &delivery(),
            "h1",
            &req,
            &Overrides::default(),
            Creation::InRequest,
            now,
        )
        .await
    }

    fn provisioned() -> Outcome {
        Outcome::Provisioned {
            pool: "acme".into(),
            username: "ana_acme".into(),
            invitation: true,
            adopted: false,
        }
    }

    #[tokio::test]
    async fn a_lease_write_whose_reply_was_lost_and_retried_by_the_store_runs_at_once() {
        let (p, _) = world(Strike::Retried);

        let h = sign_up_ana(&p, NOW).await;

        // The retried write found the lease its own first try took: the
        // delivery ran, not "delivery_in_progress" for the whole lease.
        assert_eq!(h.outcome, provisioned());
        assert!(!h.replayed);
        // Its outcome was stored under that same lease.
        let again = sign_up_ana(&p, NOW + 1).await;
        assert_eq!((again.outcome, again.replayed), (provisioned(), true));
    }

    #[tokio::test]
    async fn a_lease_write_that_landed_but_reported_a_failure_does_not_block_the_senders_retry() {
        let (p, ledger) = world(Strike::After);

        let first = sign_up_ana(&p, NOW).await;
        let retry = sign_up_ana(&p, NOW + 1).await;

        assert!(
            matches!(first.outcome, Outcome::RetryLater { ref code, .. } if code == "store_unavailable"),
            "{:?}",
            first.outcome
        );
        // The failed run dropped the lease its write had taken (it was
        // that attempt's), so the retry, well within the lease, runs.
        assert_eq!(retry.outcome, provisioned());
        let pool = PoolId::parse("acme").unwrap();
        assert_eq!(ledger.usage(&pool).await.unwrap().used, 1);
    }
}

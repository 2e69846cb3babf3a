//! [`SignupBatch`] on SQLite: each batch is one IMMEDIATE transaction that
//! checks what the separate operations would check (the delivery record
//! against the lease rule, the claim and the counter, the claim's id and
//! stage, the lease holder) before it writes anything, then makes their
//! writes with the same statements (the helpers of `claims.rs`,
//! `deliveries.rs` and `audit.rs`).

use crate::seats::batch::{CloseRequest, LeaseRequest, Opened, SignupBatch};
use crate::seats::claims::{Change, Expect, ReserveRequest};
use crate::seats::deliveries::{finishable_by, refusal};
use crate::seats::error::LedgerError;

use super::SqliteLedger;
use super::audit::insert_audit;
use super::claims::{insert_claim, read_claim, read_used, update_claim};
use super::deliveries::{insert_lease, read_delivery, store_outcome};

impl SignupBatch for SqliteLedger {
    async fn open(
        &self,
        lease: LeaseRequest<'_>,
        reserve: ReserveRequest<'_>,
    ) -> Result<Opened, LedgerError> {
        let key = lease.key.clone();
        let attempt = lease.attempt.to_string();
        let hash = lease.payload_hash.to_string();
        let (now, lease_ms) = (lease.now, lease.lease_ms);
        let capacity = reserve.capacity;
        let claim = reserve.reserved_claim();
        self.write("open", move |tx| {
            let stored = read_delivery(tx, &key)?;
            if stored.is_some() {
                return Ok(match refusal(stored.as_ref(), &attempt, &hash, now) {
                    Some(answer) => Opened::Delivery(answer),
                    None => Opened::Neither,
                });
            }
            if read_claim(tx, &claim.key)?.is_some() || read_used(tx, &claim.key.pool)? >= capacity
            {
                return Ok(Opened::Neither);
            }
            insert_lease(tx, &key, &hash, &attempt, now, lease_ms)?;
            insert_claim(tx, &claim)?;
            Ok(Opened::Both(claim))
        })
        .await
    }

    async fn close(&self, req: CloseRequest<'_>) -> Result<bool, LedgerError> {
        let claim_key = req.claim.clone();
        let claim_id = req.expect.claim_id.to_string();
        let stages = req.expect.stages.to_vec();
        let read_at = req.expect.updated_at;
        let username = req.username.to_string();
        let audit = req.audit.clone();
        let delivery = req.delivery.clone();
        let attempt = req.attempt.to_string();
        let outcome = req.outcome_json.to_string();
        let (now, retain_until) = (req.now, req.retain_until);
        self.write("close", move |tx| {
            let expect = Expect {
                claim_id: &claim_id,
                stages: &stages,
                updated_at: read_at,
            };
            let current = match read_claim(tx, &claim_key)? {
                Some(c) if expect.matches(&c) => c,
                _ => return Ok(false),
            };
            if !finishable_by(read_delivery(tx, &delivery)?.as_ref(), &attempt) {
                return Ok(false);
            }
            let next = current.changed(
                Change::Activate {
                    username: &username,
                },
                now,
            );
            update_claim(tx, &next)?;
            insert_audit(tx, &audit)?;
            store_outcome(tx, &delivery, &attempt, &outcome, now, retain_until)?;
            Ok(true)
        })
        .await
    }
}

//! [`RequestStore`] on DynamoDB: a sign-up request is written in ONE
//! transaction with its listing item and (while open) its pool + person
//! guard; a transition puts it back on condition that its state and
//! revision are still what was read. Each attempt runs within the conflict
//! retry budget.
//!
//! Only request, listing and guard items; this file must not touch seats,
//! counters or claims.

use aws_sdk_dynamodb::types::{
    Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use crate::domain::{PoolId, RequestState};
use crate::seats::error::LedgerError;
use crate::seats::requests::{
    RequestChange, RequestStore, SignupRecord, oldest_first, request_id_taken,
};

use super::DynamoLedger;
use super::errors::{build_error, cancelled, cancelled_by_condition, conflicted, reason_item};
use super::item::{self, RequestItem, n, s};
use super::retry::Step;

impl DynamoLedger {
    /// The request stored under `id` with its revision, if any.
    async fn get_request(&self, id: &str) -> Result<Option<(SignupRecord, u64)>, LedgerError> {
        match self.get(item::request_key(id)).await? {
            Some(found) => Ok(Some((
                SignupRecord::try_from(RequestItem(&found))?,
                item::request_rev(&found)?,
            ))),
            None => Ok(None),
        }
    }

    /// One creation attempt: the request, its listing item and (if open) its
    /// guard in one transaction.
    async fn try_create_request(
        &self,
        r: &SignupRecord,
    ) -> Result<Step<Option<SignupRecord>>, LedgerError> {
        // Why: request ids are fresh random values; never overwrite one.
        let own = self
            .put_if_absent(item::request_record(r, 0))
            .build()
            .map_err(build_error)?;
        let mut items = vec![
            TransactWriteItem::builder().put(own).build(),
            self.put(item::request_index_record(r, 0))?,
        ];
        if r.state.is_open() {
            // Why: one open request per pool + person; the guard's owner is
            // returned when there is one.
            let guard = self
                .put_if_absent(item::open_record(r))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().put(guard).build());
        }
        let Some(reasons) = self.transact(items).await? else {
            return Ok(Step::Done(None));
        };
        // Reasons come in request order: [request, listing, guard?]. An open
        // request wins over an id clash, as in the other adapters.
        if cancelled_by_condition(&reasons, 2) {
            let owner = match reason_item(&reasons, 2) {
                Some(found) => Some(item::open_request_id(found)?.to_string()),
                None => match self.get(item::open_key(&r.key)).await? {
                    Some(found) => Some(item::open_request_id(&found)?.to_string()),
                    None => None,
                },
            };
            let existing = match owner {
                Some(id) => self.get_request(&id).await?,
                None => None,
            };
            // Closed or gone since our write: try again.
            return Ok(match existing {
                Some((existing, _)) if existing.state.is_open() => Step::Done(Some(existing)),
                _ => Step::Raced,
            });
        }
        if cancelled_by_condition(&reasons, 0) {
            return Err(request_id_taken());
        }
        if conflicted(&reasons) {
            return Ok(Step::Conflict);
        }
        Err(cancelled("create_request", &reasons))
    }

    /// One transition attempt: read the request, then put it back on
    /// condition that state and revision are unchanged, moving its listing
    /// item and its guard in the same transaction.
    async fn try_transition_request(
        &self,
        id: &str,
        from: RequestState,
        to: RequestState,
        change: &RequestChange,
    ) -> Result<Step<Option<SignupRecord>>, LedgerError> {
        let Some((current, rev)) = self.get_request(id).await? else {
            return Ok(Step::Done(None));
        };
        if current.state != from {
            return Ok(Step::Done(None));
        }
        let updated = change.apply(&current, to);
        let next = rev + 1;
        // Why the revision too: the put writes the whole item as read, so
        // it must not land on a request changed since (from → X → from).
        let own = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item::request_record(&updated, next)))
            .condition_expression("#state = :from AND #rev = :rev")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":rev", n(rev))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_error)?;
        let mut items = vec![
            TransactWriteItem::builder().put(own).build(),
            self.put(item::request_index_record(&updated, next))?,
        ];
        if from != to {
            // Same key when the state stays (one transaction may not touch
            // an item twice), so the old listing item goes only on a move.
            let old_listing = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(item::request_index_key(&current, from)))
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().delete(old_listing).build());
        }
        // Index of the guard operation in `items`, when there is one.
        let guard_at = items.len();
        let guard = match (from.is_open(), to.is_open()) {
            (true, false) => {
                // Why: free the slot only if it is this request's (a missing
                // guard is not worth failing the decision for).
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(item::open_key(&current.key)))
                    .condition_expression("attribute_not_exists(#pk) OR #request_id = :id")
                    .expression_attribute_names("#pk", item::PK)
                    .expression_attribute_names("#request_id", "request_id")
                    .expression_attribute_values(":id", s(id))
                    .build()
                    .map_err(build_error)?;
                Some(TransactWriteItem::builder().delete(delete).build())
            }
            (false, true) => {
                // Why: reopening must not give the person a second open
                // request in the pool.
                let put = self
                    .put_if_absent(item::open_record(&updated))
                    .build()
                    .map_err(build_error)?;
                Some(TransactWriteItem::builder().put(put).build())
            }
            _ => None,
        };
        let reopening = !from.is_open() && to.is_open();
        items.extend(guard);
        let Some(reasons) = self.transact(items).await? else {
            return Ok(Step::Done(Some(updated)));
        };
        if cancelled_by_condition(&reasons, 0) {
            // Someone moved it first: answer from what is stored now.
            return match reason_item(&reasons, 0) {
                Some(found) if SignupRecord::try_from(RequestItem(found))?.state != from => {
                    Ok(Step::Done(None))
                }
                _ => Ok(Step::Raced),
            };
        }
        if cancelled_by_condition(&reasons, guard_at) {
            if reopening {
                return Ok(Step::Done(None));
            }
            return Err(LedgerError::Corrupt(
                "the open-request guard belongs to another request".into(),
            ));
        }
        if conflicted(&reasons) {
            return Ok(Step::Conflict);
        }
        Err(cancelled("transition_request", &reasons))
    }
}

impl RequestStore for DynamoLedger {
    async fn create_request(&self, r: &SignupRecord) -> Result<Option<SignupRecord>, LedgerError> {
        self.retrying("create_request", || self.try_create_request(r))
            .await
    }

    async fn request(&self, id: &str) -> Result<Option<SignupRecord>, LedgerError> {
        Ok(self.get_request(id).await?.map(|(r, _)| r))
    }

    async fn requests(
        &self,
        pool: &PoolId,
        state: RequestState,
    ) -> Result<Vec<SignupRecord>, LedgerError> {
        let mut requests = self
            .query_all(item::pool_pk(pool), &item::request_index_prefix(state))
            .await?
            .iter()
            .map(|found| SignupRecord::try_from(RequestItem(found)))
            .collect::<Result<Vec<_>, _>>()?;
        // Already in this order by sort key, but for times before 1970
        // (stored as 0 in the key).
        oldest_first(&mut requests);
        Ok(requests)
    }

    async fn transition_request(
        &self,
        id: &str,
        from: RequestState,
        to: RequestState,
        change: &RequestChange,
    ) -> Result<Option<SignupRecord>, LedgerError> {
        self.retrying("transition_request", || {
            self.try_transition_request(id, from, to, change)
        })
        .await
    }
}

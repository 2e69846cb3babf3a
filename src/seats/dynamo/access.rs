//! What every operation of the DynamoDB ledger shares: the strongly
//! consistent read of one item, Query pages, sending a transaction, the
//! unconditional put, and the write builders more than one operation uses
//! with the same condition.
//!
//! Nothing here decides an answer of the ledger: it reads, sends and builds
//! what the operation files ask for. It must not know which item means what
//! beyond the key attributes.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{CancellationReason, Put, TransactWriteItem};

use crate::seats::error::LedgerError;

use super::DynamoLedger;
use super::errors::{build_error, describe, plain_write, store_error, unavailable};
use super::item::{self, Item, s};
use super::retry::Step;

impl DynamoLedger {
    /// A strongly consistent read of one item.
    pub(super) async fn get(&self, key: Item) -> Result<Option<Item>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", &e))?;
        Ok(out.item().cloned())
    }

    /// Sends one transaction; `Ok(None)` when it went through, else the
    /// cancellation reasons (in request order).
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<CancellationReason>>, LedgerError> {
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(None),
            Err(err) => err,
        };
        let description = describe("TransactWriteItems", &err);
        match err.into_service_error() {
            TransactWriteItemsError::TransactionCanceledException(e) => {
                Ok(Some(e.cancellation_reasons().to_vec()))
            }
            other => Err(store_error(description, &other)),
        }
    }

    /// One unconditional put (a day marker, a failed sign-up): the same item
    /// again is harmless, and the latest wins.
    pub(super) async fn try_put(&self, record: &Item) -> Result<Step<()>, LedgerError> {
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record.clone()))
            .send()
            .await;
        plain_write("PutItem", sent)
    }

    /// A transaction's put of `record` only where no item is (`pk` absent),
    /// to finish with [`PutBuilder::build`] (after asking for the old item,
    /// where the refusal is explained from it).
    pub(super) fn put_if_absent(&self, record: Item) -> PutBuilder {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(record))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", item::PK)
    }

    /// A transaction's unconditional put of `record` (a listing item, which
    /// moves with its request).
    pub(super) fn put(&self, record: Item) -> Result<TransactWriteItem, LedgerError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Every item of partition `pk` whose sort key begins with `prefix`,
    /// all pages.
    pub(super) async fn query_all(
        &self,
        pk: String,
        prefix: &str,
    ) -> Result<Vec<Item>, LedgerError> {
        let (mut items, mut start) = (Vec::new(), None);
        loop {
            let (page, next) = self
                .query_page(
                    pk.clone(),
                    "begins_with(#sk, :sk)",
                    prefix.to_string(),
                    None,
                    start,
                )
                .await?;
            items.extend(page);
            match next {
                Some(next) => start = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// One page of a Query on `pk` with a sort-key condition (`#sk >= :sk`
    /// or `begins_with(#sk, :sk)`), oldest sort key first.
    pub(super) async fn query_page(
        &self,
        pk: String,
        sk_condition: &str,
        sk: String,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), LedgerError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression(format!("#pk = :pk AND {sk_condition}"))
            .expression_attribute_names("#pk", item::PK)
            .expression_attribute_names("#sk", item::SK)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":sk", s(sk))
            .consistent_read(true)
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| unavailable("Query", &e))?;
        let next = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        Ok((out.items().to_vec(), next))
    }
}

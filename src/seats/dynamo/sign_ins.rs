//! [`SignInThrottle`] on DynamoDB: one item per window (`SIGNIN#<start>`),
//! raised by ONE conditional `UpdateItem` per attempt: `ADD` one to the
//! total and to the address's count, on condition that both are below their
//! limits, and set the window's `ttl` so DynamoDB deletes the item after
//! the window. Every Lambda instance writes the same item, so the limits
//! hold across all of them; DynamoDB evaluates the condition and the `ADD`
//! together, so parallel attempts never overshoot.
//!
//! Only sign-in window items; this file must not touch seats, counters,
//! claims, requests, deliveries or the audit trail.

use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use crate::domain::UnixMillis;
use crate::seats::error::LedgerError;
use crate::seats::sign_ins::{SignInAttempt, SignInCounts, SignInSlot, SignInThrottle};

use super::DynamoLedger;
use super::errors::{Written, conditional_write};
use super::item::{self, Item, n};
use super::retry::Step;

/// Counts one attempt while both counts are below their limits. An absent
/// count is zero: `attribute_not_exists` covers the window's first attempt
/// and an address's first.
const TAKE_UPDATE: &str = "ADD #total :one, #addr :one SET #until = :until, #ttl = :ttl";
const TAKE_CONDITION: &str = "(attribute_not_exists(#total) OR #total < :global) \
     AND (attribute_not_exists(#addr) OR #addr < :per_address)";
/// Takes one attempt back, never below zero.
const GIVE_BACK_UPDATE: &str = "ADD #total :minus_one, #addr :minus_one";
const GIVE_BACK_CONDITION: &str = "#total > :zero AND #addr > :zero";

/// Which limit refused an attempt, from the item as it was (the global one
/// when both are reached).
fn refusal(old: Option<&Item>, attempt: &SignInAttempt<'_>) -> Result<SignInSlot, LedgerError> {
    // Why AddressLimit without the item: DynamoDB returns it with the
    // refusal; should it not, both answers refuse alike and only the log's
    // wording differs.
    let Some(old) = old else {
        return Ok(SignInSlot::AddressLimit);
    };
    if item::sign_in_count(old, item::SIGN_IN_TOTAL)? >= attempt.global {
        Ok(SignInSlot::GlobalLimit)
    } else {
        Ok(SignInSlot::AddressLimit)
    }
}

impl DynamoLedger {
    /// One attempt at taking a slot.
    async fn try_take_sign_in(
        &self,
        attempt: &SignInAttempt<'_>,
    ) -> Result<Step<SignInSlot>, LedgerError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::sign_in_key(attempt.window)))
            .update_expression(TAKE_UPDATE)
            .condition_expression(TAKE_CONDITION)
            .expression_attribute_names("#total", item::SIGN_IN_TOTAL)
            .expression_attribute_names("#addr", item::sign_in_address(attempt.address))
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":global", n(attempt.global))
            .expression_attribute_values(":per_address", n(attempt.per_address))
            .expression_attribute_values(":until", n(attempt.until))
            .expression_attribute_values(":ttl", n(item::ttl_seconds(attempt.until)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        Ok(match conditional_write("UpdateItem", sent)? {
            Written::Done(_) => Step::Done(SignInSlot::Taken),
            Written::ConditionFailed(old) => Step::Done(refusal(old.as_ref(), attempt)?),
            Written::Conflict => Step::Conflict,
        })
    }

    /// One attempt at giving a slot back.
    async fn try_give_back_sign_in(
        &self,
        window: UnixMillis,
        address: &str,
    ) -> Result<Step<()>, LedgerError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::sign_in_key(window)))
            .update_expression(GIVE_BACK_UPDATE)
            .condition_expression(GIVE_BACK_CONDITION)
            .expression_attribute_names("#total", item::SIGN_IN_TOTAL)
            .expression_attribute_names("#addr", item::sign_in_address(address))
            .expression_attribute_values(":minus_one", n(-1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        Ok(match conditional_write("UpdateItem", sent)? {
            // Nothing counted for the address (or no such window): nothing
            // to give back.
            Written::Done(_) | Written::ConditionFailed(_) => Step::Done(()),
            Written::Conflict => Step::Conflict,
        })
    }
}

impl SignInThrottle for DynamoLedger {
    async fn take_sign_in(&self, attempt: &SignInAttempt<'_>) -> Result<SignInSlot, LedgerError> {
        self.retrying("take_sign_in", || self.try_take_sign_in(attempt))
            .await
    }

    async fn give_back_sign_in(
        &self,
        window: UnixMillis,
        address: &str,
    ) -> Result<(), LedgerError> {
        self.retrying("give_back_sign_in", || {
            self.try_give_back_sign_in(window, address)
        })
        .await
    }

    async fn sign_in_counts(
        &self,
        window: UnixMillis,
        address: &str,
    ) -> Result<SignInCounts, LedgerError> {
        let Some(found) = self.get(item::sign_in_key(window)).await? else {
            return Ok(SignInCounts::default());
        };
        Ok(SignInCounts {
            address: item::sign_in_count(&found, &item::sign_in_address(address))?,
            global: item::sign_in_count(&found, item::SIGN_IN_TOTAL)?,
        })
    }
}

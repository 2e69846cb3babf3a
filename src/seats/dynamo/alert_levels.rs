//! [`AlertLevels`] on DynamoDB: one item per subject (`ALERT#<subject>`,
//! `LEVEL`), moved by ONE conditional `UpdateItem`: on condition that its
//! `level` is still the one the caller read (`attribute_not_exists` for
//! none, which an absent item meets too), set the new level, or REMOVE it
//! when the subject fell back under every threshold. DynamoDB evaluates the
//! condition and the update together, so of two workers deciding the same
//! crossing exactly one writes, and only that one sends the alert.
//!
//! Only alert level items; this file must not touch seats, counters,
//! claims, requests, deliveries or the audit trail.

use crate::domain::{AlertSubject, UnixMillis};
use crate::seats::alert_levels::AlertLevels;
use crate::seats::error::LedgerError;

use super::DynamoLedger;
use super::errors::{Written, conditional_write};
use super::item::{self, n, s};
use super::retry::Step;

impl DynamoLedger {
    /// One attempt at moving a level.
    async fn try_set_alert_level(
        &self,
        subject: &AlertSubject,
        expected: Option<u8>,
        new: Option<u8>,
        now: UnixMillis,
    ) -> Result<Step<bool>, LedgerError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::alert_level_key(subject)))
            .expression_attribute_names("#level", item::ALERT_LEVEL)
            .expression_attribute_names("#subject", "subject")
            .expression_attribute_names("#updated_at", "updated_at")
            .expression_attribute_values(":subject", s(subject.key()))
            .expression_attribute_values(":now", n(now));
        update = match expected {
            None => update.condition_expression("attribute_not_exists(#level)"),
            Some(old) => update
                .condition_expression("#level = :old")
                .expression_attribute_values(":old", n(old)),
        };
        update = match new {
            Some(level) => update
                .update_expression("SET #level = :new, #subject = :subject, #updated_at = :now")
                .expression_attribute_values(":new", n(level)),
            None => update
                .update_expression("SET #subject = :subject, #updated_at = :now REMOVE #level"),
        };
        Ok(
            match conditional_write("UpdateItem", update.send().await)? {
                Written::Done(_) => Step::Done(true),
                Written::ConditionFailed(_) => Step::Done(false),
                Written::Conflict => Step::Conflict,
            },
        )
    }
}

impl AlertLevels for DynamoLedger {
    async fn alert_level(&self, subject: &AlertSubject) -> Result<Option<u8>, LedgerError> {
        match self.get(item::alert_level_key(subject)).await? {
            None => Ok(None),
            Some(found) => item::alert_level_of(&found),
        }
    }

    async fn set_alert_level(
        &self,
        subject: &AlertSubject,
        expected: Option<u8>,
        new: Option<u8>,
        now: UnixMillis,
    ) -> Result<bool, LedgerError> {
        self.retrying("set_alert_level", || {
            self.try_set_alert_level(subject, expected, new, now)
        })
        .await
    }
}

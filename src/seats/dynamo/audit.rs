//! [`AuditLog`] on DynamoDB: audit events are conditional `PutItem`s (never
//! overwriting) into one partition per UTC day, after a marker of the day;
//! `audit_since` Queries the markers, then the days, in order. Nothing here
//! ever Scans.
//!
//! Only audit items and day markers; this file must not touch seats,
//! counters, claims or requests.

use rand::Rng;

use crate::domain::UnixMillis;
use crate::seats::audit::{AuditEvent, AuditLog};
use crate::seats::error::LedgerError;

use super::DynamoLedger;
use super::errors::{Written, conditional_write};
use super::item::{self, AuditItem, Item};
use super::retry::Step;

impl DynamoLedger {
    /// One audit put under a fresh random suffix, never overwriting.
    async fn try_put_audit(&self, e: &AuditEvent) -> Result<Step<()>, LedgerError> {
        let suffix = format!("{:016x}", rand::rng().random::<u64>());
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::audit_record(e, &suffix)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", item::PK)
            .send()
            .await;
        Ok(match conditional_write("PutItem", sent)? {
            Written::Done(_) => Step::Done(()),
            // The suffix was taken (vanishingly rare): another one.
            Written::ConditionFailed(_) => Step::Raced,
            Written::Conflict => Step::Conflict,
        })
    }
}

impl AuditLog for DynamoLedger {
    async fn audit(&self, e: &AuditEvent) -> Result<(), LedgerError> {
        let day = item::audit_day(e.at);
        let marked = self
            .audit_day_marked
            .lock()
            .map(|last| last.as_deref() == Some(day.as_str()))
            .unwrap_or(false);
        if !marked {
            // Why first: an event must never exist without its day's marker,
            // or `audit_since` would not find it. A marker without events
            // (the put below failed) is harmless.
            let marker = item::audit_day_key(&day);
            self.retrying("audit", || self.try_put(&marker)).await?;
            if let Ok(mut last) = self.audit_day_marked.lock() {
                *last = Some(day);
            }
        }
        self.retrying("audit", || self.try_put_audit(e)).await
    }

    async fn audit_since(
        &self,
        since: UnixMillis,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, LedgerError> {
        let mut events = Vec::new();
        if limit == 0 {
            return Ok(events);
        }
        let mut days_start: Option<Item> = None;
        'days: loop {
            let (days, next_days) = self
                .query_page(
                    item::AUDIT_DAYS_PK.to_string(),
                    "#sk >= :sk",
                    item::audit_day(since),
                    None,
                    days_start.take(),
                )
                .await?;
            for marker in &days {
                let day = item::audit_day_of_marker(marker)?;
                let mut start: Option<Item> = None;
                loop {
                    let wanted = limit - events.len();
                    let (found, next) = self
                        .query_page(
                            item::audit_pk(day),
                            "#sk >= :sk",
                            item::sort_millis(since),
                            Some(i32::try_from(wanted).unwrap_or(i32::MAX).min(1_000)),
                            start.take(),
                        )
                        .await?;
                    for raw in &found {
                        let event = AuditEvent::try_from(AuditItem(raw))?;
                        // Why check again: times before 1970 share key 0.
                        if event.at >= since {
                            events.push(event);
                        }
                    }
                    if events.len() >= limit {
                        events.truncate(limit);
                        break 'days;
                    }
                    match next {
                        Some(last) => start = Some(last),
                        None => break,
                    }
                }
            }
            match next_days {
                Some(last) => days_start = Some(last),
                None => break,
            }
        }
        Ok(events)
    }
}

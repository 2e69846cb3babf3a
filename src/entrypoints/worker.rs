//! The queue worker's entry point (the `worker-lambda` binary): SQS batches of
//! [`Job`]s, and the scheduled sweep of reservations that stayed stuck.
//!
//! SQS delivers a message again until the worker reports it done; after
//! `maxReceiveCount` deliveries (the template's redrive policy, mirrored by
//! `WORKER_MAX_ATTEMPTS`) it moves to the dead-letter queue. The worker treats
//! the delivery whose `ApproximateReceiveCount` reaches that number as the last
//! attempt: if it fails too, the seat is released and the failure recorded
//! before the message goes to the dead-letter queue, so the ledger never keeps
//! a seat for a member nobody will create.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::portal::Portal;
use crate::provisioning::{Provisioner, SweepReport};
use crate::queue::Job;
use crate::seats::SeatLedger;

/// What the worker function answers.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum WorkerReply {
    /// For an SQS batch: the messages to deliver again.
    Batch(SqsBatchResponse),
    /// For a scheduled sweep.
    Sweep(SweepReport),
}

/// Handles one invocation: an SQS batch (`Records`) or a scheduled event
/// (EventBridge `Scheduled Event`), which sweeps claims RESERVED for longer
/// than `reservation_timeout`.
pub async fn handle_event<L: SeatLedger, P: Portal>(
    provisioner: Arc<Provisioner<L, P>>,
    event: Value,
    max_attempts: u32,
    reservation_timeout: Duration,
) -> Result<WorkerReply, String> {
    if event.get("Records").is_some() {
        let batch: SqsEvent =
            serde_json::from_value(event).map_err(|e| format!("not an SQS event: {e}"))?;
        return Ok(WorkerReply::Batch(
            handle_batch(provisioner, batch, max_attempts).await,
        ));
    }
    if event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        let clock = provisioner.clock();
        let report = provisioner
            .sweep(clock.now(), reservation_timeout, &[])
            .await;
        let expired = provisioner.expire_requests(None, clock.now()).await;
        tracing::info!(?report, expired, "scheduled sweep");
        return Ok(WorkerReply::Sweep(report));
    }
    Err("unsupported event: expected an SQS batch or a scheduled event".into())
}

/// Completes every job of a batch concurrently; returns the ids of the
/// messages to deliver again (transient failures, unreadable messages).
pub async fn handle_batch<L: SeatLedger, P: Portal>(
    provisioner: Arc<Provisioner<L, P>>,
    batch: SqsEvent,
    max_attempts: u32,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut running = JoinSet::new();
    for record in batch.records {
        let provisioner = provisioner.clone();
        running.spawn(async move {
            let id = record.message_id.clone().unwrap_or_default();
            (id, handle_record(&provisioner, &record, max_attempts).await)
        });
    }
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok((id, true)) => response.add_failure(id),
            Ok((_, false)) => {}
            // A panicking task cannot be attributed to a message; the whole
            // batch comes back, which is safe (jobs are idempotent).
            Err(e) => {
                tracing::error!("worker task failed: {e}");
            }
        }
    }
    response
}

/// One message; true when it must be delivered again.
async fn handle_record<L: SeatLedger, P: Portal>(
    provisioner: &Provisioner<L, P>,
    record: &SqsMessage,
    max_attempts: u32,
) -> bool {
    let receive_count: u32 = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let job: Job = match record.body.as_deref().map(serde_json::from_str) {
        Some(Ok(job)) => job,
        _ => {
            // Not ours or corrupt: let it reach the dead-letter queue for a
            // person to look at.
            tracing::error!(message = ?record.message_id, "unreadable job message");
            return true;
        }
    };
    let last = receive_count >= max_attempts.max(1);
    let retry = provisioner.run_job(&job, last).await;
    if retry {
        tracing::info!(delivery = %job.delivery.as_string(), receive_count, last, "job not done");
    }
    retry
}

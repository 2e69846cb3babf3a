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
//!
//! A seat the worker gives back (a job that failed for good, a request that
//! expired) admits the next in line from the pool's waitlist. The member so
//! admitted is sent to the job queue (`JOB_QUEUE_URL`, the queue the worker
//! consumes) as a job of its own, never created inline: a transient failure
//! of its creation is then retried, and dead-lettered at the end, like any
//! job's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde_json::Value;
use tokio::task::JoinSet;

use crate::portal::Portal;
use crate::provisioning::reclaim::{Done, LifecycleReport, SCHEDULE_ACTOR, render_report};
use crate::provisioning::reconcile;
use crate::provisioning::{Provisioner, SweepReport};
use crate::queue::{Job, JobSink};
use crate::seats::SeatLedger;

/// What the worker function answers.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum WorkerReply {
    /// For an SQS batch: the messages to deliver again.
    Batch(SqsBatchResponse),
    /// For a scheduled sweep.
    Sweep(SweepReport),
    /// For the daily lifecycle run.
    Lifecycle(LifecycleSummary),
}

/// The scheduled event's input that asks for the lifecycle run
/// (`template.yaml`'s `LifecycleFunction`): `{"task": "lifecycle"}`.
pub const LIFECYCLE_TASK: &str = "lifecycle";

/// What a lifecycle run did, in numbers (the full report is in the log and
/// the audit trail).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LifecycleSummary {
    /// Members warned that their seat ends.
    pub warned: usize,
    /// Seats ended in the portal (downgraded, deleted or disabled).
    pub ended: usize,
    /// Seats given back to their pools.
    pub seats_returned: usize,
    /// People admitted from the waitlists.
    pub admitted: u32,
    /// Steps not done (tried again on the next run).
    pub not_done: usize,
    /// Seats left alone (administrators, the keep list, …).
    pub skipped: usize,
}

impl LifecycleSummary {
    /// The numbers of `report`.
    pub fn of(report: &LifecycleReport) -> Self {
        let count = |f: fn(&Done) -> bool| report.applied.iter().filter(|a| f(&a.done)).count();
        LifecycleSummary {
            warned: count(|d| matches!(d, Done::Warned { .. })),
            ended: count(|d| {
                matches!(
                    d,
                    Done::Downgraded { .. } | Done::Deleted | Done::Disabled { .. }
                )
            }),
            seats_returned: report.seats_returned(),
            admitted: report.admitted,
            not_done: count(|d| matches!(d, Done::NotDone { .. })),
            skipped: report.skipped.len(),
        }
    }
}

/// Reconciles the ledger with the organization, then plans and carries
/// out the seat's life (expiry, warnings, idle seats), admitting the
/// waitlists through `jobs`; `broker` is the broker's own
/// account, never touched. A portal or store failure to read the plan is
/// logged and answered as an error (the schedule runs again tomorrow).
pub async fn run_lifecycle<L: SeatLedger, P: Portal>(
    provisioner: &Provisioner<L, P>,
    jobs: Option<&dyn JobSink>,
    broker: &str,
) -> Result<LifecycleSummary, String> {
    let now = provisioner.clock().now();
    // Reconciliation first: a claim whose member is gone is released, so
    // the lifecycle plans only seats that still have a member.
    match provisioner
        .run_reconcile(broker, jobs, SCHEDULE_ACTOR, now)
        .await
    {
        Ok((plan, applied)) => {
            let changed = applied
                .iter()
                .filter(|a| a.outcome == reconcile::Outcome::Done)
                .count();
            tracing::info!(
                differences = plan.differences.len(),
                changed,
                "reconciliation"
            );
            for line in reconcile::render(&plan, Some(&applied)).lines() {
                tracing::info!(target: "reconcile", "{line}");
            }
        }
        // The lifecycle still runs: its own reads fail the same way if the
        // portal is down.
        Err(e) => tracing::error!("reconciliation: {e}"),
    }
    match provisioner
        .run_lifecycle(broker, jobs, SCHEDULE_ACTOR, now)
        .await
    {
        Ok(report) => {
            let summary = LifecycleSummary::of(&report);
            tracing::info!(?summary, "lifecycle run");
            for line in render_report(&report).lines() {
                tracing::info!(target: "lifecycle", "{line}");
            }
            Ok(summary)
        }
        Err(e) => {
            tracing::error!("lifecycle run: {e}");
            Err(format!("lifecycle run: {e}"))
        }
    }
}

/// Handles one invocation: an SQS batch (`Records`), a scheduled event
/// (EventBridge `Scheduled Event`), which sweeps claims RESERVED for longer
/// than `reservation_timeout`, expires requests past their time, writes the
/// pools' metrics and sends the usage alerts due
/// ([`Provisioner::check_alerts`]), or the daily lifecycle run (`{"task":
/// "lifecycle"}`, see [`run_lifecycle`]). The members admitted from a
/// waitlist on the way are queued on `jobs`.
pub async fn handle_event<L: SeatLedger, P: Portal>(
    provisioner: Arc<Provisioner<L, P>>,
    jobs: Arc<dyn JobSink>,
    event: Value,
    max_attempts: u32,
    reservation_timeout: Duration,
    broker: &str,
) -> Result<WorkerReply, String> {
    if event.get("task").and_then(Value::as_str) == Some(LIFECYCLE_TASK) {
        return run_lifecycle(&provisioner, Some(&*jobs), broker)
            .await
            .map(WorkerReply::Lifecycle);
    }
    if event.get("Records").is_some() {
        let batch: SqsEvent =
            serde_json::from_value(event).map_err(|e| format!("not an SQS event: {e}"))?;
        return Ok(WorkerReply::Batch(
            handle_batch(provisioner, jobs, batch, max_attempts).await,
        ));
    }
    if event.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        let clock = provisioner.clock();
        let report = provisioner
            .sweep(clock.now(), reservation_timeout, &[])
            .await;
        let expired = provisioner.expire_requests(Some(&*jobs), clock.now()).await;
        tracing::info!(?report, expired, "scheduled sweep");
        emit_pool_metrics(&provisioner, clock.now()).await;
        let alerts = provisioner.check_alerts(clock.now()).await;
        tracing::info!(?alerts, "seat alerts checked");
        return Ok(WorkerReply::Sweep(report));
    }
    Err("unsupported event: expected an SQS batch or a scheduled event".into())
}

/// Writes every pool's numbers as metric lines (the dashboard's seats,
/// used, waiting); a store that cannot be read is logged and skipped. Reads
/// nothing when metrics are off (a local server without `METRICS=emf`).
pub async fn emit_pool_metrics<L: SeatLedger, P: Portal>(
    provisioner: &Provisioner<L, P>,
    now: crate::domain::UnixMillis,
) {
    if !crate::telemetry::emf::enabled() {
        return;
    }
    match provisioner.seat_status(now).await {
        Ok(pools) => {
            for line in crate::provisioning::status::metric_lines(&pools, now) {
                crate::telemetry::emf::emit(&line);
            }
        }
        Err(e) => tracing::warn!("pool metrics skipped: {e}"),
    }
}

/// Completes every job of a batch concurrently; returns the ids of the
/// messages to deliver again (transient failures, unreadable messages).
/// Members admitted from a waitlist are queued on `jobs`.
pub async fn handle_batch<L: SeatLedger, P: Portal>(
    provisioner: Arc<Provisioner<L, P>>,
    jobs: Arc<dyn JobSink>,
    batch: SqsEvent,
    max_attempts: u32,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    let mut running = JoinSet::new();
    // Which message each task works on, so a task that panics still names
    // its message.
    let mut messages = HashMap::new();
    for record in batch.records {
        let provisioner = provisioner.clone();
        let jobs = jobs.clone();
        let id = record.message_id.clone().unwrap_or_default();
        let task = running.spawn(async move {
            let id = record.message_id.clone().unwrap_or_default();
            let retry = handle_record(&provisioner, &*jobs, &record, max_attempts).await;
            (id, retry)
        });
        messages.insert(task.id(), id);
    }
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok((id, true)) => response.add_failure(id),
            Ok((_, false)) => {}
            // A task that panicked did not finish its job: SQS delivers the
            // message again (and, after the last attempt, to the
            // dead-letter queue), never deletes it as done.
            Err(e) => {
                tracing::error!("worker task failed: {e}");
                if let Some(id) = messages.remove(&e.id()) {
                    response.add_failure(id);
                }
            }
        }
    }
    response
}

/// One message; true when it must be delivered again.
async fn handle_record<L: SeatLedger, P: Portal>(
    provisioner: &Provisioner<L, P>,
    jobs: &dyn JobSink,
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
    let retry = provisioner.run_job(&job, last, jobs).await;
    if retry {
        tracing::info!(delivery = %job.delivery.as_string(), receive_count, last, "job not done");
    }
    retry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WorkflowSettings;
    use crate::domain::{ClaimKey, DeliveryKey, Email, PoolId, SignupRequest};
    use crate::policy::{Policy, Rules};
    use crate::portal::fake::FakePortal;
    use crate::seats::memory::MemoryLedger;
    use crate::seats::{ClaimStore, Reservation, ReserveRequest};

    const RULES: &str = r#"
        [[pools]]
        name = "acme"
        seats = 2
        role = "viewer"
        user_type = "viewerUT"
        [pools.match]
        email_domains = ["acme.org"]
    "#;

    /// Issue 11, defect 10: a job whose task panicked used to be left out
    /// of `batchItemFailures`, so SQS deleted it as done and the seat stayed
    /// reserved for a member nobody would create. It is delivered again.
    #[tokio::test]
    async fn a_job_whose_task_panics_is_delivered_again() {
        let ledger = Arc::new(MemoryLedger::new());
        let portal = Arc::new(FakePortal::new("org1", &[]));
        let provisioner = Arc::new(Provisioner::new(
            ledger.clone(),
            portal.clone(),
            Arc::new(Policy::new(Rules::from_toml(RULES).unwrap())),
            WorkflowSettings::default(),
        ));
        let claim = ClaimKey {
            pool: PoolId::parse("acme").unwrap(),
            person: "ana@acme.org".into(),
        };
        let reserved = ledger
            .reserve(ReserveRequest {
                key: &claim,
                capacity: 2,
                delivery: "okta:e1",
                claim_id: "c1",
                username: "ana_acme",
                now: provisioner.clock().now(),
                hold: crate::seats::Hold::InFlight,
            })
            .await
            .unwrap();
        assert!(matches!(reserved, Reservation::Reserved(_)));
        let job = Job {
            delivery: DeliveryKey {
                source: "okta".into(),
                id: "e1".into(),
            },
            request: SignupRequest {
                email: Email::parse("ana@acme.org").unwrap(),
                first_name: None,
                last_name: None,
                username: None,
                organization: None,
                pool: None,
                attributes: Default::default(),
            },
            overrides: Default::default(),
            claim,
            claim_id: "c1".into(),
            accepted_at: provisioner.clock().now(),
        };
        portal.panic_next_invite();
        let mut message = SqsMessage::default();
        message.message_id = Some("m-1".into());
        message.body = Some(serde_json::to_string(&job).unwrap());
        let mut batch = SqsEvent::default();
        batch.records = vec![message];
        let (jobs, _worker) = crate::queue::local::channel();
        let response = handle_batch(provisioner, Arc::new(jobs), batch, 5).await;
        let ids: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["m-1"]);
    }
}

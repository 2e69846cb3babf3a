//! The local server's queue worker: takes the jobs the routes queued
//! (`queue::local`) and runs them ([`Provisioner::run_job`]) with bounded
//! concurrency, retrying transient failures with exponential backoff (with
//! jitter) up to a number of attempts; the last attempt gives the seat back
//! and records the failure, which `seats` then shows, just like a message
//! that ends in the SQS dead-letter queue (`entrypoints::worker`).
//!
//! A job that gives its seat back admits the next in line from the pool's
//! waitlist; that member is queued here again (through the queue's
//! [`Requeue`] handle, which does not keep the queue open), so it is
//! retried like any other job.
//!
//! With a journal, each job is removed from it once the worker is done with
//! it; a job still in the journal at the next start is queued again.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::portal::Portal;
use crate::provisioning::Provisioner;
use crate::queue::Job;
use crate::queue::local::{LocalWorker, Requeue};
use crate::seats::SeatLedger;

/// Retry schedule of the local worker.
#[derive(Debug, Clone)]
pub struct LocalWorkerSettings {
    /// Attempts per job, the first included (like SQS `maxReceiveCount`).
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub first_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// Jobs worked on at once.
    pub concurrency: usize,
}

impl Default for LocalWorkerSettings {
    fn default() -> Self {
        LocalWorkerSettings {
            attempts: 5,
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            concurrency: 8,
        }
    }
}

/// Completes jobs until every sender is dropped and the jobs in hand are
/// finished.
pub async fn run<L: SeatLedger, P: Portal>(
    mut jobs: LocalWorker,
    provisioner: Arc<Provisioner<L, P>>,
    settings: LocalWorkerSettings,
) {
    let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let requeue = jobs.requeue();
    let mut running = JoinSet::new();
    while let Some(job) = jobs.next().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let provisioner = provisioner.clone();
        let settings = settings.clone();
        let journal = jobs.journal().cloned();
        let requeue = requeue.clone();
        running.spawn(async move {
            work(&provisioner, &job, &settings, &requeue).await;
            if let Some(journal) = journal
                && let Err(e) = journal.remove(&job.claim_id).await
            {
                // The next start runs the job once more: harmless.
                tracing::warn!(delivery = %job.delivery.as_string(), "{e}");
            }
            drop(permit);
        });
        // Reap finished tasks so the set does not grow.
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

async fn work<L: SeatLedger, P: Portal>(
    provisioner: &Provisioner<L, P>,
    job: &Job,
    settings: &LocalWorkerSettings,
    requeue: &Requeue,
) {
    let attempts = settings.attempts.max(1);
    for attempt in 1..=attempts {
        let last = attempt == attempts;
        let retry = provisioner.run_job(job, last, requeue).await;
        if !retry || last {
            return;
        }
        tracing::info!(delivery = %job.delivery.as_string(), attempt, "job will be retried");
        tokio::time::sleep(backoff(settings, attempt)).await;
    }
}

/// Exponential backoff with ±25 % jitter, capped.
fn backoff(settings: &LocalWorkerSettings, attempt: u32) -> Duration {
    let base = settings
        .first_backoff
        .saturating_mul(1u32 << (attempt - 1).min(16))
        .min(settings.max_backoff);
    let jitter = rand::rng().random_range(0.75..1.25);
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = LocalWorkerSettings {
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..LocalWorkerSettings::default()
        };
        let b1 = backoff(&s, 1);
        let b3 = backoff(&s, 3);
        let b9 = backoff(&s, 9);
        assert!(b1 >= Duration::from_millis(75) && b1 <= Duration::from_millis(125));
        assert!(b3 >= Duration::from_millis(300) && b3 <= Duration::from_millis(500));
        assert!(b9 <= Duration::from_millis(625));
    }
}

//! The in-process job queue of the local server.
//!
//! Jobs go over a channel to a worker task that completes them with bounded
//! concurrency, retrying transient failures with exponential backoff (with
//! jitter) up to a number of attempts; the last attempt gives the seat back
//! and records the failure, which `seats` then shows, just like a message
//! that ends in the SQS dead-letter queue.
//!
//! With a [`Journal`] (the local server keeps one beside the embedded
//! store), each job is written to a file before the route answers and
//! removed when the worker is done with it; a restart queues what is left
//! again ([`resume`]). Without one, jobs live in memory only: a process
//! killed with jobs pending leaves their RESERVED claims, which the start-up
//! sweep settles (adopting members that were created, releasing the other
//! seats).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::clock::now_millis;
use crate::portal::Portal;
use crate::provisioning::Provisioner;
use crate::queue::{BoxFuture, Job, JobSink, QueueError};
use crate::seats::SeatLedger;

pub use super::journal::Journal;

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

/// The sending side, given to the HTTP routes.
#[derive(Clone)]
pub struct LocalQueue {
    tx: mpsc::UnboundedSender<Job>,
    journal: Option<Journal>,
}

impl JobSink for LocalQueue {
    fn enqueue<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async move {
            if let Some(journal) = &self.journal {
                journal.put(job).await?;
            }
            self.send(job.clone())
        })
    }
}

impl LocalQueue {
    fn send(&self, job: Job) -> Result<(), QueueError> {
        self.tx
            .send(job)
            .map_err(|_| QueueError("the local worker has stopped".into()))
    }
}

/// The receiving side; run it with [`LocalWorker::run`].
pub struct LocalWorker {
    rx: mpsc::UnboundedReceiver<Job>,
    journal: Option<Journal>,
}

/// A connected queue and worker, jobs in memory only.
pub fn channel() -> (LocalQueue, LocalWorker) {
    channel_with(None)
}

/// A connected queue and worker that keep their jobs in `journal` until
/// they are done.
pub fn channel_with(journal: Option<Journal>) -> (LocalQueue, LocalWorker) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        LocalQueue {
            tx,
            journal: journal.clone(),
        },
        LocalWorker { rx, journal },
    )
}

/// Queues again the jobs a previous run left in the queue's journal, and
/// returns their reservations' claim ids: the start-up sweep must spare
/// those (their jobs will settle them). Nothing without a journal.
pub async fn resume(queue: &LocalQueue) -> Result<Vec<String>, QueueError> {
    let Some(journal) = &queue.journal else {
        return Ok(Vec::new());
    };
    let jobs = journal.pending().await?;
    let mut claims = Vec::with_capacity(jobs.len());
    for job in jobs {
        claims.push(job.claim_id.clone());
        queue.send(job)?;
    }
    Ok(claims)
}

impl LocalWorker {
    /// Completes jobs until every sender is dropped and the jobs in hand are
    /// finished.
    pub async fn run<L: SeatLedger, P: Portal>(
        mut self,
        provisioner: Arc<Provisioner<L, P>>,
        settings: LocalWorkerSettings,
    ) {
        let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let mut running = JoinSet::new();
        while let Some(job) = self.rx.recv().await {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let provisioner = provisioner.clone();
            let settings = settings.clone();
            let journal = self.journal.clone();
            running.spawn(async move {
                work(&provisioner, &job, &settings).await;
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
}

async fn work<L: SeatLedger, P: Portal>(
    provisioner: &Provisioner<L, P>,
    job: &Job,
    settings: &LocalWorkerSettings,
) {
    let attempts = settings.attempts.max(1);
    for attempt in 1..=attempts {
        let last = attempt == attempts;
        let result = provisioner.complete(job, last, now_millis()).await;
        if let Some(pool) = &result.freed {
            provisioner.admit_waitlisted(pool, None, now_millis()).await;
        }
        if !result.retry || last {
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

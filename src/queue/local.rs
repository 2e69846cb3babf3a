//! The in-process job queue of the local server: a channel from the routes
//! ([`LocalQueue`], the [`JobSink`]) to the local worker
//! (`entrypoints::local_worker`), which takes jobs from the receiving end
//! ([`LocalWorker`]) and queues the members it admits from the waitlist
//! through a handle that does not keep the channel open ([`Requeue`]).
//!
//! With a [`Journal`] (the local server keeps one beside the embedded
//! store), each job is written to a file before the route answers and
//! removed when the worker is done with it; a restart queues what is left
//! again ([`resume`]). Without one, jobs live in memory only: a process
//! killed with jobs pending leaves their RESERVED claims, which the start-up
//! sweep settles (adopting members that were created, releasing the other
//! seats).

use tokio::sync::mpsc;

use super::journal::Journal;
use super::{BoxFuture, Job, JobSink, QueueError};

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

/// The receiving side, which the local worker drains.
pub struct LocalWorker {
    rx: mpsc::UnboundedReceiver<Job>,
    journal: Option<Journal>,
    /// Why weak: the worker's own way back into the queue must not keep the
    /// queue open, or the worker would wait for its own sender for ever and
    /// the server could not stop.
    requeue: mpsc::WeakUnboundedSender<Job>,
}

/// The worker's own way into its queue ([`LocalWorker::requeue`]), for the
/// members it admits from the waitlist: a [`JobSink`] like [`LocalQueue`]
/// (journaled the same way), that does not keep the queue open. Once the
/// routes' senders are gone (the server is stopping) it refuses, and the
/// workflow creates the admitted member at once instead.
#[derive(Clone)]
pub struct Requeue {
    tx: mpsc::WeakUnboundedSender<Job>,
    journal: Option<Journal>,
}

impl JobSink for Requeue {
    fn enqueue<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async move {
            // Upgraded first, so a job is never journaled for a queue that
            // has closed.
            let Some(tx) = self.tx.upgrade() else {
                return Err(QueueError("the local server is stopping".into()));
            };
            if let Some(journal) = &self.journal {
                journal.put(job).await?;
            }
            tx.send(job.clone())
                .map_err(|_| QueueError("the local worker has stopped".into()))
        })
    }
}

/// A connected queue and worker, jobs in memory only.
pub fn channel() -> (LocalQueue, LocalWorker) {
    channel_with(None)
}

/// A connected queue and worker that keep their jobs in `journal` until
/// they are done.
pub fn channel_with(journal: Option<Journal>) -> (LocalQueue, LocalWorker) {
    let (tx, rx) = mpsc::unbounded_channel();
    let requeue = tx.downgrade();
    (
        LocalQueue {
            tx,
            journal: journal.clone(),
        },
        LocalWorker {
            rx,
            journal,
            requeue,
        },
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
    /// The next job, or `None` once every sender is dropped and the queue
    /// is empty.
    pub async fn next(&mut self) -> Option<Job> {
        self.rx.recv().await
    }

    /// The journal the jobs are kept in until they are done (the worker
    /// removes each job it is done with, so a restart does not queue it
    /// again).
    pub fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// A sink into this same queue that does not keep it open (see
    /// [`Requeue`]).
    pub fn requeue(&self) -> Requeue {
        Requeue {
            tx: self.requeue.clone(),
            journal: self.journal.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::{ClaimKey, DeliveryKey, Email, PoolId, SignupRequest};

    fn job(id: &str) -> Job {
        Job {
            delivery: DeliveryKey {
                source: "okta".into(),
                id: id.into(),
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
            claim: ClaimKey {
                pool: PoolId::parse("acme").unwrap(),
                person: "ana@acme.org".into(),
            },
            claim_id: format!("c-{id}"),
            accepted_at: 0,
        }
    }

    #[tokio::test]
    async fn the_workers_requeue_reaches_the_worker_without_keeping_the_queue_open() {
        let (queue, mut worker) = channel();
        let requeue = worker.requeue();

        requeue.enqueue(&job("admitted")).await.unwrap();
        let next = tokio::time::timeout(Duration::from_secs(1), worker.next()).await;
        assert_eq!(next.ok().flatten(), Some(job("admitted")));

        // The routes' sender gone, the worker's loop ends although the
        // worker still holds its requeue handle.
        drop(queue);
        let next = tokio::time::timeout(Duration::from_secs(1), worker.next()).await;
        assert_eq!(next.ok(), Some(None), "the queue closed");
        assert!(requeue.enqueue(&job("late")).await.is_err());
    }
}

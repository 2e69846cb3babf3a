//! The in-process job queue of the local server: a channel from the routes
//! ([`LocalQueue`], the [`JobSink`]) to the local worker
//! (`entrypoints::local_worker`), which takes jobs from the receiving end
//! ([`LocalWorker`]).
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
}

//! The job queue port ([`JobSink`] and its message, [`Job`]): where the
//! Okta and Entra routes hand over the members they cannot create within
//! their senders' 2–3 second deadline, and where the other sign-up routes
//! hand a member the portal did not create within `PORTAL_DEADLINE_SECS`;
//! the workers queue on it too the members they admit from a waitlist. The
//! workflow runs a job (`Provisioner::run_job`); the adapters only carry it.
//!
//! Adapters:
//!
//! - [`sqs::SqsQueue`]: Amazon SQS, with a dead-letter queue and the worker
//!   function declared in `template.yaml` (the deployed path). The worker side
//!   is [`crate::entrypoints::worker`].
//! - [`local::LocalQueue`]: a channel to the local server's in-process
//!   worker ([`crate::entrypoints::local_worker`], with the same attempts and
//!   the same final failure handling), and optionally a [`journal::Journal`]
//!   file that keeps its jobs across a crash.

pub mod journal;
pub mod local;
pub mod sqs;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::domain::{ClaimKey, DeliveryKey, Overrides, SignupRequest, UnixMillis};

/// One member to create: the queue's message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The delivery that reserved the seat.
    pub delivery: DeliveryKey,
    /// The sign-up as parsed at intake.
    pub request: SignupRequest,
    /// Values that win over the pool's grants.
    #[serde(default)]
    pub overrides: Overrides,
    /// The claim holding the seat.
    pub claim: ClaimKey,
    /// The claim's id: a job only ever completes the reservation it was made for.
    pub claim_id: String,
    /// When the seat was reserved.
    pub accepted_at: UnixMillis,
}

/// Why a job could not be queued.
#[derive(Debug, thiserror::Error)]
#[error("job queue unavailable: {0}")]
pub struct QueueError(pub String);

/// A boxed, sendable future (the sink is used as a trait object so the HTTP
/// state needs no third type parameter).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where accepted jobs go.
pub trait JobSink: Send + Sync {
    /// Queues one job durably enough for the deployment (SQS: stored by AWS;
    /// local: handed to the in-process worker).
    fn enqueue<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), QueueError>>;
}

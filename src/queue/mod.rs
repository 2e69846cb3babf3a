//! Adapters of the job queue port ([`crate::provisioning::JobSink`]): where
//! the Okta and Entra routes hand over the members they cannot create within
//! their senders' 2–3 second deadline, and where the other sign-up routes
//! hand a member the portal did not create within `PORTAL_DEADLINE_SECS`.
//!
//! - [`sqs::SqsQueue`]: Amazon SQS, with a dead-letter queue and the worker
//!   function declared in `template.yaml` (the deployed path). The worker side
//!   is [`crate::entrypoints::worker`].
//! - [`local::LocalQueue`]: an in-process worker for the local server, with
//!   the same attempts and the same final failure handling, and optionally a
//!   [`journal::Journal`] file that keeps its jobs across a crash.

pub mod journal;
pub mod local;
pub mod sqs;

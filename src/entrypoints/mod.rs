//! Entry points: thin adapters from the outside world to the workflow.
//!
//! [`http`] builds the one axum router every deployment serves: Lambda (via
//! `lambda_http`) and the local server (via `axum::serve`) run the same
//! router, so there is no second implementation of any route. [`worker`]
//! completes queued members (SQS batches, scheduled sweeps).

pub mod admin;
pub mod approvals;
pub(crate) mod audit_cmd;
pub mod cli;
mod hooks;
pub mod http;
pub mod import_cmd;
mod survey123_reread;
pub mod worker;

//! Entry points: the thin adapters from the outside world to the workflow.
//! Each reads its input, verifies and parses it through intake, calls one
//! workflow function and renders the result.
//!
//! - [`http`]: the one axum router every deployment serves (Lambda via
//!   `lambda_http`, the local server via `axum::serve`).
//! - [`worker`]: the queue worker Lambda (SQS batches of jobs, and the
//!   scheduled sweep).
//! - [`local_worker`]: the local server's in-process queue worker.
//! - [`schedule`]: the local server's periodic sweep.
//! - [`import_function`]: the CSV import Lambda (S3 uploads).
//!
//! They are wired by [`crate::startup`] and run by `bin/` and [`crate::cli`].

pub mod http;
pub mod import_function;
pub mod local_worker;
pub mod schedule;
pub mod worker;

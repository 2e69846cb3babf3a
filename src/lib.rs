//! agol-seat-broker: hands out ArcGIS Online seats from signed sign-up
//! webhooks.
//!
//! # Layout
//!
//! A request flows intake → policy → seats → portal, driven by the
//! provisioning workflow and called from thin entry points. Nothing calls
//! backwards.
//!
//! - [`domain`]: validated value types (e-mail, username, pool, delivery key).
//! - [`intake`]: verifies webhook deliveries and normalises them into a
//!   [`domain::SignupRequest`].
//! - [`policy`]: the rules file; decides pool, role, user type, groups and
//!   username.
//! - [`seats`]: the seat ledger's five ports (claims with atomic
//!   reservations, delivery idempotency records, sign-up requests, failed
//!   sign-ups, the audit trail), together [`seats::SeatLedger`], and its
//!   adapters: DynamoDB (deployed), SQLite (embedded, one machine),
//!   in-memory (tests).
//! - [`portal`]: the [`portal::Portal`] port, the ArcGIS REST client, and the
//!   portal simulator (a fake ArcGIS portal over real HTTP).
//! - [`provisioning`]: the workflow (idempotency → reserve → create →
//!   confirm, with compensation), its asynchronous half (reserve now, create
//!   from a queue) and the sweeper for crashed attempts.
//! - [`queue`]: job queue adapters: SQS (deployed) and an in-process worker.
//! - [`entrypoints`]: the one HTTP router (Lambda and local server) and the
//!   command line; [`startup`] wires them from [`config`].
//! - [`status`]: seats per pool, for `seats` and `GET /status`.
//! - [`import`]: CSV import of members (AdminTools layout) through the
//!   same ledger and portal client.
#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod domain;
pub mod entrypoints;
pub mod ids;
pub mod import;
pub mod intake;
pub mod notify;
pub mod policy;
pub mod portal;
pub mod provisioning;
pub mod queue;
pub mod seats;
pub mod startup;
pub mod status;
pub mod telemetry;

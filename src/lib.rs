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
//!   [`intake::SignupRequest`].
//! - [`policy`]: the rules file; decides pool, role, user type, groups and
//!   username.
//! - [`seats`]: the [`seats::SeatLedger`] port (atomic reservations,
//!   idempotency records) and its adapters (DynamoDB, in-memory).
//! - [`portal`]: the [`portal::Portal`] port, the ArcGIS REST client, and the
//!   portal simulator (a fake ArcGIS portal over real HTTP).
#![warn(missing_docs)]

pub mod config;
pub mod domain;
pub mod entrypoints;
pub mod intake;
pub mod policy;
pub mod portal;
pub mod provisioning;
pub mod seats;
pub mod startup;
pub mod status;
pub mod telemetry;

//! agol-seat-broker: hands out ArcGIS Online seats from signed sign-up
//! webhooks.
//!
//! # Layout
//!
//! Arrows run one way, from the entry points down to the domain; nothing
//! imports upwards or sideways, and no files import each other in a circle
//! (`scripts/check-layers.py`, run by CI). Top to bottom:
//!
//! | layer | modules | job |
//! |---|---|---|
//! | command line | [`cli`] | clap and dispatch: `serve`, `demo`, `send`, `seats`, `audit`, `import`, … |
//! | wiring | [`startup`] | the one place that builds the parts and connects them, for every process and the tests |
//! | entry points | [`entrypoints`] | the HTTP routes (Lambda and local server), the queue workers, the import function |
//! | bulk workflow | [`import`] | CSV import in the AdminTools layout |
//! | workflow | [`provisioning`] | sign-ups, jobs, approvals, the waitlist, recovery, read models |
//! | adapters of the senders; rules | [`intake`], [`policy`] | verify and normalise deliveries; which pool, role, user type, groups |
//! | ports and adapters | [`seats`], [`portal`], [`queue`], [`notify`] | the ledger (DynamoDB, SQLite, memory), ArcGIS (client, simulator), the job queue (SQS, local), notices |
//! | foundations | [`config`], [`clock`], [`ids`], [`telemetry`] | settings and secrets, the one clock, the one id source, logs |
//! | values | [`domain`] | validated value types shared by every layer |
//!
//! One sign-up: a route in [`entrypoints::http`] verifies and parses the
//! delivery through its [`intake`] adapter into a [`domain::SignupRequest`],
//! calls [`provisioning::Provisioner::sign_up`] (which asks [`policy`] for
//! the pool, takes the delivery's lease and a seat in [`seats`], creates the
//! member through [`portal`] or queues it through [`queue`]), and renders
//! the [`provisioning::Outcome`] in the sender's terms.
//!
//! The architecture is described at length in
//! [`docs/architecture.md`](../../../docs/architecture.md) (the layers, one
//! sign-up end to end, where a new sender, port method or route goes); the
//! administrator's and operator's documentation starts at
//! [`docs/index.md`](../../../docs/index.md).
#![warn(missing_docs)]

pub mod cli;
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

pub mod telemetry;

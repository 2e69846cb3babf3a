//! End-to-end tests over real HTTP: the broker's router served on loopback,
//! the ledger on DynamoDB Local, the portal simulator behind the real ArcGIS
//! client. One test binary (zero2prod style); `helpers` builds the world.

#[path = "../support/entra_keys.rs"]
mod entra_keys;
mod helpers;

mod admin;
mod approvals;
mod bad_input;
mod contracts;
mod failures;
mod hooks;
mod lambda_events;
mod senders;
mod signup;
mod sqs;
mod status;
mod survey123;

//! Wiring: the one place that builds the broker's parts and connects them.
//! Every process starts here: the three Lambda functions
//! ([`deployed`]), the local server ([`local`]), and the test harness and
//! benchmarks ([`app()`] over ports of their choosing). Nothing here runs
//! per request.
//!
//! - [`parts`]: the rules, senders, keys, ArcGIS client and approval
//!   connections, checked from the configuration.
//! - [`app`](mod@app): the workflow, the routes' state and the router over any ledger
//!   and portal, with the in-process queue worker when asked.
//! - [`deployed`]: DynamoDB + ArcGIS, from the environment.
//! - [`local`]: one machine, on an embedded store or a DynamoDB table, with
//!   the built-in portal simulator or a real organization.
//! - [`ledger_table`]: the DynamoDB ledger table made ready for a local run
//!   (`init`, `serve --create-table`).

pub mod app;
pub mod deployed;
pub mod ledger_table;
pub mod local;
pub mod parts;

pub use app::{App, AppParts, JobQueue, app};
pub use deployed::{
    WorkerParts, deployed_ports, function_budget, import_function, lambda_app, worker_parts,
};
pub use parts::{approvals, arcgis_portal, load_config, rules_text, signing_keys};

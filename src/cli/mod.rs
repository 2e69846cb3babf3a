//! The `agol-seat-broker` command line: clap and dispatch only. Each
//! command lives in a module of its own and builds what it needs through
//! [`crate::startup`]:
//!
//! - `serve`, `demo` ([`serve`]): the local server, the very router the
//!   Lambda serves; `init` ([`init`]): its store made ready first;
//! - `send` ([`send`]): a signed test delivery;
//! - `seats` ([`seats`]), `audit` ([`audit`]): the status read model and the
//!   audit trail of any store;
//! - `simulate-portal` ([`simulate`]): the portal simulator alone;
//! - `check-rules` ([`check_rules`]); `import` ([`import`]);
//! - `reclaim` ([`reclaim`]), `reconcile` ([`reconcile`]): the seat's life
//!   after sign-up, the ledger against the organization.
//!
//! Only this module and `bin/` use `anyhow`.

pub mod audit;
pub mod check_rules;
pub mod import;
pub mod init;
mod open;
pub mod reclaim;
pub mod reconcile;
pub mod seats;
pub mod send;
pub mod serve;
pub mod simulate;

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::{Args, Parser, Subcommand};

use crate::startup::local::Store;

/// An error that ends the command with this exit code, its message
/// already printed (`check-rules --portal`: 2 when the pre-flight check
/// found something to fix). `bin/agol-seat-broker` looks for it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitWith {
    /// The process exit code.
    pub code: u8,
    /// A last line for stderr.
    pub message: String,
}

/// Hands out ArcGIS Online seats from signed sign-up webhooks.
#[derive(Debug, Parser)]
#[command(name = "agol-seat-broker", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the webhook routes on this machine (the same routes as the Lambda).
    Serve(serve::ServeArgs),
    /// Make the store ready: a `dynamodb:` table is created with the SAM
    /// template's key schema and TTL (an existing one is checked).
    Init(init::InitArgs),
    /// Try it out: example rules, a store under ./data, the built-in portal simulator.
    Demo(serve::DemoArgs),
    /// Sign a sign-up body (or a recorded API Gateway event) and post it.
    Send(send::SendArgs),
    /// Print seats per pool: seats, used, reserved, free, and who holds them.
    Seats(seats::SeatsArgs),
    /// Run the portal simulator alone (a fake ArcGIS Online organization).
    SimulatePortal(simulate::SimulateArgs),
    /// Print the audit trail (requests, decisions, seats, members) as JSON
    /// lines, oldest first.
    Audit(audit::AuditArgs),
    /// Check a rules file and print its pools; with --portal, the pre-flight
    /// check against the organization (exit 2 when something must be fixed).
    CheckRules {
        /// The rules file.
        #[arg(default_value = "config/rules.toml")]
        path: PathBuf,
        /// The pre-flight check against the organization at this portal URL
        /// (credentials from ARCGIS_USERNAME and ARCGIS_PASSWORD, as for
        /// `serve`): sign-in, the broker's account, every pool's role, user
        /// type and groups, and the licences. Changes nothing.
        #[arg(long)]
        portal: Option<String>,
        /// With --portal: the store whose ACTIVE claims are the broker's
        /// share of the assigned licences (a missing SQLite file: none).
        /// Without it the broker is taken to hold no seats.
        #[arg(long, env = "LEDGER_STORE")]
        store: Option<String>,
        /// With --portal: print the findings as one JSON document.
        #[arg(long)]
        json: bool,
        /// DynamoDB endpoint override (DynamoDB Local), for `dynamodb:` stores.
        #[arg(long, env = "DYNAMODB_ENDPOINT")]
        dynamodb_endpoint: Option<String>,
    },
    /// Create and update members from a CSV file (AdminTools "Import Users from CSV" layout).
    Import(import::ImportArgs),
    /// Expiry and reclaiming idle seats: warn, end and give seats back as
    /// the rules say (`--dry-run`: print the plan, change nothing).
    Reclaim(reclaim::ReclaimArgs),
    /// Move one member's seat end (`--until YYYY-MM-DD` or `--days N`).
    Extend(reclaim::ExtendArgs),
    /// Compare the ledger with the organization's members, invitations and
    /// licences, and repair it (`--dry-run`: printed, nothing changed).
    Reconcile(reconcile::ReconcileArgs),
}

/// Where the rules and the seats are: shared by the commands that open a
/// store.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The rules file.
    #[arg(long, short, default_value = "config/rules.toml", env = "RULES_PATH")]
    config: PathBuf,
    /// Where seats are kept: `sqlite:<file>` (embedded, the default) or
    /// `dynamodb:<table>`.
    #[arg(long, default_value = "sqlite:data/ledger.db", env = "LEDGER_STORE")]
    store: String,
    /// DynamoDB endpoint override (DynamoDB Local), for `dynamodb:` stores.
    #[arg(long, env = "DYNAMODB_ENDPOINT")]
    dynamodb_endpoint: Option<String>,
}

impl StoreArgs {
    /// The parsed `--store`.
    fn store(&self) -> Result<Store> {
        Store::parse(&self.store, self.dynamodb_endpoint.clone()).map_err(|e| anyhow!("{e}"))
    }
}

/// Runs the command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(a) => serve::serve(a).await,
        Command::Demo(a) => serve::demo(a).await,
        Command::Init(a) => init::init(a).await,
        Command::Send(a) => send::send(a).await,
        Command::Seats(a) => seats::seats(a).await,
        Command::SimulatePortal(a) => simulate::simulate(a).await,
        Command::Audit(a) => audit::audit(a).await,
        Command::CheckRules {
            path, portal: None, ..
        } => check_rules::check_rules(&path),
        Command::CheckRules {
            path,
            portal: Some(portal),
            store,
            dynamodb_endpoint,
            json,
        } => {
            let store = store
                .map(|s| Store::parse(&s, dynamodb_endpoint))
                .transpose()
                .map_err(|e| anyhow!("{e}"))?;
            check_rules::check_rules_with_portal(&path, &portal, store, json).await
        }
        Command::Import(a) => import::run(a).await,
        Command::Reclaim(a) => reclaim::reclaim(a).await,
        Command::Extend(a) => reclaim::extend(a).await,
        Command::Reconcile(a) => reconcile::reconcile(a).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_specs_parse() {
        let args = |s: &str| StoreArgs {
            config: "x".into(),
            store: s.into(),
            dynamodb_endpoint: None,
        };
        assert!(matches!(
            args("sqlite:data/l.db").store(),
            Ok(Store::Sqlite(_))
        ));
        assert!(matches!(
            args("dynamodb:t").store(),
            Ok(Store::Dynamo { .. })
        ));
        assert!(args("postgres:x").store().is_err());
        assert!(args("sqlite:").store().is_err());
    }
}

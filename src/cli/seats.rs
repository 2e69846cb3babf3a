//! `seats`: every pool's seats, used, reserved, free, and who holds them
//! (the same read model as `GET /status`), from any store.

use anyhow::{Result, anyhow, bail};
use clap::Args;

use super::StoreArgs;
use super::check_rules::load_rules;
use crate::clock::Clock;
use crate::provisioning::status;
use crate::seats::dynamo::{DynamoLedger, client_for_endpoint};
use crate::seats::sqlite::SqliteLedger;
use crate::startup::local::Store;

#[derive(Debug, Args)]
pub(crate) struct SeatsArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Pools only, without the holders.
    #[arg(long)]
    summary: bool,
}

/// Prints every pool's seats, as a table or JSON.
pub(crate) async fn seats(a: SeatsArgs) -> Result<()> {
    let rules = load_rules(&a.store.config)?;
    let now = Clock::system().now();
    let pools = match a.store.store()? {
        Store::Sqlite(path) => {
            if !path.exists() {
                bail!(
                    "{} does not exist yet (no sign-up was handled with this store)",
                    path.display()
                );
            }
            let ledger =
                SqliteLedger::open(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            status::pools(&ledger, &rules, now).await
        }
        Store::Dynamo { table, endpoint } => {
            let ledger = DynamoLedger::new(client_for_endpoint(endpoint.as_deref()).await, table);
            status::pools(&ledger, &rules, now).await
        }
    }
    .map_err(|e| anyhow!("cannot read the store: {e}"))?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"pools": pools}))?
        );
    } else {
        print!("{}", status::render(&pools, a.summary));
    }
    Ok(())
}

//! `init`: makes the store ready before a first `serve`, so `--store
//! dynamodb:T` works against DynamoDB Local (or a table of one's own) without
//! a separate script; `serve --create-table` does the same before serving.
//! See [`crate::startup::ledger_table`] for what is checked.

use anyhow::{Result, anyhow};
use clap::Args;

use crate::seats::dynamo::client_for_endpoint;
use crate::startup::ledger_table::{TableReady, ensure_ledger_table};
use crate::startup::local::Store;

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The store to make ready: `dynamodb:<table>` (created with the SAM
    /// template's key schema and TTL when missing) or `sqlite:<file>`
    /// (nothing to do: it makes its own schema).
    #[arg(long, env = "LEDGER_STORE")]
    store: String,
    /// DynamoDB endpoint override (DynamoDB Local), for `dynamodb:` stores.
    #[arg(long, env = "DYNAMODB_ENDPOINT")]
    dynamodb_endpoint: Option<String>,
}

/// `init`: prints what it did.
pub(crate) async fn init(a: InitArgs) -> Result<()> {
    let store = Store::parse(&a.store, a.dynamodb_endpoint).map_err(|e| anyhow!("{e}"))?;
    println!("{}", prepare_store(&store).await?);
    Ok(())
}

/// Makes `store` ready and says how it found it.
pub(crate) async fn prepare_store(store: &Store) -> Result<String> {
    match store {
        Store::Sqlite(path) => Ok(format!(
            "sqlite {}: nothing to create (the file and its schema are made on first use)",
            path.display()
        )),
        Store::Dynamo { table, endpoint } => {
            let client = client_for_endpoint(endpoint.as_deref()).await;
            let ready = ensure_ledger_table(&client, table)
                .await
                .map_err(|e| anyhow!("[{}] {e}", e.code()))?;
            Ok(match ready {
                TableReady::Created => format!(
                    "{}: created (key pk + sk, on-demand, TTL on ttl)",
                    store.describe()
                ),
                TableReady::AlreadyExisted => format!(
                    "{}: already exists with the ledger's key schema; left as it is",
                    store.describe()
                ),
            })
        }
    }
}

//! Runs every check of the ledger contract (`tests/contract/mod.rs`) against
//! [`MemoryLedger`], against [`SqliteLedger`] on a fresh file per check, and
//! against [`DynamoLedger`] on DynamoDB Local.
//!
//! Each SQLite check gets its own directory under the system temp directory,
//! removed when the check has passed (kept for inspection when it failed).
//!
//! The DynamoDB tests need `DYNAMODB_ENDPOINT` (the URL printed by
//! `scripts/dynamodb-local.sh start`; `scripts/test.sh` sets it). Without it
//! they fail, never pass silently. Each one creates its own uniquely named
//! table and drops it when the check has passed.

mod contract;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use agol_seat_broker::seats::dynamo::{
    ConflictRetry, DynamoLedger, client_for_endpoint, create_table,
};
use agol_seat_broker::seats::memory::MemoryLedger;
use agol_seat_broker::seats::sqlite::SqliteLedger;

fn memory_ledger() -> Arc<MemoryLedger> {
    Arc::new(MemoryLedger::new())
}

/// A SqliteLedger on a new file in a directory of its own; returns the
/// directory too, for [`remove_sqlite_dir`].
fn sqlite_ledger(check: &str) -> (Arc<SqliteLedger>, std::path::PathBuf) {
    static FILES: AtomicU32 = AtomicU32::new(0);
    let mut short: String = check.chars().take(60).collect();
    short.retain(|c| c.is_ascii_alphanumeric() || c == '_');
    let dir = std::env::temp_dir().join(format!(
        "agol-ledger-contract-{}-{}-{short}",
        std::process::id(),
        FILES.fetch_add(1, Ordering::Relaxed)
    ));
    let path = dir.join("ledger.db");
    let ledger =
        SqliteLedger::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    (Arc::new(ledger), dir)
}

fn remove_sqlite_dir(dir: &std::path::Path) {
    // Best effort: a leftover directory in the temp dir is harmless.
    let _ = std::fs::remove_dir_all(dir);
}

/// A DynamoLedger on a fresh table of the DynamoDB Local at
/// `DYNAMODB_ENDPOINT`, with a retry budget generous enough for the burst
/// check and backoffs short enough to keep it quick.
async fn dynamo_ledger(check: &str) -> Arc<DynamoLedger> {
    static TABLES: AtomicU32 = AtomicU32::new(0);
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").unwrap_or_default();
    assert!(
        !endpoint.is_empty(),
        "DYNAMODB_ENDPOINT is not set, so the DynamoDB ledger cannot be tested. \
         Run scripts/test.sh, or start DynamoDB Local with `scripts/dynamodb-local.sh start` \
         and export DYNAMODB_ENDPOINT=<the URL it prints>."
    );
    let client = client_for_endpoint(Some(&endpoint)).await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut short: String = check.chars().take(60).collect();
    short.retain(|c| c.is_ascii_alphanumeric() || c == '_');
    let table = format!(
        "ledger-{}-{}-{nanos}-{short}",
        std::process::id(),
        TABLES.fetch_add(1, Ordering::Relaxed)
    );
    create_table(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("creating table {table} on {endpoint}: {e}"));
    Arc::new(
        DynamoLedger::new(client, table).with_conflict_retry(ConflictRetry {
            max_attempts: 200,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(100),
            max_elapsed: Duration::from_secs(60),
        }),
    )
}

async fn drop_table(ledger: &DynamoLedger) {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").unwrap_or_default();
    let client = client_for_endpoint(Some(&endpoint)).await;
    // Best effort: the emulator is in-memory and thrown away anyway.
    let _ = client
        .delete_table()
        .table_name(ledger.table_name())
        .send()
        .await;
}

macro_rules! memory_tests {
    ($($check:ident),* $(,)?) => {
        /// The in-memory adapter.
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    crate::contract::$check(crate::memory_ledger()).await;
                }
            )*
        }
    };
}

macro_rules! sqlite_tests {
    ($($check:ident),* $(,)?) => {
        /// The SQLite adapter, one new file per check.
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let (ledger, dir) = crate::sqlite_ledger(stringify!($check));
                    let started = std::time::Instant::now();
                    crate::contract::$check(ledger.clone()).await;
                    eprintln!("{}: {:?}", stringify!($check), started.elapsed());
                    drop(ledger);
                    crate::remove_sqlite_dir(&dir);
                }
            )*
        }
    };
}

macro_rules! dynamodb_tests {
    ($($check:ident),* $(,)?) => {
        /// The DynamoDB adapter on DynamoDB Local.
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $check() {
                    let ledger = crate::dynamo_ledger(stringify!($check)).await;
                    crate::contract::$check(ledger.clone()).await;
                    eprintln!(
                        "{}: {} transaction conflicts retried",
                        stringify!($check),
                        ledger.conflicts_retried()
                    );
                    crate::drop_table(&ledger).await;
                }
            )*
        }
    };
}

for_each_contract_check!(memory_tests);
for_each_contract_check!(sqlite_tests);
for_each_contract_check!(dynamodb_tests);

//! [`SqliteLedger`]: the seat ledger in one SQLite file, the embedded durable
//! store for single-machine installs (trying the broker out, small sites).
//!
//! It keeps exactly the semantics of the module contract in [`crate::seats`]
//! and passes the same contract suite as the memory and DynamoDB adapters:
//!
//! - every operation that writes is ONE `BEGIN IMMEDIATE` transaction, so the
//!   pool's `used < capacity` check, the counter update and the claim insert
//!   happen together, and concurrent reservations (from this process or from
//!   another one opening the same file) are serialised by SQLite's write lock;
//! - lease and retention expiry are decided from the stored times against the
//!   `now` passed in, never from the wall clock;
//! - a write that returned `Ok` is on disk: WAL journal with
//!   `synchronous=FULL` (see [`SqliteLedger::open`]).
//!
//! # Layout (schema version 8, `PRAGMA user_version`)
//!
//! - `pools(pool, used)`: one counter per pool ever used; `used >= 0`.
//! - `claims(pool, person, claim_id, state, username, delivery, reserved_at,
//!   updated_at, hold)`, keyed by `(pool, person)`, `pool` referencing
//!   `pools` (version 5 adds the nullable `hold`).
//! - `deliveries(source, id, status, payload_hash, lease_until, outcome,
//!   retain_until, updated_at, attempt)`, keyed by `(source, id)`. Version
//!   6 adds the nullable `attempt`, the run of the delivery that holds the
//!   lease; NULL on records written before, which no attempt holds.
//! - `failures(pool, person, delivery, username, code, message, at,
//!   retain_until)`, keyed by `(pool, person)`: the latest failed sign-up of
//!   each person (version 2; a version-1 file gains the table when opened).
//! - `requests(id, pool, person, delivery, payload, state, claim_id,
//!   created_at, expires_at, decided_at, decided_by, reason)`, keyed by `id`;
//!   a partial unique index on `(pool, person) WHERE state IN ('PENDING',
//!   'WAITLISTED')` keeps one open request per pool + person, and an index
//!   on `(pool, state, created_at, id)` serves the listing (version 3).
//!   Version 4 adds the nullable `retain_until`, set while the request is
//!   closed, and a partial index on it for [`SqliteLedger::purge_expired`].
//! - `audit(id AUTOINCREMENT, at, actor, action, pool, person, detail)`: the
//!   audit trail, read by `(at, id)`, so events with the same `at` keep
//!   their arrival order (version 3). Neither version-3 table references
//!   `pools`: requests and audit events take no seat.
//! - `sign_ins(window_start, address, attempts, until)`, keyed by
//!   `(window_start, address)`: the administrator's sign-in attempts
//!   counted in a window per client address, and in all under the address
//!   `''` (never a client's); `until` is the window's end, after which
//!   [`SqliteLedger::purge_expired`] deletes the row (version 7).
//! - `alert_levels(subject, level, updated_at)`, keyed by `subject`
//!   (`pool:<name>`, `usertype:<id>`, `reconciliation`): the usage alert
//!   level each subject was last alerted at, NULL once it fell back under
//!   every threshold; never purged (version 8).
//!
//! The file is marked with [`APPLICATION_ID`]; a file of another application
//! or of a newer schema version is refused, never rewritten.
//!
//! rusqlite is synchronous: every call runs on tokio's blocking pool, with the
//! connection behind a `std::sync::Mutex` that is never held across an
//! `.await`. This module must not know about the portal or HTTP, and its
//! errors carry a short description only: no SQL, no row data.
//!
//! # Files
//!
//! This file holds the struct, opening, the purge and the helpers that run
//! work on the connection (`run`, `write`). Beside it, one thing per file:
//! `schema.rs` (migrations and the checks that a file is ours), `rows.rs`
//! (row ↔ domain mapping), `errors.rs` (how operations fail), and one file
//! per port: `claims.rs`, `deliveries.rs`, `requests.rs`, `failures.rs`,
//! `audit.rs`, `sign_ins.rs`, `alert_levels.rs`. None of them is imported back by this file except the
//! schema, the row mapping and the errors, which import nothing of it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use crate::domain::UnixMillis;
use crate::seats::claims::PoolUsage;
use crate::seats::error::LedgerError;

mod alert_levels;
mod audit;
mod batch;
mod claims;
mod deliveries;
mod errors;
mod failures;
mod requests;
mod rows;
mod schema;
mod sign_ins;

pub use schema::{APPLICATION_ID, SCHEMA_VERSION};

use errors::{TxError, sql_error};
use rows::{all, pool_from_row};

/// How long an operation waits for another process's write lock on the file
/// before answering [`LedgerError::Unavailable`].
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an IN_PROGRESS record outlives its lease before
/// [`SqliteLedger::purge_expired`] may delete it: the grace the
/// DynamoDB adapter gives its TTL, so both stores forget crashed attempts
/// alike.
pub const IN_PROGRESS_PURGE_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// The seat ledger in an SQLite file; see the module docs. Share it behind an
/// `Arc`.
pub struct SqliteLedger {
    /// Why ONE connection behind a std mutex: SQLite admits one writer per
    /// file at a time anyway, so more connections would only turn in-process
    /// contention into `SQLITE_BUSY` and busy-handler sleeps; a mutex queues
    /// our operations instead. Each critical section is a short synchronous
    /// transaction on a blocking thread, never across an `.await`, so a std
    /// mutex fits. `Arc` because blocking tasks must own what they use.
    conn: Arc<Mutex<Connection>>,
    /// The file, for `Debug` and status output; `None` in memory.
    path: Option<PathBuf>,
    /// Operations run (each one transaction or read on the blocking pool):
    /// the round trips tests and benchmarks count. Relaxed: a statistic.
    round_trips: AtomicU64,
}

impl fmt::Debug for SqliteLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteLedger")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteLedger {
    /// Opens (creating if needed, with its parent directory) the ledger file
    /// at `path`, with [`DEFAULT_BUSY_TIMEOUT`]. Blocks on file I/O: call it
    /// at start-up, before serving.
    ///
    /// The connection uses the WAL journal with `synchronous=FULL`. Why FULL,
    /// not NORMAL: under NORMAL a WAL commit is durable against a process
    /// kill but not against a power cut or OS crash, which may roll back the
    /// last transactions after they were reported done. A reservation lost
    /// that way would free a seat whose member was already created in the
    /// portal, and the pool could then be oversold. FULL syncs the WAL on
    /// every commit; the broker makes a few writes per sign-up, so the cost
    /// is small.
    ///
    /// Creates the schema if the file is new; refuses (as
    /// [`LedgerError::Corrupt`]) a file that is not an SQLite database,
    /// belongs to another application, or has a newer schema version.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LedgerError> {
        Self::open_with_busy_timeout(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// [`SqliteLedger::open`] with another wait for a write lock held by
    /// another process (tests use a short one).
    pub fn open_with_busy_timeout(
        path: impl AsRef<Path>,
        busy_timeout: Duration,
    ) -> Result<Self, LedgerError> {
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                LedgerError::Unavailable(format!(
                    "cannot create the ledger directory {}: {}",
                    parent.display(),
                    e.kind()
                ))
            })?;
        }
        create_private_file(path)?;
        let conn = Connection::open(path).map_err(|e| sql_error("open", &e))?;
        let conn = schema::prepare(conn, busy_timeout, true).map_err(|f| f.into_ledger("open"))?;
        tracing::debug!(path = %path.display(), "opened the SQLite seat ledger");
        Ok(SqliteLedger {
            conn: Arc::new(Mutex::new(conn)),
            path: Some(path.to_path_buf()),
            round_trips: AtomicU64::new(0),
        })
    }

    /// A ledger in memory, gone when dropped: the same schema and code
    /// paths, without a file (unit tests).
    pub fn open_in_memory() -> Result<Self, LedgerError> {
        let conn = Connection::open_in_memory().map_err(|e| sql_error("open", &e))?;
        let conn = schema::prepare(conn, DEFAULT_BUSY_TIMEOUT, false)
            .map_err(|f| f.into_ledger("open"))?;
        Ok(SqliteLedger {
            conn: Arc::new(Mutex::new(conn)),
            path: None,
            round_trips: AtomicU64::new(0),
        })
    }

    /// How many operations this ledger has run, each one transaction (or
    /// one read) on the blocking pool: a sign-up's round trips, as
    /// [`crate::seats::dynamo::DynamoLedger::round_trips`] counts them on
    /// DynamoDB.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// The ledger file, `None` for an in-memory ledger.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Every pool counter ever written, by pool name (a pool whose seats were
    /// all given back shows `used: 0`). For the status command.
    pub async fn pools(&self) -> Result<Vec<PoolUsage>, LedgerError> {
        self.run("pools", |conn| {
            let mut stmt = conn.prepare_cached("SELECT pool, used FROM pools ORDER BY pool")?;
            all(stmt.query([])?, pool_from_row)
        })
        .await
    }

    /// Deletes records whose retention has ended, what DynamoDB's TTL does
    /// for the other adapter: completed delivery records past
    /// `retain_until`, in-progress ones whose lease ended more than
    /// [`IN_PROGRESS_PURGE_GRACE_MS`] before `now`, failed sign-ups past
    /// their `retain_until`, and closed sign-up requests past their
    /// `retain_until` (with the applicant's personal data), and sign-in
    /// counts of windows that ended before `now`. Audit events are never
    /// deleted. Returns how many records (of all kinds) were deleted.
    /// Call it now and then (the local server does, hourly) to keep the
    /// file small and personal data no longer than promised.
    pub async fn purge_expired(&self, now: UnixMillis) -> Result<usize, LedgerError> {
        self.write("purge_expired", move |tx| {
            let deliveries = tx
                .prepare_cached(
                    "DELETE FROM deliveries \
                     WHERE (status = 'COMPLETE' AND retain_until < ?1) \
                        OR (status = 'IN_PROGRESS' AND lease_until < ?2)",
                )?
                .execute(params![now, now.saturating_sub(IN_PROGRESS_PURGE_GRACE_MS)])?;
            let failures = tx
                .prepare_cached("DELETE FROM failures WHERE retain_until < ?1")?
                .execute(params![now])?;
            // Why the state too: an open request is never deleted, whatever
            // it holds (reopening clears `retain_until`; this guards a
            // request created open with one), so the one-open-request index
            // and the waitlist only lose closed rows.
            let requests = tx
                .prepare_cached(
                    "DELETE FROM requests WHERE retain_until < ?1 \
                     AND state NOT IN ('PENDING', 'WAITLISTED')",
                )?
                .execute(params![now])?;
            let sign_ins = tx
                .prepare_cached("DELETE FROM sign_ins WHERE until < ?1")?
                .execute(params![now])?;
            Ok(deliveries + failures + requests + sign_ins)
        })
        .await
    }

    /// Runs `work` on the connection on tokio's blocking pool. Dropping the
    /// returned future does not stop `work`: like a request already sent to
    /// DynamoDB, it commits or rolls back on its own.
    async fn run<T, F>(&self, op: &'static str, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, TxError> + Send + 'static,
    {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        // Why try_current: `tokio::task::spawn_blocking` panics outside a
        // runtime; a misuse should be an error, not a crash.
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            LedgerError::Unavailable(format!("{op}: no tokio runtime to run SQLite on"))
        })?;
        let conn = Arc::clone(&self.conn);
        let joined = runtime
            .spawn_blocking(move || {
                let mut guard = lock(&conn);
                work(&mut guard).map_err(|f| f.into_ledger(op))
            })
            .await;
        match joined {
            Ok(answer) => answer,
            Err(_) => Err(LedgerError::Unavailable(format!(
                "{op}: the SQLite worker task failed"
            ))),
        }
    }

    /// Runs `work` in ONE write transaction on the connection (see
    /// [`SqliteLedger::run`]): committed when `work` answers `Ok`, rolled
    /// back when it answers `Err` (dropping the transaction does that).
    /// Every operation that writes goes through here.
    async fn write<T, F>(&self, op: &'static str, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, TxError> + Send + 'static,
    {
        self.run(op, move |conn| {
            // Why IMMEDIATE: the write lock is taken before the reads, so the
            // checks an operation makes cannot be invalidated by another
            // writer before its writes (a DEFERRED transaction would fail to
            // upgrade instead).
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let answer = work(&tx)?;
            tx.commit()?;
            Ok(answer)
        })
        .await
    }
}

/// Locks the connection, recovering from a poisoned mutex.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    match conn.lock() {
        Ok(guard) => guard,
        Err(poisoned) => {
            let guard = poisoned.into_inner();
            // Why: a panic inside an operation unwinds through its
            // `Transaction`, which rolls back on drop, so the file is
            // consistent. Should a transaction still be open, roll it back so
            // the next operation does not run inside it.
            if !guard.is_autocommit() {
                let _ = guard.execute_batch("ROLLBACK");
            }
            conn.clear_poison();
            guard
        }
    }
}

/// Creates the ledger file for its owner only (mode 0600: it lists people's
/// e-mail addresses); SQLite gives its `-wal`/`-shm` files the same mode. An
/// existing file is left as it is.
#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), LedgerError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(LedgerError::Unavailable(format!(
            "cannot create the ledger file {}: {}",
            path.display(),
            e.kind()
        ))),
    }
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> Result<(), LedgerError> {
    Ok(())
}

#[cfg(test)]
mod tests;

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
//! # Layout (schema version 4, `PRAGMA user_version`)
//!
//! - `pools(pool, used)`: one counter per pool ever used; `used >= 0`.
//! - `claims(pool, person, claim_id, state, username, delivery, reserved_at,
//!   updated_at)`, keyed by `(pool, person)`, `pool` referencing `pools`.
//! - `deliveries(source, id, status, payload_hash, lease_until, outcome,
//!   retain_until, updated_at)`, keyed by `(source, id)`.
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
//!
//! The file is marked with [`APPLICATION_ID`]; a file of another application
//! or of a newer schema version is refused, never rewritten.
//!
//! rusqlite is synchronous: every call runs on tokio's blocking pool, with the
//! connection behind a `std::sync::Mutex` that is never held across an
//! `.await`. This module must not know about the portal or HTTP, and its
//! errors carry a short description only: no SQL, no row data.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};

use crate::domain::{ClaimKey, DeliveryKey, PoolId, RequestState, UnixMillis};
use crate::seats::{
    AuditEvent, Claim, ClaimState, DeliveryBegin, FailedSignup, LedgerError, PoolUsage, Rekey,
    RequestChange, Reservation, ReserveRequest, SeatLedger, SignupRecord,
};

/// The schema version this build writes and understands (`PRAGMA
/// user_version`). A file with a higher version is refused.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `PRAGMA application_id` of a ledger file ("AGSB"), so a foreign SQLite
/// file is recognised and left alone.
pub const APPLICATION_ID: i32 = 0x4147_5342;

/// How long an operation waits for another process's write lock on the file
/// before answering [`LedgerError::Unavailable`].
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an IN_PROGRESS record outlives its lease before
/// [`SqliteLedger::purge_expired`] may delete it: the grace the
/// DynamoDB adapter gives its TTL, so both stores forget crashed attempts
/// alike.
pub const IN_PROGRESS_PURGE_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// Schema migrations; entry `n` takes a file from version `n` to `n + 1`.
/// Only ever append.
const MIGRATIONS: &[&str] = &[
    // Version 1.
    "CREATE TABLE IF NOT EXISTS pools (
         pool TEXT NOT NULL PRIMARY KEY,
         used INTEGER NOT NULL CHECK (used >= 0)
     ) STRICT;
     CREATE TABLE IF NOT EXISTS claims (
         pool TEXT NOT NULL REFERENCES pools (pool),
         person TEXT NOT NULL,
         claim_id TEXT NOT NULL,
         state TEXT NOT NULL CHECK (state IN ('RESERVED', 'ACTIVE')),
         username TEXT,
         delivery TEXT NOT NULL,
         reserved_at INTEGER NOT NULL,
         updated_at INTEGER NOT NULL,
         PRIMARY KEY (pool, person)
     ) STRICT;
     CREATE INDEX IF NOT EXISTS claims_by_reservation
         ON claims (pool, reserved_at, person);
     CREATE TABLE IF NOT EXISTS deliveries (
         source TEXT NOT NULL,
         id TEXT NOT NULL,
         status TEXT NOT NULL CHECK (status IN ('IN_PROGRESS', 'COMPLETE')),
         payload_hash TEXT NOT NULL,
         lease_until INTEGER,
         outcome TEXT,
         retain_until INTEGER,
         updated_at INTEGER NOT NULL,
         PRIMARY KEY (source, id),
         CHECK ((status = 'IN_PROGRESS' AND lease_until IS NOT NULL)
             OR (status = 'COMPLETE' AND outcome IS NOT NULL
                 AND retain_until IS NOT NULL))
     ) STRICT;",
    // Version 2: failed sign-ups. No reference to `pools`: a failure takes no
    // seat and must not create a counter.
    "CREATE TABLE IF NOT EXISTS failures (
         pool TEXT NOT NULL,
         person TEXT NOT NULL,
         delivery TEXT NOT NULL,
         username TEXT,
         code TEXT NOT NULL,
         message TEXT NOT NULL,
         at INTEGER NOT NULL,
         retain_until INTEGER NOT NULL,
         PRIMARY KEY (pool, person)
     ) STRICT;",
    // Version 3: sign-up requests (approval, waitlist) and the audit trail.
    "CREATE TABLE IF NOT EXISTS requests (
         id TEXT NOT NULL PRIMARY KEY,
         pool TEXT NOT NULL,
         person TEXT NOT NULL,
         delivery TEXT NOT NULL,
         payload TEXT NOT NULL,
         state TEXT NOT NULL CHECK (state IN
             ('PENDING', 'WAITLISTED', 'APPROVED', 'DENIED', 'EXPIRED')),
         claim_id TEXT,
         created_at INTEGER NOT NULL,
         expires_at INTEGER NOT NULL,
         decided_at INTEGER,
         decided_by TEXT,
         reason TEXT
     ) STRICT;
     CREATE UNIQUE INDEX IF NOT EXISTS requests_one_open_per_person
         ON requests (pool, person) WHERE state IN ('PENDING', 'WAITLISTED');
     CREATE INDEX IF NOT EXISTS requests_by_state
         ON requests (pool, state, created_at, id);
     CREATE TABLE IF NOT EXISTS audit (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         at INTEGER NOT NULL,
         actor TEXT NOT NULL,
         action TEXT NOT NULL,
         pool TEXT,
         person TEXT,
         detail TEXT NOT NULL
     ) STRICT;
     CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at, id);",
    // Version 4: when a closed request (the applicant's personal data) may
    // be deleted. NULL for open requests and for requests closed before this
    // version, which are kept: their decision time is known, but the
    // retention they were closed under is not.
    "ALTER TABLE requests ADD COLUMN retain_until INTEGER;
     CREATE INDEX IF NOT EXISTS requests_by_retention
         ON requests (retain_until) WHERE retain_until IS NOT NULL;",
];

const IN_PROGRESS: &str = "IN_PROGRESS";
const COMPLETE: &str = "COMPLETE";

const SELECT_CLAIM: &str = "SELECT pool, person, claim_id, state, username, delivery, \
     reserved_at, updated_at FROM claims WHERE pool = ?1 AND person = ?2";
const SELECT_CLAIMS: &str = "SELECT pool, person, claim_id, state, username, delivery, \
     reserved_at, updated_at FROM claims WHERE pool = ?1 ORDER BY reserved_at, person";
/// The columns of a request, in [`request_from_row`]'s order.
const REQUEST_COLUMNS: &str = "id, pool, person, delivery, payload, state, claim_id, \
     created_at, expires_at, decided_at, decided_by, reason, retain_until";
/// The failures of pool `?1` retained at `?2`, in [`SeatLedger::failures`]'s
/// order.
const SELECT_FAILURES: &str = "SELECT pool, person, delivery, username, code, message, at \
     FROM failures WHERE pool = ?1 AND retain_until >= ?2 ORDER BY at DESC, person";

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
        let conn = prepare(conn, busy_timeout, true).map_err(|f| f.into_ledger("open"))?;
        tracing::debug!(path = %path.display(), "opened the SQLite seat ledger");
        Ok(SqliteLedger {
            conn: Arc::new(Mutex::new(conn)),
            path: Some(path.to_path_buf()),
        })
    }

    /// A ledger in memory, gone when dropped: the same schema and code
    /// paths, without a file (unit tests).
    pub fn open_in_memory() -> Result<Self, LedgerError> {
        let conn = Connection::open_in_memory().map_err(|e| sql_error("open", &e))?;
        let conn = prepare(conn, DEFAULT_BUSY_TIMEOUT, false).map_err(|f| f.into_ledger("open"))?;
        Ok(SqliteLedger {
            conn: Arc::new(Mutex::new(conn)),
            path: None,
        })
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
            let mut rows = stmt.query([])?;
            let mut pools = Vec::new();
            while let Some(row) = rows.next()? {
                let name: String = row.get(0)?;
                pools.push(PoolUsage {
                    pool: parse_pool(&name)?,
                    used: parse_used(row.get(1)?)?,
                });
            }
            Ok(pools)
        })
        .await
    }

    /// Deletes records whose retention has ended, what DynamoDB's TTL does
    /// for the other adapter: completed delivery records past
    /// `retain_until`, in-progress ones whose lease ended more than
    /// [`IN_PROGRESS_PURGE_GRACE_MS`] before `now`, failed sign-ups past
    /// their `retain_until`, and closed sign-up requests past their
    /// `retain_until` (with the applicant's personal data). Audit events are
    /// never deleted. Returns how many records (of all kinds) were deleted.
    /// Call it now and then (the local server does, hourly) to keep the
    /// file small and personal data no longer than promised.
    pub async fn purge_expired(&self, now: UnixMillis) -> Result<usize, LedgerError> {
        self.run("purge_expired", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
            tx.commit()?;
            Ok(deliveries + failures + requests)
        })
        .await
    }

    /// Runs `work` on the connection on tokio's blocking pool. Dropping the
    /// returned future does not stop `work`: like a request already sent to
    /// DynamoDB, it commits or rolls back on its own.
    async fn run<T, F>(&self, op: &'static str, work: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Fail> + Send + 'static,
    {
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

/// Sets the connection up and brings the schema to [`SCHEMA_VERSION`].
fn prepare(mut conn: Connection, busy_timeout: Duration, file: bool) -> Result<Connection, Fail> {
    conn.busy_timeout(busy_timeout)?;
    // Why check before anything else: switching to WAL rewrites the file
    // header, and a file that is not ours must be left as it was.
    check_ours(&conn)?;
    if file {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Still durable with synchronous=FULL, only slower; some file
            // systems (network mounts) cannot share WAL memory.
            tracing::warn!(mode, "SQLite refused the WAL journal; using {mode}");
        }
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Checks the file is ours and applies the missing migrations, in one write
/// transaction so two processes opening a new file cannot both create it.
fn migrate(conn: &mut Connection) -> Result<(), Fail> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version = check_ours(&tx)?;
    let from = usize::try_from(version).map_err(|_| corrupt("negative schema version"))?;
    if from < MIGRATIONS.len() {
        for migration in MIGRATIONS.iter().skip(from) {
            tx.execute_batch(migration)?;
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}

/// Reads the file's marks without writing: refuses a file of another
/// application or of a newer schema, else returns its schema version (0 for
/// a new, empty file).
fn check_ours(conn: &Connection) -> Result<i64, Fail> {
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let foreign_tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_schema \
         WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
           AND name NOT IN ('pools', 'claims', 'deliveries', 'failures', 'requests', \
                            'audit')",
        [],
        |row| row.get(0),
    )?;
    let ours = app_id == APPLICATION_ID || (app_id == 0 && version == 0);
    if !ours || foreign_tables > 0 {
        return Err(corrupt(
            "the file is an SQLite database of another application",
        ));
    }
    if version > SCHEMA_VERSION {
        return Err(corrupt(format!(
            "the ledger file has schema version {version}, newer than version \
             {SCHEMA_VERSION} this build understands; use a newer agol-seat-broker"
        )));
    }
    Ok(version)
}

/// What an operation can fail with before it is named: an SQLite error or a
/// ledger error already decided.
enum Fail {
    Sql(rusqlite::Error),
    Ledger(LedgerError),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<LedgerError> for Fail {
    fn from(e: LedgerError) -> Self {
        Fail::Ledger(e)
    }
}

impl Fail {
    fn into_ledger(self, op: &str) -> LedgerError {
        match self {
            Fail::Sql(e) => sql_error(op, &e),
            Fail::Ledger(e) => e,
        }
    }
}

fn corrupt(what: impl Into<String>) -> Fail {
    Fail::Ledger(LedgerError::Corrupt(what.into()))
}

/// Maps an SQLite error to a short [`LedgerError`]: a busy or failing store is
/// `Unavailable` (retry later), data that breaks the schema is `Corrupt`.
/// Never includes SQLite's own message, which may quote SQL.
fn sql_error(op: &str, err: &rusqlite::Error) -> LedgerError {
    use rusqlite::Error as E;
    let unavailable = |what: &str| LedgerError::Unavailable(format!("{op}: {what}"));
    let corrupt = |what: &str| LedgerError::Corrupt(format!("{op}: {what}"));
    match err {
        E::SqliteFailure(e, _) => match e.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                unavailable("the ledger file is locked by another writer")
            }
            ErrorCode::NotADatabase => corrupt("the file is not an SQLite database"),
            ErrorCode::DatabaseCorrupt => corrupt("the database file is malformed"),
            ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch => {
                corrupt("stored data breaks the ledger's constraints")
            }
            ErrorCode::DiskFull => unavailable("the disk is full"),
            ErrorCode::SystemIoFailure => unavailable("disk I/O error"),
            ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly => {
                unavailable("cannot open or write the ledger file")
            }
            other => unavailable(&format!("SQLite error {other:?}")),
        },
        E::FromSqlConversionFailure(..)
        | E::InvalidColumnType(..)
        | E::IntegralValueOutOfRange(..) => corrupt("a stored value has an unexpected type"),
        E::InvalidPath(_) | E::NulError(_) => unavailable("the ledger path is not usable"),
        _ => unavailable("SQLite call failed"),
    }
}

fn parse_pool(name: &str) -> Result<PoolId, Fail> {
    PoolId::parse(name).map_err(|_| corrupt("a stored pool name is not valid"))
}

fn parse_used(used: i64) -> Result<u32, Fail> {
    u32::try_from(used).map_err(|_| corrupt("a pool counter is out of range"))
}

/// A claim from a row of [`SELECT_CLAIM`]'s columns.
fn claim_from_row(row: &Row<'_>) -> Result<Claim, Fail> {
    let pool: String = row.get(0)?;
    let state: String = row.get(3)?;
    Ok(Claim {
        key: ClaimKey {
            pool: parse_pool(&pool)?,
            person: row.get(1)?,
        },
        claim_id: row.get(2)?,
        state: ClaimState::parse(&state).ok_or_else(|| corrupt("a claim has an unknown state"))?,
        username: row.get(4)?,
        delivery: row.get(5)?,
        reserved_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

/// A failed sign-up from a row of [`SELECT_FAILURES`]'s columns.
fn failure_from_row(row: &Row<'_>) -> Result<FailedSignup, Fail> {
    let pool: String = row.get(0)?;
    Ok(FailedSignup {
        key: ClaimKey {
            pool: parse_pool(&pool)?,
            person: row.get(1)?,
        },
        delivery: row.get(2)?,
        username: row.get(3)?,
        code: row.get(4)?,
        message: row.get(5)?,
        at: row.get(6)?,
    })
}

/// A sign-up request from a row of [`REQUEST_COLUMNS`].
fn request_from_row(row: &Row<'_>) -> Result<SignupRecord, Fail> {
    let pool: String = row.get(1)?;
    let state: String = row.get(5)?;
    Ok(SignupRecord {
        id: row.get(0)?,
        key: ClaimKey {
            pool: parse_pool(&pool)?,
            person: row.get(2)?,
        },
        delivery: row.get(3)?,
        payload: row.get(4)?,
        state: RequestState::parse(&state)
            .ok_or_else(|| corrupt("a sign-up request has an unknown state"))?,
        claim_id: row.get(6)?,
        created_at: row.get(7)?,
        expires_at: row.get(8)?,
        decided_at: row.get(9)?,
        decided_by: row.get(10)?,
        reason: row.get(11)?,
        retain_until: row.get(12)?,
    })
}

fn read_request(conn: &Connection, id: &str) -> Result<Option<SignupRecord>, Fail> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?1"
    ))?;
    let mut rows = stmt.query(params![id])?;
    match rows.next()? {
        Some(row) => Ok(Some(request_from_row(row)?)),
        None => Ok(None),
    }
}

/// The open (PENDING/WAITLISTED) request of a pool + person, if any.
fn read_open_request(conn: &Connection, key: &ClaimKey) -> Result<Option<SignupRecord>, Fail> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REQUEST_COLUMNS} FROM requests \
         WHERE pool = ?1 AND person = ?2 AND state IN ('PENDING', 'WAITLISTED')"
    ))?;
    let mut rows = stmt.query(params![key.pool.as_str(), key.person])?;
    match rows.next()? {
        Some(row) => Ok(Some(request_from_row(row)?)),
        None => Ok(None),
    }
}

/// An audit event from a row of `at, actor, action, pool, person, detail`.
fn audit_from_row(row: &Row<'_>) -> Result<AuditEvent, Fail> {
    Ok(AuditEvent {
        at: row.get(0)?,
        actor: row.get(1)?,
        action: row.get(2)?,
        pool: row.get(3)?,
        person: row.get(4)?,
        detail: row.get(5)?,
    })
}

fn read_claim(conn: &Connection, key: &ClaimKey) -> Result<Option<Claim>, Fail> {
    let mut stmt = conn.prepare_cached(SELECT_CLAIM)?;
    let mut rows = stmt.query(params![key.pool.as_str(), key.person])?;
    match rows.next()? {
        Some(row) => Ok(Some(claim_from_row(row)?)),
        None => Ok(None),
    }
}

fn read_used(conn: &Connection, pool: &PoolId) -> Result<u32, Fail> {
    let used: Option<i64> = conn
        .prepare_cached("SELECT used FROM pools WHERE pool = ?1")?
        .query_row(params![pool.as_str()], |row| row.get(0))
        .optional()?;
    used.map_or(Ok(0), parse_used)
}

/// A stored delivery record.
struct DeliveryRecord {
    payload_hash: String,
    status: DeliveryStatus,
}

enum DeliveryStatus {
    /// A handler holds the lease until `lease_until` (inclusive).
    InProgress { lease_until: UnixMillis },
    /// Handled; `outcome` is answered again until `retain_until` (inclusive).
    Complete {
        outcome: String,
        retain_until: UnixMillis,
    },
}

fn read_delivery(conn: &Connection, key: &DeliveryKey) -> Result<Option<DeliveryRecord>, Fail> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, payload_hash, lease_until, outcome, retain_until \
         FROM deliveries WHERE source = ?1 AND id = ?2",
    )?;
    let mut rows = stmt.query(params![key.source, key.id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let status: String = row.get(0)?;
    let lease_until: Option<UnixMillis> = row.get(2)?;
    let outcome: Option<String> = row.get(3)?;
    let retain_until: Option<UnixMillis> = row.get(4)?;
    let status = match (status.as_str(), lease_until, outcome, retain_until) {
        (IN_PROGRESS, Some(lease_until), _, _) => DeliveryStatus::InProgress { lease_until },
        (COMPLETE, _, Some(outcome), Some(retain_until)) => DeliveryStatus::Complete {
            outcome,
            retain_until,
        },
        _ => {
            return Err(corrupt(
                "a delivery record has an unknown or partial status",
            ));
        }
    };
    Ok(Some(DeliveryRecord {
        payload_hash: row.get(1)?,
        status,
    }))
}

/// Why a stored delivery refuses a new lease, or `None` when the lease may be
/// taken (the same rules as the memory and DynamoDB adapters).
fn refusal(record: &DeliveryRecord, payload_hash: &str, now: UnixMillis) -> Option<DeliveryBegin> {
    let same_payload = record.payload_hash == payload_hash;
    match &record.status {
        DeliveryStatus::InProgress { .. } if !same_payload => Some(DeliveryBegin::PayloadMismatch),
        // Why: a live lease means another attempt is working on it; an
        // expired one means that attempt died, and the same payload may take
        // over.
        DeliveryStatus::InProgress { lease_until } if *lease_until >= now => {
            Some(DeliveryBegin::InProgress)
        }
        DeliveryStatus::InProgress { .. } => None,
        // Past retention the key is forgotten, whatever the payload.
        DeliveryStatus::Complete { retain_until, .. } if *retain_until < now => None,
        DeliveryStatus::Complete { .. } if !same_payload => Some(DeliveryBegin::PayloadMismatch),
        DeliveryStatus::Complete { outcome, .. } => Some(DeliveryBegin::Completed(outcome.clone())),
    }
}

impl SeatLedger for SqliteLedger {
    async fn reserve(&self, req: ReserveRequest<'_>) -> Result<Reservation, LedgerError> {
        let key = req.key.clone();
        let capacity = req.capacity;
        let delivery = req.delivery.to_string();
        let claim_id = req.claim_id.to_string();
        let username = req.username.to_string();
        let now = req.now;
        self.run("reserve", move |conn| {
            // Why IMMEDIATE: the write lock is taken before the reads, so the
            // checks below cannot be invalidated by another writer before our
            // insert (a DEFERRED transaction would fail to upgrade instead).
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Why this order: an existing claim wins over a full pool, as in
            // the other adapters, so a retried sign-up learns it has a seat.
            if let Some(existing) = read_claim(&tx, &key)? {
                return Ok(Reservation::AlreadyHeld(existing));
            }
            let used = read_used(&tx, &key.pool)?;
            if used >= capacity {
                return Ok(Reservation::PoolFull { used });
            }
            tx.prepare_cached(
                "INSERT INTO pools (pool, used) VALUES (?1, 1) \
                 ON CONFLICT (pool) DO UPDATE SET used = used + 1",
            )?
            .execute(params![key.pool.as_str()])?;
            let claim = Claim {
                key,
                claim_id,
                state: ClaimState::Reserved,
                username: Some(username),
                delivery,
                reserved_at: now,
                updated_at: now,
            };
            tx.prepare_cached(
                "INSERT INTO claims (pool, person, claim_id, state, username, delivery, \
                 reserved_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?
            .execute(params![
                claim.key.pool.as_str(),
                claim.key.person,
                claim.claim_id,
                claim.state.as_str(),
                claim.username,
                claim.delivery,
                now,
            ])?;
            tx.commit()?;
            Ok(Reservation::Reserved(claim))
        })
        .await
    }

    async fn confirm(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        username: &str,
        now: UnixMillis,
    ) -> Result<Claim, LedgerError> {
        let key = key.clone();
        let claim_id = claim_id.to_string();
        let username = username.to_string();
        self.run("confirm", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Why match the claim id: only the reservation that made the
            // claim may confirm it, never a claim made again since.
            let changed = tx
                .prepare_cached(
                    "UPDATE claims SET state = ?4, username = ?5, updated_at = ?6 \
                     WHERE pool = ?1 AND person = ?2 AND claim_id = ?3",
                )?
                .execute(params![
                    key.pool.as_str(),
                    key.person,
                    claim_id,
                    ClaimState::Active.as_str(),
                    username,
                    now,
                ])?;
            if changed == 0 {
                return Err(Fail::Ledger(LedgerError::ClaimNotFound));
            }
            let claim = read_claim(&tx, &key)?.ok_or(LedgerError::ClaimNotFound)?;
            tx.commit()?;
            Ok(claim)
        })
        .await
    }

    async fn release(&self, key: &ClaimKey, claim_id: &str) -> Result<bool, LedgerError> {
        let key = key.clone();
        let claim_id = claim_id.to_string();
        self.run("release", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Why compare ids: a late compensation must not free a claim made
            // again, under a new id, after its own was released.
            let deleted = tx
                .prepare_cached(
                    "DELETE FROM claims WHERE pool = ?1 AND person = ?2 AND claim_id = ?3",
                )?
                .execute(params![key.pool.as_str(), key.person, claim_id])?;
            if deleted == 0 {
                return Ok(false);
            }
            let lowered = tx
                .prepare_cached("UPDATE pools SET used = used - 1 WHERE pool = ?1 AND used > 0")?
                .execute(params![key.pool.as_str()])?;
            if lowered == 0 {
                // Dropping `tx` rolls the delete back.
                return Err(corrupt("pool counter is zero while a claim exists"));
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn rekey(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        new_person: &str,
        now: UnixMillis,
    ) -> Result<Rekey, LedgerError> {
        let key = key.clone();
        let claim_id = claim_id.to_string();
        let new_key = ClaimKey {
            pool: key.pool.clone(),
            person: new_person.to_string(),
        };
        self.run("rekey", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match read_claim(&tx, &key)? {
                Some(c) if c.claim_id == claim_id => {
                    if key.person == new_key.person {
                        return Ok(Rekey::Moved(c));
                    }
                }
                _ => return Ok(Rekey::NotFound),
            }
            if let Some(other) = read_claim(&tx, &new_key)? {
                return Ok(Rekey::Taken(other));
            }
            tx.prepare_cached(
                "UPDATE claims SET person = ?1, updated_at = ?2 \
                 WHERE pool = ?3 AND person = ?4 AND claim_id = ?5",
            )?
            .execute(params![
                new_key.person,
                now,
                key.pool.as_str(),
                key.person,
                claim_id
            ])?;
            let moved = read_claim(&tx, &new_key)?
                .ok_or_else(|| corrupt("a re-keyed claim cannot be read back"))?;
            tx.commit()?;
            Ok(Rekey::Moved(moved))
        })
        .await
    }

    async fn claim(&self, key: &ClaimKey) -> Result<Option<Claim>, LedgerError> {
        let key = key.clone();
        self.run("claim", move |conn| read_claim(conn, &key)).await
    }

    /// Every claim of the pool, oldest reservation first (ties by person).
    async fn claims(&self, pool: &PoolId) -> Result<Vec<Claim>, LedgerError> {
        let pool = pool.clone();
        self.run("claims", move |conn| {
            let mut stmt = conn.prepare_cached(SELECT_CLAIMS)?;
            let mut rows = stmt.query(params![pool.as_str()])?;
            let mut claims = Vec::new();
            while let Some(row) = rows.next()? {
                claims.push(claim_from_row(row)?);
            }
            Ok(claims)
        })
        .await
    }

    async fn usage(&self, pool: &PoolId) -> Result<PoolUsage, LedgerError> {
        let pool = pool.clone();
        self.run("usage", move |conn| {
            let used = read_used(conn, &pool)?;
            Ok(PoolUsage { pool, used })
        })
        .await
    }

    async fn begin_delivery(
        &self,
        key: &DeliveryKey,
        payload_hash: &str,
        now: UnixMillis,
        lease_ms: i64,
    ) -> Result<DeliveryBegin, LedgerError> {
        let key = key.clone();
        let payload_hash = payload_hash.to_string();
        self.run("begin_delivery", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(record) = read_delivery(&tx, &key)?
                && let Some(answer) = refusal(&record, &payload_hash, now)
            {
                return Ok(answer);
            }
            tx.prepare_cached(
                "INSERT INTO deliveries (source, id, status, payload_hash, lease_until, \
                 outcome, retain_until, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6) \
                 ON CONFLICT (source, id) DO UPDATE SET status = excluded.status, \
                 payload_hash = excluded.payload_hash, lease_until = excluded.lease_until, \
                 outcome = NULL, retain_until = NULL, updated_at = excluded.updated_at",
            )?
            .execute(params![
                key.source,
                key.id,
                IN_PROGRESS,
                payload_hash,
                now.saturating_add(lease_ms),
                now,
            ])?;
            tx.commit()?;
            Ok(DeliveryBegin::Started)
        })
        .await
    }

    async fn finish_delivery(
        &self,
        key: &DeliveryKey,
        outcome_json: &str,
        now: UnixMillis,
        retain_until: UnixMillis,
    ) -> Result<(), LedgerError> {
        let key = key.clone();
        let outcome = outcome_json.to_string();
        self.run("finish_delivery", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Why only an existing record: without it there is no payload
            // hash to keep; a redelivery simply runs again (the workflow is
            // idempotent per claim). The other adapters do the same.
            let changed = tx
                .prepare_cached(
                    "UPDATE deliveries SET status = ?3, outcome = ?4, retain_until = ?5, \
                     lease_until = NULL, updated_at = ?6 WHERE source = ?1 AND id = ?2",
                )?
                .execute(params![
                    key.source,
                    key.id,
                    COMPLETE,
                    outcome,
                    retain_until,
                    now
                ])?;
            tx.commit()?;
            if changed == 0 {
                tracing::warn!(
                    source = %key.source,
                    "delivery record vanished before its outcome was stored"
                );
            }
            Ok(())
        })
        .await
    }

    async fn abandon_delivery(&self, key: &DeliveryKey) -> Result<(), LedgerError> {
        let key = key.clone();
        self.run("abandon_delivery", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Why only in progress: abandoning must never erase an outcome.
            tx.prepare_cached(
                "DELETE FROM deliveries WHERE source = ?1 AND id = ?2 AND status = ?3",
            )?
            .execute(params![key.source, key.id, IN_PROGRESS])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn touch(
        &self,
        key: &ClaimKey,
        claim_id: &str,
        now: UnixMillis,
    ) -> Result<bool, LedgerError> {
        let key = key.clone();
        let claim_id = claim_id.to_string();
        self.run("touch", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Why match id and state: only the worker holding this very
            // reservation keeps it alive; an ACTIVE claim is settled.
            let changed = tx
                .prepare_cached(
                    "UPDATE claims SET updated_at = ?4 \
                     WHERE pool = ?1 AND person = ?2 AND claim_id = ?3 AND state = ?5",
                )?
                .execute(params![
                    key.pool.as_str(),
                    key.person,
                    claim_id,
                    now,
                    ClaimState::Reserved.as_str(),
                ])?;
            tx.commit()?;
            Ok(changed > 0)
        })
        .await
    }

    async fn record_failure(
        &self,
        failure: &FailedSignup,
        retain_until: UnixMillis,
    ) -> Result<(), LedgerError> {
        let failure = failure.clone();
        self.run("record_failure", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO failures (pool, person, delivery, username, code, message, at, \
                 retain_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (pool, person) DO UPDATE SET delivery = excluded.delivery, \
                 username = excluded.username, code = excluded.code, \
                 message = excluded.message, at = excluded.at, \
                 retain_until = excluded.retain_until",
            )?
            .execute(params![
                failure.key.pool.as_str(),
                failure.key.person,
                failure.delivery,
                failure.username,
                failure.code,
                failure.message,
                failure.at,
                retain_until,
            ])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn failures(
        &self,
        pool: &PoolId,
        now: UnixMillis,
    ) -> Result<Vec<FailedSignup>, LedgerError> {
        let pool = pool.clone();
        self.run("failures", move |conn| {
            let mut stmt = conn.prepare_cached(SELECT_FAILURES)?;
            let mut rows = stmt.query(params![pool.as_str(), now])?;
            let mut failures = Vec::new();
            while let Some(row) = rows.next()? {
                failures.push(failure_from_row(row)?);
            }
            Ok(failures)
        })
        .await
    }

    async fn create_request(&self, r: &SignupRecord) -> Result<Option<SignupRecord>, LedgerError> {
        let r = r.clone();
        self.run("create_request", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Why this order: an open request wins over an id clash, as in
            // the other adapters, so a retried create learns it exists.
            if r.state.is_open()
                && let Some(existing) = read_open_request(&tx, &r.key)?
            {
                return Ok(Some(existing));
            }
            if read_request(&tx, &r.id)?.is_some() {
                return Err(Fail::Ledger(super::request_id_taken()));
            }
            tx.prepare_cached(&format!(
                "INSERT INTO requests ({REQUEST_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ))?
            .execute(params![
                r.id,
                r.key.pool.as_str(),
                r.key.person,
                r.delivery,
                r.payload,
                r.state.as_str(),
                r.claim_id,
                r.created_at,
                r.expires_at,
                r.decided_at,
                r.decided_by,
                r.reason,
                r.retain_until,
            ])?;
            tx.commit()?;
            Ok(None)
        })
        .await
    }

    async fn request(&self, id: &str) -> Result<Option<SignupRecord>, LedgerError> {
        let id = id.to_string();
        self.run("request", move |conn| read_request(conn, &id))
            .await
    }

    async fn requests(
        &self,
        pool: &PoolId,
        state: RequestState,
    ) -> Result<Vec<SignupRecord>, LedgerError> {
        let pool = pool.clone();
        self.run("requests", move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {REQUEST_COLUMNS} FROM requests WHERE pool = ?1 AND state = ?2 \
                 ORDER BY created_at, id"
            ))?;
            let mut rows = stmt.query(params![pool.as_str(), state.as_str()])?;
            let mut requests = Vec::new();
            while let Some(row) = rows.next()? {
                requests.push(request_from_row(row)?);
            }
            Ok(requests)
        })
        .await
    }

    async fn transition_request(
        &self,
        id: &str,
        from: RequestState,
        to: RequestState,
        change: &RequestChange,
    ) -> Result<Option<SignupRecord>, LedgerError> {
        let id = id.to_string();
        let change = change.clone();
        self.run("transition_request", move |conn| {
            // Why IMMEDIATE: the state read below stays true until our update
            // commits, so of concurrent moves out of `from` exactly one wins.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(current) = read_request(&tx, &id)?.filter(|r| r.state == from) else {
                return Ok(None);
            };
            // Why check: reopening a closed request must not give the person
            // a second open one (the partial unique index would refuse it as
            // a constraint violation; this answers like the other adapters).
            if !from.is_open() && to.is_open() && read_open_request(&tx, &current.key)?.is_some() {
                return Ok(None);
            }
            let updated = change.apply(&current, to);
            tx.prepare_cached(
                "UPDATE requests SET state = ?3, claim_id = ?4, decided_at = ?5, \
                 decided_by = ?6, reason = ?7, retain_until = ?8 WHERE id = ?1 AND state = ?2",
            )?
            .execute(params![
                id,
                from.as_str(),
                updated.state.as_str(),
                updated.claim_id,
                updated.decided_at,
                updated.decided_by,
                updated.reason,
                updated.retain_until,
            ])?;
            tx.commit()?;
            Ok(Some(updated))
        })
        .await
    }

    async fn audit(&self, e: &AuditEvent) -> Result<(), LedgerError> {
        let e = e.clone();
        self.run("audit", move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO audit (at, actor, action, pool, person, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![e.at, e.actor, e.action, e.pool, e.person, e.detail])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn audit_since(
        &self,
        since: UnixMillis,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, LedgerError> {
        // Why saturate: SQLite's LIMIT is a signed 64-bit number.
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run("audit_since", move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT at, actor, action, pool, person, detail FROM audit \
                 WHERE at >= ?1 ORDER BY at, id LIMIT ?2",
            )?;
            let mut rows = stmt.query(params![since, limit])?;
            let mut events = Vec::new();
            while let Some(row) = rows.next()? {
                events.push(audit_from_row(row)?);
            }
            Ok(events)
        })
        .await
    }
}

#[cfg(test)]
mod tests;

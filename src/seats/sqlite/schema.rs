//! The SQLite ledger's schema: the migrations from one version to the
//! next, and the checks that a file is ours before anything is written to
//! it. The layout itself is described in the adapter's module docs.
//!
//! Migrations are only ever appended; this file must not read or write
//! ledger rows.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::errors::{TxError, corrupt};

/// The schema version this build writes and understands (`PRAGMA
/// user_version`). A file with a higher version is refused.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `PRAGMA application_id` of a ledger file ("AGSB"), so a foreign SQLite
/// file is recognised and left alone.
pub const APPLICATION_ID: i32 = 0x4147_5342;

/// Schema migrations; entry `n` takes a file from version `n` to `n + 1`.
/// Only ever append.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // Version 5: why a RESERVED claim holds its seat. NULL for ACTIVE claims
    // and for claims reserved before this version (read as in flight).
    "ALTER TABLE claims ADD COLUMN hold TEXT
         CHECK (hold IS NULL OR hold IN ('IN_FLIGHT', 'APPROVAL', 'QUEUED', 'UNKNOWN'));",
    // Version 6: which attempt (one run of a delivery) holds a delivery's
    // lease. NULL on records written before this version: no attempt holds
    // them, and their leases expire as before.
    "ALTER TABLE deliveries ADD COLUMN attempt TEXT;",
    // Version 7: the administrator's sign-in attempts per window, per
    // address and in all (the row whose address is ''). No reference to
    // anything: attempts take no seat.
    "CREATE TABLE IF NOT EXISTS sign_ins (
         window_start INTEGER NOT NULL,
         address TEXT NOT NULL,
         attempts INTEGER NOT NULL CHECK (attempts >= 0),
         until INTEGER NOT NULL,
         PRIMARY KEY (window_start, address)
     ) STRICT;
     CREATE INDEX IF NOT EXISTS sign_ins_by_end ON sign_ins (until);",
    // Version 8: the seat's life after sign-up. NULL on claims stored
    // before: an ACTIVE one reads its activation from `updated_at`.
    "ALTER TABLE claims ADD COLUMN activated_at INTEGER;
     ALTER TABLE claims ADD COLUMN extended_until INTEGER;
     ALTER TABLE claims ADD COLUMN warned_at INTEGER;",
    // Version 9: the usage alert level each subject (`pool:<name>`,
    // `usertype:<id>`, `reconciliation`) was last alerted at; NULL once it
    // fell back under every threshold. No reference to anything: levels
    // take no seat.
    "CREATE TABLE IF NOT EXISTS alert_levels (
         subject TEXT NOT NULL PRIMARY KEY,
         level INTEGER CHECK (level IS NULL OR level BETWEEN 0 AND 255),
         updated_at INTEGER NOT NULL
     ) STRICT;",
];

/// Sets the connection up and brings the schema to [`SCHEMA_VERSION`].
pub(super) fn prepare(
    mut conn: Connection,
    busy_timeout: Duration,
    file: bool,
) -> Result<Connection, TxError> {
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
fn migrate(conn: &mut Connection) -> Result<(), TxError> {
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
fn check_ours(conn: &Connection) -> Result<i64, TxError> {
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let foreign_tables: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_schema \
         WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
           AND name NOT IN ('pools', 'claims', 'deliveries', 'failures', 'requests', \
                            'audit', 'sign_ins', 'alert_levels')",
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

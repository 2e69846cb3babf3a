//! Unit tests of what the contract suite cannot see: opening and schema
//! checks, error mapping, poisoned-lock recovery, the status helpers and the
//! purge. Each file-backed test uses its own directory under the system temp
//! directory and removes it when it passed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::domain::{ClaimKey, DeliveryKey, PoolId, RequestState};
use crate::seats::{
    AuditEvent, AuditLog, ClaimStore, DeliveryBegin, DeliveryStore, FailedSignup, FailureLog,
    LeaseHolder, RequestChange, RequestStore, Reservation, ReserveRequest, SignupRecord,
};
use errors::sql_error;
use rows::claim_from_row;
use schema::MIGRATIONS;

const T0: UnixMillis = 4_102_444_800_000;

/// A fresh directory path (not created) unique to this test run.
fn scratch(test: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "agol-sqlite-unit-{}-{}-{test}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn cleanup(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

fn key(pool: &str, person: &str) -> ClaimKey {
    ClaimKey {
        pool: PoolId::parse(pool).unwrap(),
        person: person.into(),
    }
}

fn delivery(id: &str) -> DeliveryKey {
    DeliveryKey {
        source: "standard".into(),
        id: id.into(),
    }
}

async fn reserve(ledger: &SqliteLedger, k: &ClaimKey, claim_id: &str, now: UnixMillis) {
    let answer = ledger
        .reserve(ReserveRequest {
            key: k,
            capacity: 100,
            delivery: "standard:d",
            claim_id,
            username: "intended_user",
            now,
            hold: crate::seats::Hold::InFlight,
        })
        .await
        .unwrap();
    assert!(matches!(answer, Reservation::Reserved(_)), "{answer:?}");
}

fn pragma_i64(conn: &Connection, name: &str) -> i64 {
    conn.pragma_query_value(None, name, |row| row.get(0))
        .unwrap()
}

#[tokio::test]
async fn opening_a_new_path_creates_its_directory_a_private_file_and_the_current_schema() {
    let dir = scratch("create");
    let path = dir.join("nested").join("ledger.db");

    let ledger = SqliteLedger::open(&path).unwrap();

    assert_eq!(ledger.path(), Some(path.as_path()));
    assert!(path.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    {
        let conn = lock(&ledger.conn);
        assert_eq!(pragma_i64(&conn, "user_version"), SCHEMA_VERSION);
        assert_eq!(
            pragma_i64(&conn, "application_id"),
            i64::from(APPLICATION_ID)
        );
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        // 2 = FULL.
        assert_eq!(pragma_i64(&conn, "synchronous"), 2);
        assert_eq!(pragma_i64(&conn, "foreign_keys"), 1);
    }
    drop(ledger);
    cleanup(&dir);
}

#[tokio::test]
async fn reopening_an_existing_ledger_keeps_its_data_and_schema_version() {
    let dir = scratch("reopen");
    let path = dir.join("ledger.db");
    let k = key("acme", "ana@example.org");
    let ledger = SqliteLedger::open(&path).unwrap();
    reserve(&ledger, &k, "c-1", T0).await;
    drop(ledger);

    let reopened = SqliteLedger::open(&path).unwrap();

    assert_eq!(reopened.claim(&k).await.unwrap().unwrap().claim_id, "c-1");
    assert_eq!(
        pragma_i64(&lock(&reopened.conn), "user_version"),
        SCHEMA_VERSION
    );
    drop(reopened);
    cleanup(&dir);
}

fn failure(pool: &str, person: &str, at: UnixMillis) -> FailedSignup {
    FailedSignup {
        key: key(pool, person),
        delivery: "okta:e-1".into(),
        username: Some("intended_user".into()),
        code: "portal_unavailable".into(),
        message: "the portal did not answer".into(),
        at,
    }
}

#[tokio::test]
async fn a_version_1_file_without_the_failures_table_is_upgraded_in_place_and_keeps_its_data() {
    let dir = scratch("upgrade");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.db");
    // A file as the version-1 build left it: its schema, its marks, a claim.
    let raw = Connection::open(&path).unwrap();
    raw.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        .unwrap();
    raw.execute_batch(MIGRATIONS[0]).unwrap();
    raw.pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    raw.pragma_update(None, "user_version", 1).unwrap();
    raw.execute_batch(
        "INSERT INTO pools (pool, used) VALUES ('acme', 1);
         INSERT INTO claims VALUES ('acme', 'ana@example.org', 'c-1', 'RESERVED',
             'intended_user', 'standard:d', 7, 7);",
    )
    .unwrap();
    let failures_tables: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'failures'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(failures_tables, 0);
    drop(raw);

    let ledger = SqliteLedger::open(&path).unwrap();

    assert_eq!(
        pragma_i64(&lock(&ledger.conn), "user_version"),
        SCHEMA_VERSION
    );
    let k = key("acme", "ana@example.org");
    let claim = ledger.claim(&k).await.unwrap().unwrap();
    assert_eq!((claim.claim_id.as_str(), claim.updated_at), ("c-1", 7));
    assert_eq!(ledger.usage(&k.pool).await.unwrap().used, 1);
    assert!(ledger.touch(&k, "c-1", T0).await.unwrap());
    let f = failure("acme", "bob@example.org", T0);
    ledger.record_failure(&f, T0 + 1_000).await.unwrap();
    assert_eq!(ledger.failures(&k.pool, T0).await.unwrap(), vec![f.clone()]);
    reserve(&ledger, &key("acme", "bob@example.org"), "c-2", T0).await;
    assert_eq!(ledger.usage(&k.pool).await.unwrap().used, 2);
    drop(ledger);

    // Opened again, the upgraded file is taken as it is.
    let reopened = SqliteLedger::open(&path).unwrap();
    assert_eq!(reopened.failures(&k.pool, T0).await.unwrap(), vec![f]);
    assert_eq!(
        reopened.claim(&k).await.unwrap().map(|c| c.updated_at),
        Some(T0)
    );
    drop(reopened);
    cleanup(&dir);
}

#[tokio::test]
async fn a_version_2_file_gains_the_request_and_audit_tables_in_place_and_keeps_its_data() {
    let dir = scratch("upgrade2");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.db");
    // A file as the version-2 build left it: its schema, its marks, a claim
    // and a failure.
    let raw = Connection::open(&path).unwrap();
    raw.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        .unwrap();
    raw.execute_batch(MIGRATIONS[0]).unwrap();
    raw.execute_batch(MIGRATIONS[1]).unwrap();
    raw.pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    raw.pragma_update(None, "user_version", 2).unwrap();
    raw.execute_batch(
        "INSERT INTO pools (pool, used) VALUES ('acme', 1);
         INSERT INTO claims VALUES ('acme', 'ana@example.org', 'c-1', 'ACTIVE',
             'ana_acme', 'standard:d', 7, 8);
         INSERT INTO failures VALUES ('acme', 'bob@example.org', 'okta:e-1', NULL,
             'portal_refused', 'refused', 9, 4102444800000);",
    )
    .unwrap();
    drop(raw);

    let ledger = SqliteLedger::open(&path).unwrap();

    assert_eq!(
        pragma_i64(&lock(&ledger.conn), "user_version"),
        SCHEMA_VERSION
    );
    assert_eq!(SCHEMA_VERSION, 9);
    let k = key("acme", "ana@example.org");
    let claim = ledger.claim(&k).await.unwrap().unwrap();
    assert_eq!((claim.claim_id.as_str(), claim.updated_at), ("c-1", 8));
    // Activated before activations were recorded: its last change is.
    assert_eq!((claim.activated_at, claim.activated_at()), (None, Some(8)));
    assert_eq!(ledger.usage(&k.pool).await.unwrap().used, 1);
    assert_eq!(ledger.failures(&k.pool, 10).await.unwrap().len(), 1);
    let request = SignupRecord {
        id: "r1".into(),
        key: key("acme", "cy@example.org"),
        delivery: "typeform:t-1".into(),
        payload: "{}".into(),
        state: RequestState::Waitlisted,
        claim_id: None,
        created_at: T0,
        expires_at: T0 + 1_000,
        decided_at: None,
        decided_by: None,
        reason: None,
        retain_until: None,
    };
    assert_eq!(ledger.create_request(&request).await.unwrap(), None);
    let event = AuditEvent {
        at: T0,
        actor: "system".into(),
        action: "request.created".into(),
        pool: Some("acme".into()),
        person: Some("cy@example.org".into()),
        detail: String::new(),
    };
    ledger.audit(&event).await.unwrap();
    drop(ledger);

    // Opened again (AUTOINCREMENT added SQLite's own `sqlite_sequence`
    // table), the upgraded file is taken as it is.
    let reopened = SqliteLedger::open(&path).unwrap();
    assert_eq!(
        reopened
            .requests(&k.pool, RequestState::Waitlisted)
            .await
            .unwrap(),
        vec![request]
    );
    assert_eq!(reopened.audit_since(0, 10).await.unwrap(), vec![event]);
    drop(reopened);
    cleanup(&dir);
}

/// A request of `person` in pool `acme`, in `state`, made at `T0`.
fn signup(id: &str, person: &str, state: RequestState) -> SignupRecord {
    SignupRecord {
        id: id.into(),
        key: key("acme", person),
        delivery: format!("okta:e-{id}"),
        payload: r#"{"name":"Zoë"}"#.into(),
        state,
        claim_id: None,
        created_at: T0,
        expires_at: T0 + 1_000,
        decided_at: None,
        decided_by: None,
        reason: None,
        retain_until: None,
    }
}

/// A decision at `at` keeping the request until `retain_until`.
fn decided(at: UnixMillis, retain_until: UnixMillis) -> RequestChange {
    RequestChange {
        at,
        by: Some("admin:root".into()),
        reason: None,
        claim_id: None,
        retain_until: Some(retain_until),
    }
}

#[tokio::test]
async fn a_version_3_file_gains_the_request_retention_in_place_and_keeps_its_requests() {
    let dir = scratch("upgrade3");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.db");
    // A file as the version-3 build left it: an open and a closed request.
    let raw = Connection::open(&path).unwrap();
    raw.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        .unwrap();
    for migration in &MIGRATIONS[..3] {
        raw.execute_batch(migration).unwrap();
    }
    raw.pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    raw.pragma_update(None, "user_version", 3).unwrap();
    raw.execute_batch(
        "INSERT INTO requests VALUES ('open', 'acme', 'ana@example.org', 'okta:e-open',
             '{}', 'PENDING', NULL, 4102444800000, 4102444801000, NULL, NULL, NULL);
         INSERT INTO requests VALUES ('closed', 'acme', 'bob@example.org', 'okta:e-closed',
             '{}', 'DENIED', NULL, 4102444800000, 4102444801000, 4102444800500,
             'admin:root', 'no');",
    )
    .unwrap();
    drop(raw);

    let ledger = SqliteLedger::open(&path).unwrap();

    assert_eq!(
        pragma_i64(&lock(&ledger.conn), "user_version"),
        SCHEMA_VERSION
    );
    let open = ledger.request("open").await.unwrap().unwrap();
    let closed = ledger.request("closed").await.unwrap().unwrap();
    assert_eq!(
        (open.state, open.retain_until),
        (RequestState::Pending, None)
    );
    assert_eq!(
        (closed.state, closed.decided_at, closed.retain_until),
        (RequestState::Denied, Some(T0 + 500), None)
    );
    // A request closed before the upgrade has no retention time: the purge
    // keeps it. One closed after it gets its time and goes when it passes.
    let denied = ledger
        .transition_request(
            "open",
            RequestState::Pending,
            RequestState::Denied,
            &decided(T0 + 600, T0 + 700),
        )
        .await
        .unwrap()
        .expect("denied");
    assert_eq!(denied.retain_until, Some(T0 + 700));
    drop(ledger);
    let reopened = SqliteLedger::open(&path).unwrap();
    assert_eq!(reopened.request("open").await.unwrap(), Some(denied));
    assert_eq!(reopened.purge_expired(T0 + 701).await.unwrap(), 1);
    assert_eq!(reopened.request("open").await.unwrap(), None);
    assert_eq!(reopened.request("closed").await.unwrap(), Some(closed));
    drop(reopened);
    cleanup(&dir);
}

#[tokio::test]
async fn a_version_5_file_gains_the_lease_attempt_in_place_and_its_old_leases_are_nobodys() {
    let dir = scratch("upgrade5");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.db");
    // A file as the version-5 build left it: a claim, a live lease and a
    // completed delivery, none with an attempt.
    let raw = Connection::open(&path).unwrap();
    raw.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        .unwrap();
    for migration in &MIGRATIONS[..5] {
        raw.execute_batch(migration).unwrap();
    }
    raw.pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    raw.pragma_update(None, "user_version", 5).unwrap();
    raw.execute_batch(
        "INSERT INTO pools (pool, used) VALUES ('acme', 1);
         INSERT INTO claims VALUES ('acme', 'ana@example.org', 'c-1', 'ACTIVE',
             'ana_acme', 'standard:done', 7, 8, NULL);
         INSERT INTO deliveries VALUES ('standard', 'live', 'IN_PROGRESS', 'h',
             4102444830000, NULL, NULL, 4102444800000);
         INSERT INTO deliveries VALUES ('standard', 'done', 'COMPLETE', 'h',
             4102444830000, '\"done\"', 4102531200000, 4102444800001);",
    )
    .unwrap();
    drop(raw);
    let lease = 30_000;

    let ledger = SqliteLedger::open(&path).unwrap();

    assert_eq!(
        pragma_i64(&lock(&ledger.conn), "user_version"),
        SCHEMA_VERSION
    );
    let claim = ledger.claim(&key("acme", "ana@example.org")).await.unwrap();
    assert_eq!(claim.map(|c| c.claim_id), Some("c-1".to_string()));
    let (live, done) = (delivery("live"), delivery("done"));
    assert_eq!(
        ledger
            .begin_delivery(&done, "a1", "h", T0 + 1, lease)
            .await
            .unwrap(),
        DeliveryBegin::Completed("\"done\"".into())
    );
    // The old lease is nobody's: no attempt resumes, finishes or abandons
    // it while it is live ...
    assert_eq!(
        ledger
            .begin_delivery(&live, "a1", "h", T0 + 1, lease)
            .await
            .unwrap(),
        DeliveryBegin::InProgress
    );
    assert!(
        !ledger
            .finish_delivery(&live, "a1", "\"x\"", T0 + 1, T0 + 60_000)
            .await
            .unwrap()
    );
    assert!(
        !ledger
            .abandon_delivery(&live, LeaseHolder::Attempt("a1"))
            .await
            .unwrap()
    );
    // ... and it expires as before; the attempt taking over holds it.
    assert_eq!(
        ledger
            .begin_delivery(&live, "a2", "h", T0 + lease + 1, lease)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
    assert!(
        ledger
            .finish_delivery(&live, "a2", "\"live\"", T0 + lease + 2, T0 + 60_000)
            .await
            .unwrap()
    );
    drop(ledger);
    let reopened = SqliteLedger::open(&path).unwrap();
    assert_eq!(
        reopened
            .begin_delivery(&live, "a3", "h", T0 + lease + 3, lease)
            .await
            .unwrap(),
        DeliveryBegin::Completed("\"live\"".into())
    );
    drop(reopened);
    cleanup(&dir);
}

#[tokio::test]
async fn the_schema_itself_refuses_a_second_open_request_of_a_person() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let conn = lock(&ledger.conn);
    let insert = |id: &str, state: &str| {
        conn.execute(
            "INSERT INTO requests (id, pool, person, delivery, payload, state, created_at, \
             expires_at) VALUES (?1, 'acme', 'ana@example.org', 'd', '{}', ?2, 1, 2)",
            params![id, state],
        )
    };
    insert("a", "DENIED").unwrap();
    insert("b", "EXPIRED").unwrap();
    insert("c", "PENDING").unwrap();

    assert!(insert("d", "WAITLISTED").is_err());
    assert!(insert("e", "PENDING").is_err());
    assert!(insert("f", "APPROVED").is_ok());
    assert!(insert("g", "LOST").is_err());
}

#[tokio::test]
async fn a_file_with_a_newer_schema_version_is_refused_as_corrupt() {
    let dir = scratch("newer");
    let path = dir.join("ledger.db");
    drop(SqliteLedger::open(&path).unwrap());
    let raw = Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(raw);

    let refused = SqliteLedger::open(&path);

    match refused {
        Err(LedgerError::Corrupt(msg)) => {
            assert!(msg.contains("newer"), "{msg}");
            assert!(msg.contains(&format!("{}", SCHEMA_VERSION + 1)), "{msg}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    cleanup(&dir);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_as_corrupt() {
    let dir = scratch("garbage");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.db");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();

    let refused = SqliteLedger::open(&path);

    assert!(
        matches!(refused, Err(LedgerError::Corrupt(_))),
        "{refused:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), vec![0x42u8; 8192]);
    cleanup(&dir);
}

#[tokio::test]
async fn an_sqlite_file_of_another_application_is_refused_and_left_untouched() {
    let dir = scratch("foreign");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("other.db");
    let raw = Connection::open(&path).unwrap();
    raw.execute_batch("CREATE TABLE notes (body TEXT);")
        .unwrap();
    drop(raw);

    let refused = SqliteLedger::open(&path);

    assert!(
        matches!(refused, Err(LedgerError::Corrupt(_))),
        "{refused:?}"
    );
    let raw = Connection::open(&path).unwrap();
    let tables: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1);
    assert_eq!(pragma_i64(&raw, "user_version"), 0);
    let mode: String = raw
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
    drop(raw);
    cleanup(&dir);
}

#[tokio::test]
async fn a_write_lock_held_by_another_process_makes_operations_unavailable_until_released() {
    let dir = scratch("busy");
    let path = dir.join("ledger.db");
    let ledger = SqliteLedger::open_with_busy_timeout(&path, Duration::from_millis(50)).unwrap();
    let k = key("acme", "ana@example.org");
    let mut other = Connection::open(&path).unwrap();
    let held = other
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();

    let refused = ledger
        .reserve(ReserveRequest {
            key: &k,
            capacity: 5,
            delivery: "standard:d",
            claim_id: "c-1",
            username: "intended_user",
            now: T0,
            hold: crate::seats::Hold::InFlight,
        })
        .await;

    match refused {
        Err(LedgerError::Unavailable(msg)) => assert!(msg.contains("locked"), "{msg}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    held.rollback().unwrap();
    assert_eq!(ledger.usage(&k.pool).await.unwrap().used, 0);
    reserve(&ledger, &k, "c-1", T0).await;
    assert_eq!(ledger.usage(&k.pool).await.unwrap().used, 1);
    drop(ledger);
    cleanup(&dir);
}

#[tokio::test]
async fn a_stored_claim_with_an_invalid_pool_name_is_reported_as_corrupt() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    lock(&ledger.conn)
        .execute_batch(
            "INSERT INTO pools (pool, used) VALUES ('bad pool!', 1);
             INSERT INTO claims (pool, person, claim_id, state, username, delivery,
                 reserved_at, updated_at)
                 VALUES ('bad pool!', 'ana@example.org', 'c', 'RESERVED',
                 NULL, 'standard:d', 1, 1);",
        )
        .unwrap();

    let pools = ledger.pools().await;
    let listing = ledger
        .run("claims", |conn| {
            let mut stmt = conn.prepare(
                "SELECT pool, person, claim_id, state, username, \
                 delivery, reserved_at, updated_at FROM claims",
            )?;
            let mut rows = stmt.query([])?;
            let mut claims = Vec::new();
            while let Some(row) = rows.next()? {
                claims.push(claim_from_row(row)?);
            }
            Ok(claims)
        })
        .await;

    assert!(matches!(pools, Err(LedgerError::Corrupt(_))), "{pools:?}");
    assert!(
        matches!(listing, Err(LedgerError::Corrupt(_))),
        "{listing:?}"
    );
}

#[tokio::test]
async fn a_pool_counter_at_zero_while_a_claim_exists_makes_release_corrupt_and_changes_nothing() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let k = key("acme", "ana@example.org");
    reserve(&ledger, &k, "c-1", T0).await;
    lock(&ledger.conn)
        .execute_batch("UPDATE pools SET used = 0")
        .unwrap();

    let released = ledger.release(&k, "c-1").await;

    assert!(
        matches!(released, Err(LedgerError::Corrupt(_))),
        "{released:?}"
    );
    assert!(ledger.claim(&k).await.unwrap().is_some());
    assert_eq!(ledger.usage(&k.pool).await.unwrap().used, 0);
}

#[tokio::test]
async fn a_panicking_operation_rolls_back_and_leaves_the_ledger_usable() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let k = key("acme", "ana@example.org");

    let crashed: Result<(), LedgerError> = ledger
        .run("test", |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("INSERT INTO pools (pool, used) VALUES ('acme', 7)", [])?;
            panic!("simulated bug in the middle of a transaction");
        })
        .await;

    assert!(
        matches!(crashed, Err(LedgerError::Unavailable(_))),
        "{crashed:?}"
    );
    assert_eq!(ledger.usage(&k.pool).await.unwrap().used, 0);
    reserve(&ledger, &k, "c-1", T0).await;
    assert_eq!(ledger.usage(&k.pool).await.unwrap().used, 1);
    assert!(!ledger.conn.is_poisoned());
}

#[tokio::test]
async fn pools_lists_every_counter_by_name_and_claims_come_oldest_first() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    reserve(&ledger, &key("zeta", "late@example.org"), "z1", T0 + 30).await;
    reserve(&ledger, &key("zeta", "early@example.org"), "z2", T0 + 10).await;
    reserve(&ledger, &key("zeta", "middle@example.org"), "z3", T0 + 20).await;
    reserve(&ledger, &key("alpha", "ana@example.org"), "a1", T0).await;
    assert!(
        ledger
            .release(&key("alpha", "ana@example.org"), "a1")
            .await
            .unwrap()
    );

    let pools = ledger.pools().await.unwrap();
    let claims = ledger
        .claims(&PoolId::parse("zeta").unwrap())
        .await
        .unwrap();

    let listed: Vec<(&str, u32)> = pools.iter().map(|p| (p.pool.as_str(), p.used)).collect();
    assert_eq!(listed, vec![("alpha", 0), ("zeta", 3)]);
    let people: Vec<&str> = claims.iter().map(|c| c.key.person.as_str()).collect();
    assert_eq!(
        people,
        vec![
            "early@example.org",
            "middle@example.org",
            "late@example.org"
        ]
    );
}

#[tokio::test]
async fn purging_deletes_only_deliveries_that_no_longer_change_an_answer() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let lease = 30_000;
    // Completed, retained until T0 + 100.
    let old = delivery("old");
    ledger
        .begin_delivery(&old, "a-old", "h", T0, lease)
        .await
        .unwrap();
    ledger
        .finish_delivery(&old, "a-old", "\"old\"", T0, T0 + 100)
        .await
        .unwrap();
    // Completed, retained well past the purge time.
    let kept = delivery("kept");
    ledger
        .begin_delivery(&kept, "a-kept", "h", T0, lease)
        .await
        .unwrap();
    ledger
        .finish_delivery(&kept, "a-kept", "\"kept\"", T0, T0 + 10_000_000_000)
        .await
        .unwrap();
    // In progress, lease ended at T0 + lease (crashed attempt).
    let crashed = delivery("crashed");
    ledger
        .begin_delivery(&crashed, "a-crashed", "h", T0, lease)
        .await
        .unwrap();
    let purge_at = T0 + 1_000;

    let early = ledger.purge_expired(purge_at).await.unwrap();

    // Only the completed record past retention goes; the crashed lease is
    // within its grace, so a different payload is still a mismatch.
    assert_eq!(early, 1);
    assert_eq!(
        ledger
            .begin_delivery(&crashed, "a-later", "other", purge_at, lease)
            .await
            .unwrap(),
        DeliveryBegin::PayloadMismatch
    );
    let late = T0 + lease + IN_PROGRESS_PURGE_GRACE_MS + 1;
    assert_eq!(ledger.purge_expired(late).await.unwrap(), 1);
    assert_eq!(
        ledger
            .begin_delivery(&crashed, "a-later", "other", late, lease)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
    assert_eq!(
        ledger
            .begin_delivery(&kept, "a-later", "h", late, lease)
            .await
            .unwrap(),
        DeliveryBegin::Completed("\"kept\"".into())
    );
    assert_eq!(
        ledger
            .begin_delivery(&old, "a-later", "h2", late, lease)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
}

#[tokio::test]
async fn purging_deletes_failures_past_their_retention_and_keeps_the_others() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let pool = PoolId::parse("acme").unwrap();
    let expired = failure("acme", "ana@example.org", T0);
    let kept = failure("acme", "bob@example.org", T0 + 1);
    ledger.record_failure(&expired, T0 + 100).await.unwrap();
    ledger.record_failure(&kept, T0 + 10_000).await.unwrap();

    assert_eq!(ledger.purge_expired(T0 + 100).await.unwrap(), 0);
    let purged = ledger.purge_expired(T0 + 101).await.unwrap();

    assert_eq!(purged, 1);
    let rows: i64 = lock(&ledger.conn)
        .query_row("SELECT count(*) FROM failures", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows, 1);
    assert_eq!(
        ledger.failures(&pool, T0 + 101).await.unwrap(),
        vec![kept.clone()]
    );
    // An earlier `now` still sees only what is stored: the purged one is gone.
    assert_eq!(ledger.failures(&pool, T0).await.unwrap(), vec![kept]);
}

#[tokio::test]
async fn purging_deletes_the_sign_in_counts_of_windows_that_have_ended() {
    use crate::seats::{SignInAttempt, SignInCounts, SignInThrottle};
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let attempt = |window, address| SignInAttempt {
        window,
        until: window + 900_000,
        address,
        per_address: 10,
        global: 100,
    };
    ledger
        .take_sign_in(&attempt(T0, "192.0.2.1"))
        .await
        .unwrap();
    ledger
        .take_sign_in(&attempt(T0 + 900_000, "192.0.2.1"))
        .await
        .unwrap();

    assert_eq!(ledger.purge_expired(T0 + 900_000).await.unwrap(), 0);
    // The first window's row for the address and its row for all.
    assert_eq!(ledger.purge_expired(T0 + 900_001).await.unwrap(), 2);
    assert_eq!(
        ledger.sign_in_counts(T0, "192.0.2.1").await.unwrap(),
        SignInCounts::default()
    );
    assert_eq!(
        ledger
            .sign_in_counts(T0 + 900_000, "192.0.2.1")
            .await
            .unwrap(),
        SignInCounts {
            address: 1,
            global: 1
        }
    );
}

/// Moves request `id` and returns it as stored; panics when it did not move.
async fn moved(
    ledger: &SqliteLedger,
    id: &str,
    from: RequestState,
    to: RequestState,
    change: RequestChange,
) -> SignupRecord {
    ledger
        .transition_request(id, from, to, &change)
        .await
        .unwrap()
        .expect("moved")
}

#[tokio::test]
async fn purging_deletes_closed_requests_past_their_retention_and_keeps_open_and_retained_ones() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let pool = PoolId::parse("acme").unwrap();
    for (id, person) in [
        ("gone", "ana@example.org"),
        ("kept", "bob@example.org"),
        ("open", "cy@example.org"),
        ("back", "dee@example.org"),
    ] {
        let created = ledger
            .create_request(&signup(id, person, RequestState::Pending))
            .await
            .unwrap();
        assert_eq!(created, None);
    }
    // Denied, kept until T0 + 100.
    moved(
        &ledger,
        "gone",
        RequestState::Pending,
        RequestState::Denied,
        decided(T0 + 1, T0 + 100),
    )
    .await;
    // Approved, kept well past the purge.
    let kept = moved(
        &ledger,
        "kept",
        RequestState::Pending,
        RequestState::Approved,
        decided(T0 + 2, T0 + 10_000),
    )
    .await;
    // Expired with the same time as the denied one, then reopened: open
    // again, without a retention.
    moved(
        &ledger,
        "back",
        RequestState::Pending,
        RequestState::Expired,
        decided(T0 + 3, T0 + 100),
    )
    .await;
    let back = moved(
        &ledger,
        "back",
        RequestState::Expired,
        RequestState::Pending,
        decided(T0 + 4, T0 + 100),
    )
    .await;
    assert_eq!(back.retain_until, None);
    let open = ledger.request("open").await.unwrap().unwrap();

    // Retention is inclusive: at T0 + 100 nothing goes yet.
    assert_eq!(ledger.purge_expired(T0 + 100).await.unwrap(), 0);
    let purged = ledger.purge_expired(T0 + 101).await.unwrap();

    assert_eq!(purged, 1);
    assert_eq!(ledger.request("gone").await.unwrap(), None);
    assert!(
        ledger
            .requests(&pool, RequestState::Denied)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(ledger.request("kept").await.unwrap(), Some(kept));
    assert_eq!(
        ledger.requests(&pool, RequestState::Pending).await.unwrap(),
        vec![back.clone(), open]
    );
    // Long after every retention, the open ones are still there and still
    // hold their slots.
    ledger.purge_expired(T0 + 1_000_000).await.unwrap();
    assert_eq!(ledger.request("kept").await.unwrap(), None);
    assert_eq!(
        ledger
            .create_request(&signup("again", "dee@example.org", RequestState::Pending))
            .await
            .unwrap(),
        Some(back)
    );
    assert_eq!(
        ledger
            .requests(&pool, RequestState::Pending)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn errors_name_the_operation_and_never_quote_sqlite_messages() {
    let busy = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("database is locked: SELECT secret FROM t".into()),
    );
    let constraint = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
        Some("UNIQUE constraint failed: claims.person = 'ana@example.org'".into()),
    );

    let busy = sql_error("reserve", &busy);
    let constraint = sql_error("reserve", &constraint);

    assert!(matches!(&busy, LedgerError::Unavailable(m) if m.starts_with("reserve:")));
    assert!(matches!(&constraint, LedgerError::Corrupt(m) if m.starts_with("reserve:")));
    for e in [busy, constraint] {
        let shown = e.to_string();
        assert!(!shown.contains("SELECT"), "{shown}");
        assert!(!shown.contains("ana@"), "{shown}");
    }
}

/// Each operation is one round trip (one transaction or read on the
/// blocking pool), as the benchmarks count a sign-up's cost.
#[tokio::test]
async fn every_operation_counts_as_one_round_trip() {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    let k = key("acme", "ana@acme.org");
    assert_eq!(ledger.round_trips(), 0);
    reserve(&ledger, &k, "c1", 1_000).await;
    assert_eq!(ledger.round_trips(), 1);
    assert!(ledger.claim(&k).await.unwrap().is_some());
    ledger.usage(&k.pool).await.unwrap();
    assert_eq!(ledger.round_trips(), 3);
}

#[tokio::test]
async fn a_version_7_file_gains_the_alert_levels_in_place_and_keeps_its_sign_in_counts() {
    use crate::domain::AlertSubject;
    use crate::seats::{AlertLevels, SignInThrottle};
    let dir = scratch("upgrade7");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ledger.db");
    // A file as the version-7 build left it, with a sign-in count.
    let raw = Connection::open(&path).unwrap();
    raw.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        .unwrap();
    for migration in &MIGRATIONS[..7] {
        raw.execute_batch(migration).unwrap();
    }
    raw.pragma_update(None, "application_id", APPLICATION_ID)
        .unwrap();
    raw.pragma_update(None, "user_version", 7).unwrap();
    raw.execute_batch(
        "INSERT INTO sign_ins VALUES (4102444800000, '', 2, 4102445700000);
         INSERT INTO sign_ins VALUES (4102444800000, '192.0.2.1', 2, 4102445700000);",
    )
    .unwrap();
    drop(raw);

    let ledger = SqliteLedger::open(&path).unwrap();

    assert_eq!(
        pragma_i64(&lock(&ledger.conn), "user_version"),
        SCHEMA_VERSION
    );
    let counts = ledger.sign_in_counts(T0, "192.0.2.1").await.unwrap();
    assert_eq!((counts.address, counts.global), (2, 2));
    let pool = AlertSubject::Pool(PoolId::parse("acme").unwrap());
    assert_eq!(ledger.alert_level(&pool).await.unwrap(), None);
    assert!(
        ledger
            .set_alert_level(&pool, None, Some(80), T0)
            .await
            .unwrap()
    );
    drop(ledger);
    // Opened again, the upgraded file is taken as it is, its level kept.
    let reopened = SqliteLedger::open(&path).unwrap();
    assert_eq!(reopened.alert_level(&pool).await.unwrap(), Some(80));
    drop(reopened);
    cleanup(&dir);
}

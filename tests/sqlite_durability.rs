//! Durability of [`SqliteLedger`]: what a call confirmed is in the file after
//! the ledger is dropped and reopened, and after the process holding it is
//! killed (SIGKILL) mid-work.
//!
//! The crash test re-runs this very test binary as a child process (the
//! `crash_child_…` test, switched on by the `SQLITE_CRASH_CHILD` environment
//! variable; run normally it does nothing). The child prints a line after
//! each call returned; the parent kills it after a number of lines, reopens
//! the file and checks every printed write is there and no seat is counted
//! without a claim. Files live in a directory of their own under the system
//! temp directory, removed when the test passed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};

use agol_seat_broker::domain::{ClaimKey, DeliveryKey, PoolId, UnixMillis};
use agol_seat_broker::seats::sqlite::SqliteLedger;
use agol_seat_broker::seats::{
    Claim, ClaimState, ClaimStore, DeliveryBegin, DeliveryStore, LeaseHolder, PoolUsage,
    Reservation, ReserveRequest,
};
use tokio::io::{AsyncBufReadExt, BufReader};

/// 2100-01-01T00:00:00Z, as in the contract suite.
const T0: UnixMillis = 4_102_444_800_000;
const LEASE_MS: i64 = 30_000;
/// Far enough for every outcome to be retained when the parent checks.
const RETAIN_UNTIL: UnixMillis = T0 + 365 * 24 * 60 * 60 * 1000;

/// Set (to the ledger path) in the child's environment only.
const CHILD_ENV: &str = "SQLITE_CRASH_CHILD";
/// The index the child starts at, so a second child adds new people.
const CHILD_START_ENV: &str = "SQLITE_CRASH_CHILD_START";
const CHILD_TEST: &str = "crash_child_reserves_confirms_releases_and_finishes_until_killed";
/// Marks the child's report lines among libtest's own output.
const MARK: &str = "LEDGER ";
const CRASH_POOL: &str = "crash";

fn scratch(test: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "agol-sqlite-durability-{}-{}-{test}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn pool(name: &str) -> PoolId {
    PoolId::parse(name).expect("test pool names are valid")
}

fn key(pool_name: &str, person: &str) -> ClaimKey {
    ClaimKey {
        pool: pool(pool_name),
        person: person.into(),
    }
}

fn delivery(id: &str) -> DeliveryKey {
    DeliveryKey {
        source: "standard".into(),
        id: id.into(),
    }
}

async fn reserve(ledger: &SqliteLedger, k: &ClaimKey, claim_id: &str, now: UnixMillis) -> Claim {
    let answer = ledger
        .reserve(ReserveRequest {
            key: k,
            capacity: 1_000_000,
            delivery: "standard:durability",
            claim_id,
            username: "intended_user",
            now,
            hold: agol_seat_broker::seats::Hold::InFlight,
        })
        .await
        .expect("reserve answers");
    match answer {
        Reservation::Reserved(claim) => claim,
        other => panic!("expected Reserved, got {other:?}"),
    }
}

fn integrity_check(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).expect("raw connection opens");
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_confirmed_before_the_ledger_is_dropped_is_there_after_reopening() {
    // Arrange: claims in two pools in every state, deliveries in every state.
    let dir = scratch("reopen");
    let path = dir.join("ledger.db");
    let ledger = SqliteLedger::open(&path).expect("ledger opens");
    let mut acme = Vec::new();
    for i in 0..5 {
        let k = key("acme", &format!("p{i}@example.org"));
        acme.push(reserve(&ledger, &k, &format!("c{i}"), T0 + i).await);
    }
    for i in [1, 3] {
        acme[i] = ledger
            .confirm(
                &acme[i].key,
                &format!("c{i}"),
                &format!("p{i}_acme"),
                T0 + 100,
            )
            .await
            .expect("confirm");
    }
    let gone = acme.remove(4);
    assert!(ledger.release(&gone.key, "c4").await.expect("release"));
    let beta = vec![reserve(&ledger, &key("beta", "p0@example.org"), "b0", T0).await];
    let done = delivery("done");
    let live = delivery("live");
    let dropped = delivery("dropped");
    for d in [&done, &live, &dropped] {
        let begun = ledger
            .begin_delivery(d, "first", "hash-a", T0, LEASE_MS)
            .await;
        assert_eq!(begun.expect("begin"), DeliveryBegin::Started);
    }
    ledger
        .finish_delivery(
            &done,
            "first",
            r#"{"outcome":"provisioned"}"#,
            T0 + 1,
            RETAIN_UNTIL,
        )
        .await
        .expect("finish");
    ledger
        .abandon_delivery(&dropped, LeaseHolder::Attempt("first"))
        .await
        .expect("abandon");

    // Act
    drop(ledger);
    let reopened = SqliteLedger::open(&path).expect("ledger reopens");

    // Assert
    assert_eq!(reopened.claims(&pool("acme")).await.unwrap(), acme);
    assert_eq!(reopened.claims(&pool("beta")).await.unwrap(), beta);
    assert_eq!(reopened.claim(&gone.key).await.unwrap(), None);
    assert_eq!(
        reopened.pools().await.unwrap(),
        vec![
            PoolUsage {
                pool: pool("acme"),
                used: 4
            },
            PoolUsage {
                pool: pool("beta"),
                used: 1
            },
        ]
    );
    assert_eq!(
        reopened
            .begin_delivery(&done, "second", "hash-a", T0 + 2, LEASE_MS)
            .await
            .unwrap(),
        DeliveryBegin::Completed(r#"{"outcome":"provisioned"}"#.into())
    );
    assert_eq!(
        reopened
            .begin_delivery(&live, "second", "hash-a", T0 + 2, LEASE_MS)
            .await
            .unwrap(),
        DeliveryBegin::InProgress
    );
    assert_eq!(
        reopened
            .begin_delivery(&live, "second", "hash-b", T0 + 2, LEASE_MS)
            .await
            .unwrap(),
        DeliveryBegin::PayloadMismatch
    );
    assert_eq!(
        reopened
            .begin_delivery(&dropped, "second", "hash-a", T0 + 2, LEASE_MS)
            .await
            .unwrap(),
        DeliveryBegin::Started
    );
    // The counter still holds: capacity 4 is full, 5 admits one more.
    let late = key("acme", "late@example.org");
    let full = reopened
        .reserve(ReserveRequest {
            key: &late,
            capacity: 4,
            delivery: "standard:late",
            claim_id: "c-late",
            username: "intended_user",
            now: T0 + 3,
            hold: agol_seat_broker::seats::Hold::InFlight,
        })
        .await
        .unwrap();
    assert_eq!(full, Reservation::PoolFull { used: 4 });
    reserve(&reopened, &late, "c-late", T0 + 3).await;
    assert_eq!(reopened.usage(&pool("acme")).await.unwrap().used, 5);
    drop(reopened);
    assert_eq!(integrity_check(&path), "ok");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the children reported as done.
#[derive(Default, Debug)]
struct Confirmed {
    reserved: BTreeSet<String>,
    confirmed: BTreeSet<String>,
    released: BTreeSet<String>,
    finished: BTreeSet<String>,
}

impl Confirmed {
    fn record(&mut self, line: &str) {
        // Why not strip_prefix: libtest prints "test <name> ... " without a
        // line break before the child's first report.
        let Some((_, report)) = line.split_once(MARK) else {
            return; // libtest's own output
        };
        let (what, who) = report.split_once(' ').unwrap_or((report, ""));
        let set = match what {
            "reserved" => &mut self.reserved,
            "confirmed" => &mut self.confirmed,
            "released" => &mut self.released,
            "finished" => &mut self.finished,
            other => panic!("unexpected report {other:?} in {line:?}"),
        };
        set.insert(who.to_string());
    }

    fn lines(&self) -> usize {
        self.reserved.len() + self.confirmed.len() + self.released.len() + self.finished.len()
    }
}

/// Runs one child on `path` from index `start`, kills it after `kill_after`
/// more report lines, and adds every line it printed (those still in the
/// pipe after the kill included) to `seen`.
async fn run_child_and_kill_it(path: &Path, start: u32, kill_after: usize, seen: &mut Confirmed) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = tokio::process::Command::new(exe)
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .env(CHILD_START_ENV, start.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("child stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let target = seen.lines() + kill_after;
    while seen.lines() < target {
        match lines.next_line().await.expect("reading the child") {
            Some(line) => seen.record(&line),
            None => panic!(
                "the child stopped after {} report lines, before it was killed",
                seen.lines()
            ),
        }
    }

    child.kill().await.expect("SIGKILL the child");

    // Lines written before the kill were confirmed writes too.
    while let Some(line) = lines.next_line().await.expect("reading the child") {
        seen.record(&line);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_loses_no_confirmed_write_and_leaves_no_phantom_seat() {
    // Arrange / Act: two children, each killed mid-work; the second one
    // reopens the file the first left behind. The line counts differ so the
    // kills land after different calls (after a reservation, after a
    // release; the child's cycle is 9 lines per 4 people).
    let dir = scratch("crash");
    let path = dir.join("ledger.db");
    let mut seen = Confirmed::default();
    run_child_and_kill_it(&path, 0, 37, &mut seen).await;
    run_child_and_kill_it(&path, 100_000, 26, &mut seen).await;

    // Assert
    let ledger = SqliteLedger::open(&path).expect("ledger reopens after the kills");
    let claims = ledger.claims(&pool(CRASH_POOL)).await.unwrap();
    let used = ledger.usage(&pool(CRASH_POOL)).await.unwrap().used;
    let held: BTreeSet<String> = claims.iter().map(|c| c.key.person.clone()).collect();
    eprintln!(
        "crash test: reported {} reserved, {} confirmed, {} released, {} finished; \
         {} claims stored, {used} seats counted",
        seen.reserved.len(),
        seen.confirmed.len(),
        seen.released.len(),
        seen.finished.len(),
        claims.len()
    );
    assert_eq!(
        usize::try_from(used).unwrap(),
        claims.len(),
        "seats counted vs claims stored"
    );
    let lost: Vec<_> = seen.reserved.difference(&held).collect();
    assert!(lost.is_empty(), "confirmed reservations lost: {lost:?}");
    for person in &seen.confirmed {
        let claim = claims.iter().find(|c| &c.key.person == person);
        assert_eq!(claim.map(|c| c.state), Some(ClaimState::Active), "{person}");
    }
    let revived: Vec<_> = seen.released.intersection(&held).collect();
    assert!(revived.is_empty(), "released claims back: {revived:?}");
    // At most the one call in flight per killed child may have committed
    // without being reported.
    let unreported: Vec<_> = held.difference(&seen.reserved).collect();
    assert!(unreported.len() <= 2, "unreported claims: {unreported:?}");
    for id in &seen.finished {
        assert_eq!(
            ledger
                .begin_delivery(&delivery(id), "checker", "hash", T0, LEASE_MS)
                .await
                .unwrap(),
            DeliveryBegin::Completed(format!(r#"{{"delivery":"{id}"}}"#)),
            "{id}"
        );
    }
    assert!(
        seen.reserved.len() >= 10 && !seen.released.is_empty() && !seen.finished.is_empty(),
        "the children did too little to test anything: {seen:?}"
    );
    drop(ledger);
    assert_eq!(integrity_check(&path), "ok");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The child's body (see the module docs); does nothing unless spawned by
/// the crash test. Per index: begin a delivery, reserve a seat, then confirm
/// it (every 4th + 1), release it (every 4th + 3) or keep it, then finish the
/// delivery; one report line after each call that returned.
#[tokio::test]
async fn crash_child_reserves_confirms_releases_and_finishes_until_killed() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let start: u32 = std::env::var(CHILD_START_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let ledger = SqliteLedger::open(&path).expect("child opens the ledger");
    let report = |line: String| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{MARK}{line}").expect("report line written");
        out.flush().expect("report line flushed");
    };
    for i in start..start + 50_000 {
        let now = T0 + i64::from(i);
        let person = format!("p{i:06}@example.org");
        let id = format!("evt-{i}");
        let d = delivery(&id);
        let attempt = format!("attempt-{i}");
        let begun = ledger
            .begin_delivery(&d, &attempt, "hash", now, LEASE_MS)
            .await;
        assert_eq!(begun.expect("begin"), DeliveryBegin::Started);
        let claim_id = format!("c{i}");
        reserve(&ledger, &key(CRASH_POOL, &person), &claim_id, now).await;
        match i % 4 {
            3 => {
                let released = ledger.release(&key(CRASH_POOL, &person), &claim_id).await;
                assert!(released.expect("release"));
                report(format!("released {person}"));
            }
            1 => {
                report(format!("reserved {person}"));
                ledger
                    .confirm(&key(CRASH_POOL, &person), &claim_id, "user", now)
                    .await
                    .expect("confirm");
                report(format!("confirmed {person}"));
            }
            _ => report(format!("reserved {person}")),
        }
        ledger
            .finish_delivery(
                &d,
                &attempt,
                &format!(r#"{{"delivery":"{id}"}}"#),
                now,
                RETAIN_UNTIL,
            )
            .await
            .expect("finish");
        report(format!("finished {id}"));
    }
}

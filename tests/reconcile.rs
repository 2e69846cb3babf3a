//! `agol-seat-broker reconcile` end to end (issue 14): the compiled binary
//! against the portal simulator over HTTP, on an SQLite store and on
//! DynamoDB Local. Drift is injected through the simulator's `/_sim/`
//! control routes, as changes made outside the broker: a member deleted,
//! a user type changed, members created by hand, a pending invitation that
//! lapses. `reconcile` repairs the ledger and reports each change; a second
//! run changes nothing.
//!
//! The DynamoDB test needs `DYNAMODB_ENDPOINT` (`scripts/test.sh` sets it);
//! without it it fails, never passes silently.

use std::process::Stdio;

use agol_seat_broker::domain::{ClaimKey, PoolId};
use agol_seat_broker::portal::simulator::{
    self, RunningSimulator, SimAccount, SimInvitation, SimMember, SimulatorConfig,
};
use agol_seat_broker::seats::dynamo::{DynamoLedger, client_for_endpoint, create_table};
use agol_seat_broker::seats::sqlite::SqliteLedger;
use agol_seat_broker::seats::{
    Change, ClaimState, ClaimStore, Expect, Hold, ReserveRequest, SeatLedger, Stage,
};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_agol-seat-broker");
const VIEWER: &str = "iAAAAAAAAAAAAAAA";

const RULES: &str = r#"
[[pools]]
name = "acme"
seats = 10
role = "viewer"
user_type = "viewerUT"
[pools.match]
email_domains = ["acme.org"]
[pools.reconcile]
adopt = true
"#;

fn acme() -> PoolId {
    PoolId::parse("acme").unwrap()
}

fn key(user: &str) -> ClaimKey {
    ClaimKey {
        pool: acme(),
        person: format!("{user}@acme.org"),
    }
}

/// An ACTIVE claim of `user` under `<user>_acme`.
async fn active<L: ClaimStore>(ledger: &L, user: &str, now: i64) {
    let username = format!("{user}_acme");
    let id = format!("c-{user}");
    ledger
        .reserve(ReserveRequest {
            key: &key(user),
            capacity: 10,
            delivery: "standard:x",
            claim_id: &id,
            username: &username,
            now,
            hold: Hold::InFlight,
        })
        .await
        .unwrap();
    ledger
        .transition(
            &key(user),
            Expect::new(&id, &[Stage::Reserved(Hold::InFlight)]),
            Change::Activate {
                username: &username,
            },
            now,
        )
        .await
        .unwrap();
}

/// The organization and the ledger before the drift: four members of the
/// pool (one of them still a pending invitation), all in the ledger.
async fn seed<L: ClaimStore>(sim: &RunningSimulator, ledger: &L) {
    let now = agol_seat_broker::clock::now_millis();
    for user in ["ana", "gone", "retyped"] {
        active(ledger, user, now).await;
        assert!(sim.seed_member(SimMember {
            email: format!("{user}@acme.org"),
            ..SimMember::new(&format!("{user}_acme"), VIEWER, "viewerUT")
        }));
    }
    active(ledger, "invited", now).await;
    assert!(sim.seed_invitation(SimInvitation::new("invited_acme", VIEWER, "viewerUT", now)));
}

/// The drift, made outside the broker through the control routes.
async fn drift(sim: &RunningSimulator) {
    let http = reqwest::Client::new();
    let steps = [
        ("members/delete", json!({"username": "gone_acme"})),
        (
            "members/user-type",
            json!({"username": "retyped_acme", "user_type": "creatorUT"}),
        ),
        ("invitations/expire", json!({"username": "invited_acme"})),
        (
            "members",
            json!({"username": "hand_made", "email": "Hand@acme.org", "role": VIEWER, "user_type": "viewerUT"}),
        ),
        (
            "members",
            json!({"username": "visitor", "email": "v@else.net", "role": VIEWER, "user_type": "viewerUT"}),
        ),
        // Fewer viewer licences than the pool promises, once the
        // visitor's is taken off.
        ("purchased", json!({"user_type": "viewerUT", "count": 8})),
    ];
    for (route, body) in steps {
        let res = http
            .post(format!("{}/_sim/{route}", sim.root_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{route}: {}", res.status());
    }
}

async fn run(
    sim: &RunningSimulator,
    rules: &std::path::Path,
    store: &str,
    extra: &[&str],
) -> Value {
    let mut args = vec![
        "reconcile".to_string(),
        "--config".into(),
        rules.display().to_string(),
        "--store".into(),
        store.to_string(),
        "--portal".into(),
        sim.base_url(),
        "--json".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .env("ARCGIS_USERNAME", "broker_admin")
        .env("ARCGIS_PASSWORD", "Sim-Admin-Pass-42")
        .env_remove("PORTAL_URL")
        .env_remove("LEDGER_STORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `(username, kind, action, outcome)` of each difference.
fn lines(v: &Value) -> Vec<(String, String, String, String)> {
    v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let outcome = match &d["outcome"] {
                Value::String(s) => s.clone(),
                Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                _ => "planned".to_string(),
            };
            (
                d["username"].as_str().unwrap().to_string(),
                d["kind"].as_str().unwrap().to_string(),
                d["action"].as_str().unwrap().to_string(),
                outcome,
            )
        })
        .collect()
}

fn row(u: &str, k: &str, a: &str, o: &str) -> (String, String, String, String) {
    (u.into(), k.into(), a.into(), o.into())
}

/// Who holds the pool's seats: `(username, state)`, by username.
async fn holders<L: ClaimStore>(ledger: &L) -> Vec<(String, ClaimState)> {
    let mut v: Vec<(String, ClaimState)> = ledger
        .claims(&acme())
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.username.unwrap_or_default(), c.state))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

async fn scenario<L: SeatLedger>(ledger: &L, store: &str, dir: &std::path::Path) {
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let sim = simulator::spawn(SimulatorConfig {
        admin: SimAccount {
            username: "broker_admin".into(),
            password: "Sim-Admin-Pass-42".into(),
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    seed(&sim, ledger).await;
    // In agreement: nothing to do (the broker's own account is not
    // "outside").
    let v = run(&sim, &rules, store, &[]).await;
    assert_eq!(v["changes"], 0, "{v:#}");
    assert_eq!(v["differences"], json!([]), "{v:#}");

    drift(&sim).await;

    // The dry run says what it would do and changes nothing.
    let v = run(&sim, &rules, store, &["--dry-run"]).await;
    assert_eq!(v["changes"], 3, "{v:#}");
    assert_eq!(ledger.usage(&acme()).await.unwrap().used, 4);

    let v = run(&sim, &rules, store, &[]).await;
    assert_eq!(
        lines(&v),
        [
            row("gone_acme", "member_gone", "release", "done"),
            row("invited_acme", "member_gone", "release", "done"),
            row("retyped_acme", "user_type_changed", "report", "reported"),
            row("hand_made", "outside_member", "adopt", "done"),
            row("visitor", "outside_member", "report", "reported"),
        ],
        "{v:#}"
    );
    // viewerUT: 8 purchased, 3 assigned (ana, hand_made, visitor), 2 of
    // them the broker's: 7 left for a pool promising 10.
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{v:#}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("promise 10 seats of user type viewerUT but the organization has 7"),
        "{v:#}"
    );

    // The ledger is repaired: the gone seats are free, the hand-made
    // member holds one, the retyped member keeps its own.
    assert_eq!(
        holders(ledger).await,
        [
            ("ana_acme".to_string(), ClaimState::Active),
            ("hand_made".to_string(), ClaimState::Active),
            ("retyped_acme".to_string(), ClaimState::Active),
        ]
    );
    assert_eq!(ledger.usage(&acme()).await.unwrap().used, 3);
    let adopted = ledger
        .claim(&ClaimKey {
            pool: acme(),
            person: "hand@acme.org".into(),
        })
        .await
        .unwrap()
        .expect("the adopted member's claim");
    assert_eq!(adopted.username.as_deref(), Some("hand_made"));
    // The portal is untouched.
    assert_eq!(sim.member("retyped_acme").unwrap().user_type, "creatorUT");
    assert!(sim.member("visitor").is_some());
    // Every difference is in the audit trail.
    let trail = ledger.audit_since(0, 1000).await.unwrap();
    let count = |action: &str| trail.iter().filter(|e| e.action == action).count();
    assert_eq!(count("reconcile.released"), 2);
    assert_eq!(count("reconcile.adopted"), 1);
    assert_eq!(count("reconcile.reported"), 2);
    assert_eq!(count("reconcile.over_promised"), 1);
    assert!(
        trail
            .iter()
            .any(|e| e.action == "reconcile.released"
                && e.person.as_deref() == Some("gone@acme.org"))
    );

    // A second run changes nothing: only what is reported stays.
    let again = run(&sim, &rules, store, &[]).await;
    assert_eq!(again["changes"], 0, "{again:#}");
    assert_eq!(
        lines(&again),
        [
            row("retyped_acme", "user_type_changed", "report", "reported"),
            row("visitor", "outside_member", "report", "reported"),
        ]
    );
    assert_eq!(ledger.usage(&acme()).await.unwrap().used, 3);
    assert_eq!(holders(ledger).await.len(), 3);

    // check-rules with the portal says the same of the licences (the
    // broker's share read from the store's ACTIVE claims).
    let out = tokio::process::Command::new(BIN)
        .args([
            "check-rules",
            &rules.display().to_string(),
            "--portal",
            &sim.base_url(),
            "--store",
            store,
        ])
        .env("ARCGIS_USERNAME", "broker_admin")
        .env("ARCGIS_PASSWORD", "Sim-Admin-Pass-42")
        .env_remove("LEDGER_STORE")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // Over-promising is a problem of the pre-flight check: exit code 2.
    assert_eq!(
        out.status.code(),
        Some(2),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(
            "problem: pools acme promise 10 seats of user type viewerUT but the organization has 7"
        ),
        "{text}"
    );
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "agol-reconcile-{tag}-{}-{}",
        std::process::id(),
        agol_seat_broker::clock::now_millis()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn reconcile_repairs_an_sqlite_ledger_and_a_second_run_changes_nothing() {
    let dir = temp_dir("sqlite");
    let db = dir.join("ledger.db");
    let ledger = SqliteLedger::open(&db).unwrap();
    scenario(&ledger, &format!("sqlite:{}", db.display()), &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn reconcile_repairs_a_dynamodb_ledger_and_a_second_run_changes_nothing() {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT").unwrap_or_default();
    assert!(
        !endpoint.is_empty(),
        "DYNAMODB_ENDPOINT is not set: run scripts/test.sh, or start DynamoDB Local \
         (scripts/dynamodb-local.sh start) and export DYNAMODB_ENDPOINT"
    );
    let ddb = client_for_endpoint(Some(&endpoint)).await;
    let table = format!(
        "reconcile-{}-{}",
        std::process::id(),
        agol_seat_broker::clock::now_millis()
    );
    create_table(&ddb, &table).await.unwrap();
    let ledger = DynamoLedger::new(ddb, &table);
    let dir = temp_dir("dynamo");
    scenario(&ledger, &format!("dynamodb:{table}"), &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
}

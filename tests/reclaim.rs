//! `agol-seat-broker reclaim` (dry run and for real) and `extend` end to end: the compiled binary,
//! an SQLite store holding ACTIVE seats, and the portal simulator over
//! HTTP whose members' `lastLogin` decides (issue 14).

use std::process::Stdio;

use agol_seat_broker::domain::{ClaimKey, PoolId};
use agol_seat_broker::portal::simulator::{self, SimAccount, SimMember, SimulatorConfig};
use agol_seat_broker::seats::sqlite::SqliteLedger;
use agol_seat_broker::seats::{Change, ClaimStore, Expect, Hold, ReserveRequest, Stage};

const BIN: &str = env!("CARGO_BIN_EXE_agol-seat-broker");
const DAY: i64 = 86_400_000;

const RULES: &str = r#"
[lifecycle]
keep = ["kept_acme"]

[[pools]]
name = "acme"
seats = 10
role = "viewer"
user_type = "viewerUT"
[pools.match]
email_domains = ["acme.org"]
[pools.lifecycle]
reclaim_after_days_inactive = 30
reclaim_never_signed_in_after_days = 14
at_end = "downgrade"
downgrade_to = { role = "viewer", user_type = "fieldWorkerUT" }
"#;

#[tokio::test]
async fn the_dry_run_prints_who_would_be_reclaimed_and_changes_nothing() {
    let dir = std::env::temp_dir().join(format!(
        "agol-reclaim-{}-{}",
        std::process::id(),
        agol_seat_broker::clock::now_millis()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    let db = dir.join("ledger.db");
    let sim = simulator::spawn(SimulatorConfig {
        admin: SimAccount {
            username: "broker_admin".into(),
            password: "Sim-Admin-Pass-42".into(),
        },
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let now = agol_seat_broker::clock::now_millis();
    let ledger = SqliteLedger::open(&db).unwrap();
    for (user, last_login) in [
        ("idle", now - 45 * DAY),
        ("busy", now - 2 * DAY),
        ("never", -1),
        ("kept", now - 400 * DAY),
    ] {
        let username = format!("{user}_acme");
        let key = ClaimKey {
            pool: PoolId::parse("acme").unwrap(),
            person: format!("{user}@acme.org"),
        };
        let id = format!("c-{user}");
        ledger
            .reserve(ReserveRequest {
                key: &key,
                capacity: 10,
                delivery: "standard:x",
                claim_id: &id,
                username: &username,
                now: now - 60 * DAY,
                hold: Hold::InFlight,
            })
            .await
            .unwrap();
        ledger
            .transition(
                &key,
                Expect::new(&id, &[Stage::Reserved(Hold::InFlight)]),
                Change::Activate {
                    username: &username,
                },
                now - 60 * DAY,
            )
            .await
            .unwrap();
        assert!(sim.seed_member(SimMember {
            last_login,
            ..SimMember::new(&username, "iAAAAAAAAAAAAAAA", "viewerUT")
        }));
    }
    drop(ledger);
    let run = |extra: &[&str]| {
        let mut args = vec![
            "reclaim".to_string(),
            "--config".into(),
            rules.display().to_string(),
            "--store".into(),
            format!("sqlite:{}", db.display()),
            "--portal".into(),
            sim.base_url(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        tokio::process::Command::new(BIN)
            .args(args)
            .env("ARCGIS_USERNAME", "broker_admin")
            .env("ARCGIS_PASSWORD", "Sim-Admin-Pass-42")
            .env_remove("PORTAL_URL")
            .env_remove("LEDGER_STORE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
    };

    let out = run(&["--dry-run"]).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("Dry run: nothing is changed."), "{text}");
    let line = |user: &str| text.lines().find(|l| l.contains(user)).map(str::to_string);
    let idle = line("idle_acme").expect("idle is listed");
    assert!(
        idle.contains(
            "downgrade to role iAAAAAAAAAAAAAAA and user type fieldWorkerUT (idle: last signed in"
        ) && idle.contains("(45 days ago)"),
        "{idle}"
    );
    let never = line("never_acme").expect("never is listed");
    assert!(
        never.contains("never signed in (60 days since the seat began)"),
        "{never}"
    );
    assert!(line("busy_acme").is_none(), "{text}");
    assert!(
        line("kept_acme")
            .unwrap()
            .contains("skipped: on the [lifecycle] keep list"),
        "{text}"
    );

    // Nothing changed: the seats and the members are as they were.
    let ledger = SqliteLedger::open(&db).unwrap();
    assert_eq!(
        ledger
            .usage(&PoolId::parse("acme").unwrap())
            .await
            .unwrap()
            .used,
        4
    );
    assert_eq!(sim.member("idle_acme").unwrap().user_type, "viewerUT");

    // JSON, and the refusal without --dry-run.
    let out = run(&["--dry-run", "--json"]).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["steps"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["skipped"][0]["username"], "kept_acme");
    // For real: idle and never are downgraded in the simulator and their
    // seats given back; busy and kept are untouched.
    let out = run(&[]).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |user: &str| text.lines().find(|l| l.contains(user)).map(str::to_string);
    assert!(
        line("idle_acme").unwrap().contains(
            "downgraded to role iAAAAAAAAAAAAAAA and user type fieldWorkerUT; seat given back"
        ),
        "{text}"
    );
    assert!(line("busy_acme").is_none(), "{text}");
    assert_eq!(sim.member("idle_acme").unwrap().user_type, "fieldWorkerUT");
    assert_eq!(sim.member("never_acme").unwrap().user_type, "fieldWorkerUT");
    assert_eq!(sim.member("busy_acme").unwrap().user_type, "viewerUT");
    let ledger = SqliteLedger::open(&db).unwrap();
    assert_eq!(
        ledger
            .usage(&PoolId::parse("acme").unwrap())
            .await
            .unwrap()
            .used,
        2
    );
    drop(ledger);
    // A second run finds nothing more to do.
    let out = run(&[]).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("idle_acme"), "{text}");

    // Extending a seat from the command line.
    let out = tokio::process::Command::new(BIN)
        .args([
            "extend",
            "--config",
            &rules.display().to_string(),
            "--store",
            &format!("sqlite:{}", db.display()),
            "--portal",
            &sim.base_url(),
            "--pool",
            "acme",
            "--email",
            "busy@acme.org",
            "--until",
            "2099-12-31",
        ])
        .env("ARCGIS_USERNAME", "broker_admin")
        .env("ARCGIS_PASSWORD", "Sim-Admin-Pass-42")
        .env_remove("PORTAL_URL")
        .env_remove("LEDGER_STORE")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("busy_acme in acme: extended until 2099-12-31"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ledger = SqliteLedger::open(&db).unwrap();
    let key = ClaimKey {
        pool: PoolId::parse("acme").unwrap(),
        person: "busy@acme.org".into(),
    };
    assert!(
        ledger
            .claim(&key)
            .await
            .unwrap()
            .unwrap()
            .extended_until
            .is_some()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

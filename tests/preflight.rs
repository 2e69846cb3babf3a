//! `agol-seat-broker check-rules --portal` end to end (issue 15, item 5):
//! the compiled binary against the portal simulator over HTTP, as an
//! administrator runs it before going live. A rules file that
//! over-promises seats, names a missing group and a role that cannot hold
//! its user type gets each reported and exit code 2; a fitting one exits
//! 0; a broker account that is not an administrator, or a refused
//! sign-in, is reported too. Nothing is written: the simulator's state is
//! the same afterwards.

use agol_seat_broker::domain::PortalFlavour;
use agol_seat_broker::portal::simulator::{self, RunningSimulator, SimAccount, SimulatorConfig};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_agol-seat-broker");

/// Fits the simulator's default organization: Viewer on viewerUT in the
/// existing group "Field Crews", User on creatorUT within the licences.
const GOOD: &str = r#"
[[pools]]
name = "acme"
seats = 50
role = "viewer"
user_type = "viewerUT"
groups = ["Field Crews"]
[pools.match]
email_domains = ["acme.org"]

[[pools]]
name = "staff"
seats = 10
role = "user"
user_type = "creatorUT"
[pools.match]
email_domains = ["staff.org"]
"#;

async fn spawn() -> RunningSimulator {
    simulator::spawn(SimulatorConfig {
        admin: SimAccount {
            username: "broker_admin".into(),
            password: "Sim-Admin-Pass-42".into(),
        },
        non_admin: Some(SimAccount {
            username: "plain_member".into(),
            password: "Plain-Member-Pass-7".into(),
        }),
        ..SimulatorConfig::default()
    })
    .await
    .unwrap()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn check(
    sim: &RunningSimulator,
    rules: &str,
    credentials: (&str, &str),
    extra: &[&str],
) -> Run {
    check_with(sim, rules, credentials, extra, &[]).await
}

/// [`check`] with environment variables set for the run.
async fn check_with(
    sim: &RunningSimulator,
    rules: &str,
    (user, password): (&str, &str),
    extra: &[&str],
    env: &[(&str, &str)],
) -> Run {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "agol-preflight-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rules.toml");
    std::fs::write(&path, rules).unwrap();
    let out = tokio::process::Command::new(BIN)
        .arg("check-rules")
        .arg(&path)
        .args(["--portal", &sim.base_url()])
        .args(extra)
        .env("ARCGIS_USERNAME", user)
        .env("ARCGIS_PASSWORD", password)
        .env_remove("LEDGER_STORE")
        .env_remove("PORTAL_FLAVOUR")
        .envs(env.iter().copied())
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    // Nothing written next to it either (no store created).
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["rules.toml"], "{}", run.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    run
}

const ADMIN: (&str, &str) = ("broker_admin", "Sim-Admin-Pass-42");

/// The simulator's state, without sign-in times (signing in is not a
/// change the check makes).
async fn state(sim: &RunningSimulator) -> Value {
    let mut v: Value = reqwest::get(format!("{}/_sim/state", sim.root_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    if let Some(o) = v.as_object_mut()
        && o.get("requests")
            .is_some_and(|r| r.as_object().is_some_and(|r| r.is_empty()))
    {
        o.remove("requests");
    }
    if let Some(members) = v["members"].as_array_mut() {
        for m in members.iter_mut().filter_map(Value::as_object_mut) {
            m.retain(|k, _| !k.to_ascii_lowercase().contains("login"));
        }
    }
    v
}

#[tokio::test]
async fn a_fitting_rules_file_passes_with_exit_code_0() {
    let sim = spawn().await;
    let run = check(&sim, GOOD, ADMIN, &[]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("pool acme: ok"), "{}", run.stdout);
    assert!(run.stdout.contains("pool staff: ok"), "{}", run.stdout);
    assert!(run.stdout.contains("no --store given"), "{}", run.stdout);
    assert!(run.stdout.contains("no problems found"), "{}", run.stdout);
}

#[tokio::test]
async fn over_promise_missing_group_and_unfit_role_are_each_reported_with_exit_code_2() {
    let sim = spawn().await;
    let before = state(&sim).await;
    // acme: the simulator's "Field Technician" role edits data, so it
    // cannot hold the Viewer user type; "Field Crew Leads" does not exist.
    // staff: 500 Creator seats, the organization has 100 (one taken by the
    // administrator and one by the non-administrator account).
    let bad = GOOD
        .replace(r#"role = "viewer""#, r#"role = "fIeLdTeChRoLe001""#)
        .replace(
            r#"["Field Crews"]"#,
            r#"["Field Crews", "Field Crew Leads"]"#,
        )
        .replace("seats = 10", "seats = 500");
    let run = check(&sim, &bad, ADMIN, &[]).await;
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    for expected in [
        "problem: group 'Field Crew Leads' does not exist in the organization; create it or fix the name",
        "problem: role 'Field Technician' (fIeLdTeChRoLe001) cannot hold user type Viewer (viewerUT)",
        "problem: pools staff promise 500 seats of user type creatorUT but the organization has 98",
        "3 problem(s)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    // Grouped per pool: acme's two findings come under its heading.
    let acme = out.find("pool acme:").unwrap();
    let staff = out.find("pool staff:").unwrap();
    let group = out.find("Field Crew Leads' does not").unwrap();
    assert!(acme < group && group < staff, "{out}");
    assert!(run.stderr.contains("3 problem(s) found"), "{}", run.stderr);

    // The same as JSON, for machines.
    let run = check(&sim, &bad, ADMIN, &["--json"]).await;
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let kinds: Vec<(&str, &str)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "problem")
        .map(|f| {
            (
                f["pool"].as_str().unwrap_or("-"),
                f["kind"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("acme", "role_does_not_fit"),
            ("acme", "missing_group"),
            ("-", "over_promised")
        ],
        "{v:#}"
    );

    // The check changed nothing in the organization.
    let mut after = state(&sim).await;
    let requests = after
        .as_object_mut()
        .and_then(|o| o.remove("requests"))
        .unwrap_or_default();
    assert_eq!(after, before);
    // Only reads were sent.
    let reads = [
        "generatetoken",
        "community/self",
        "community/groups",
        "portals/self",
        "portals/self/roles",
        "portals/self/users",
        "portals/self/users/counts",
        "portals/self/invitations",
    ];
    for op in requests.as_object().unwrap().keys() {
        assert!(reads.contains(&op.as_str()), "{op} sent: {requests:#}");
    }
}

#[tokio::test]
async fn a_broker_account_that_is_not_an_administrator_is_reported() {
    let sim = spawn().await;
    let run = check(&sim, GOOD, ("plain_member", "Plain-Member-Pass-7"), &[]).await;
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(
            "problem: the broker's account 'plain_member' has role 'User' (org_user), not Administrator"
        ),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn a_refused_sign_in_is_reported_without_the_password() {
    let sim = spawn().await;
    let run = check(&sim, GOOD, ("broker_admin", "Wrong-Pass-Value-1"), &[]).await;
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("problem: the portal refused to sign in as 'broker_admin'"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Wrong-Pass-Value-1"));
    assert!(!run.stderr.contains("Wrong-Pass-Value-1"));
}

#[tokio::test]
async fn an_enterprise_portal_is_checked_with_its_licence_and_a_wrong_flavour_is_reported() {
    let sim = simulator::spawn(SimulatorConfig {
        admin: SimAccount {
            username: "broker_admin".into(),
            password: "Sim-Admin-Pass-42".into(),
        },
        flavour: PortalFlavour::Enterprise,
        ..SimulatorConfig::default()
    })
    .await
    .unwrap();
    let before = state(&sim).await;

    // Set up for it: the licences come from portaladmin/license.
    let run = check_with(&sim, GOOD, ADMIN, &[], &[("PORTAL_FLAVOUR", "enterprise")]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("no problems found"), "{}", run.stdout);
    assert!(sim.sim().request_count("license") >= 1);

    // A loopback URL means ArcGIS Online unless told: the portal says
    // otherwise, and the check says what to set.
    let run = check_with(&sim, GOOD, ADMIN, &[], &[]).await;
    assert_eq!(run.code, Some(2), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("set PORTAL_FLAVOUR=enterprise"),
        "{}",
        run.stdout
    );
    let mut after = state(&sim).await;
    if let Some(o) = after.as_object_mut() {
        o.remove("requests");
    }
    assert_eq!(after, before, "nothing changed");
}

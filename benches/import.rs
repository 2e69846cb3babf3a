//! CSV import speed.
//!
//! 1. **Validation of a generated 100 000-row file** (every column; 10 % of
//!    the rows name existing members): wall time and peak memory. The
//!    validation runs in a child process (this bench binary, re-executed),
//!    which reads its own `VmHWM` before and after, so the figure is the
//!    validation's and not the bench's.
//! 2. **End to end**: rows per second of a real import (validation, then
//!    writes) through the real ArcGIS client to the portal simulator over
//!    loopback HTTP, at the default concurrency (8), on the embedded SQLite
//!    ledger and, when `DYNAMODB_ENDPOINT` is set, on DynamoDB Local.
//!
//! Run: `scripts/bench.sh import` (release profile), or
//! `cargo bench --bench import`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use agol_seat_broker::clock::now_millis;
use agol_seat_broker::import::org::{OrgView, SeatView};
use agol_seat_broker::import::plan::Context;
use agol_seat_broker::import::report::Quiet;
use agol_seat_broker::import::{self, ImportOptions, validate, validation_pass};
use agol_seat_broker::policy::Rules;
use agol_seat_broker::portal::arcgis::{ArcGisConfig, ArcGisPortal, Credentials};
use agol_seat_broker::portal::simulator::{self, SimAccount, SimulatorConfig};
use agol_seat_broker::portal::{Member, Role};
use agol_seat_broker::seats::SeatLedger;
use agol_seat_broker::seats::dynamo::{DynamoLedger, client_for_endpoint, create_table};
use agol_seat_broker::seats::sqlite::SqliteLedger;

const CHILD_ENV: &str = "IMPORT_BENCH_VALIDATE";
const ROWS: usize = 100_000;
const EXISTING: usize = 10_000;
const E2E_ROWS: usize = 2_000;
const E2E_ROUNDS: usize = 3;

fn rules(seats: u32) -> String {
    format!(
        r#"
        [[pools]]
        name = "bench"
        seats = {seats}
        role = "viewer"
        user_type = "viewerUT"
        groups = ["Partners"]
        [pools.match]
        email_domains = ["bench.example"]
        "#
    )
}

fn vm_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Writes the 100 000-row file (streamed to disk).
fn generate(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        f,
        "username,email,fullName,firstName,lastName,role,roleid,level,userType,access,userLicenseTypeId,groups"
    )
    .unwrap();
    for i in 0..ROWS {
        writeln!(
            f,
            "user{i:06}_bench,user{i}@bench.example,User Number {i},User,Number {i},Viewer,iAAAAAAAAAAAAAAA,1,arcgisonly,org,viewerUT,\"Partners,Field data\""
        )
        .unwrap();
    }
    f.flush().unwrap();
}

/// The child: builds the context (an organization of 10 000 members), then
/// validates the file; prints one JSON line.
fn child(path: &Path) {
    let members: Vec<Member> = (0..EXISTING)
        .map(|i| Member {
            username: format!("user{i:06}_bench"),
            email: Some(format!("user{i}@bench.example")),
            org_id: Some("ORG".into()),
            role: Some("iAAAAAAAAAAAAAAA".into()),
            user_type: Some("viewerUT".into()),
            group_ids: vec!["g1".into(), "g2".into()],
            first_name: Some("User".into()),
            last_name: Some(format!("Number {i}")),
            full_name: Some(format!("User Number {i}")),
            access: Some("org".into()),
            esri_access: Some("arcgisonly".into()),
            last_login: Some(-1),
            created: Some(1_700_000_000_000),
            disabled: Some(false),
        })
        .collect();
    let roles = vec![
        Role {
            id: "org_user".into(),
            name: "User".into(),
            privileges: None,
        },
        Role {
            id: "iAAAAAAAAAAAAAAA".into(),
            name: "Viewer".into(),
            privileges: None,
        },
    ];
    let org = OrgView::new(
        "ORG".into(),
        members,
        roles,
        vec![
            ("g1".into(), "Partners".into()),
            ("g2".into(), "Field data".into()),
        ],
    );
    let rules = Rules::from_toml(&rules(200_000)).unwrap();
    let seats = SeatView::with_usage([(rules.pools[0].id.clone(), 200_000, 0)]);
    let mut reader = validate::open(path).unwrap();
    let layout = validate::read_layout(&mut reader).unwrap();
    drop(reader);
    let ctx = Context::new(layout, org, seats, &rules, None, "bench".into()).unwrap();
    let before = vm_kib("VmRSS:");
    let started = Instant::now();
    let v = validation_pass(&ctx, path, |_| Ok(())).unwrap();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "secs": secs,
            "rss_before_kib": before,
            "hwm_kib": vm_kib("VmHWM:"),
            "rows": v.rows,
            "creates": v.creates,
            "unchanged": v.unchanged,
            "refused": v.refused.len(),
        })
    );
}

fn validation_bench(dir: &Path) {
    let path = dir.join("100k.csv");
    generate(&path);
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "validation of {ROWS} rows ({:.1} MiB file, {EXISTING} of them existing members), 5 runs in a child process:",
        size as f64 / 1048576.0
    );
    let mut runs = Vec::new();
    for _ in 0..5 {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, &path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| {
                panic!(
                    "child failed: {text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["rows"], ROWS as u64);
        assert_eq!(v["refused"], 0);
        runs.push(v);
    }
    let mut secs: Vec<f64> = runs.iter().map(|v| v["secs"].as_f64().unwrap()).collect();
    secs.sort_by(f64::total_cmp);
    let median = &runs[runs
        .iter()
        .position(|v| v["secs"].as_f64() == Some(secs[2]))
        .unwrap()];
    println!(
        "  median {:.3} s ({:.0} rows/s), min {:.3} s, max {:.3} s",
        secs[2],
        ROWS as f64 / secs[2],
        secs[0],
        secs[4]
    );
    println!(
        "  RSS before validating (org of {EXISTING} members loaded): {:.1} MiB; peak (VmHWM) after: {:.1} MiB",
        median["rss_before_kib"].as_u64().unwrap() as f64 / 1024.0,
        median["hwm_kib"].as_u64().unwrap() as f64 / 1024.0
    );
    println!(
        "  plan: {} create, {} unchanged",
        median["creates"], median["unchanged"]
    );
}

async fn e2e<L: SeatLedger>(name: &str, make: impl AsyncFn(usize) -> Arc<L>, dir: &Path) {
    let mut rates = Vec::new();
    for round in 0..E2E_ROUNDS {
        let sim = simulator::spawn(SimulatorConfig {
            admin: SimAccount {
                username: "bench_admin".into(),
                password: "Bench-Pass-42".into(),
            },
            admin_user_type: None,
            groups: vec!["Partners".into(), "Field data".into()],
            purchased: [("viewerUT".to_string(), 100_000u64)].into_iter().collect(),
            ..SimulatorConfig::default()
        })
        .await
        .unwrap();
        let portal = Arc::new(
            ArcGisPortal::new(
                ArcGisConfig::new(sim.base_url(), "bench"),
                Credentials::new("bench_admin", "Bench-Pass-42"),
            )
            .unwrap(),
        );
        let file = dir.join(format!("e2e-{name}-{round}.csv"));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        writeln!(f, "username,email,firstName,lastName,groups").unwrap();
        for i in 0..E2E_ROWS {
            writeln!(
                f,
                "e2e{i:05}_bench,e2e{i}@bench.example,Bench,Row {i},\"Partners,Field data\""
            )
            .unwrap();
        }
        f.flush().unwrap();
        drop(f);
        let ledger = make(round).await;
        let rules = Rules::from_toml(&rules(10_000)).unwrap();
        let started = Instant::now();
        let s = import::run(
            ledger,
            portal,
            &rules,
            &file,
            &dir.join(format!("e2e-{name}-{round}.result.csv")),
            &ImportOptions::default(),
            Arc::new(Quiet),
        )
        .await
        .unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(s.results.get("created"), E2E_ROWS as u64, "{:?}", s.results);
        assert_eq!(sim.members().len(), E2E_ROWS);
        rates.push(E2E_ROWS as f64 / secs);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "  {name}: {:.0} rows/s median of {E2E_ROUNDS} ({})",
        rates[E2E_ROUNDS / 2],
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / ")
    );
}

fn main() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&path));
        return;
    }
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "asb-import-bench-{}-{}",
        std::process::id(),
        now_millis()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    validation_bench(&dir);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "end to end, {E2E_ROWS} new members, concurrency 8 (default), simulator over loopback HTTP:"
        );
        let d = dir.clone();
        e2e(
            "SQLite",
            async |round| {
                Arc::new(SqliteLedger::open(d.join(format!("ledger-{round}.db"))).unwrap())
            },
            &dir,
        )
        .await;
        match std::env::var("DYNAMODB_ENDPOINT") {
            Ok(endpoint) => {
                let client = client_for_endpoint(Some(&endpoint)).await;
                e2e(
                    "DynamoDB Local",
                    async |round| {
                        let table = format!("import-bench-{}-{round}", std::process::id());
                        create_table(&client, &table).await.unwrap();
                        Arc::new(DynamoLedger::new(client.clone(), table))
                    },
                    &dir,
                )
                .await;
            }
            Err(_) => println!("  DynamoDB Local: skipped (DYNAMODB_ENDPOINT not set)"),
        }
    });
    std::fs::remove_dir_all(&dir).ok();
}

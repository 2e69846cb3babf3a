//! Cold start: process spawn → first answered request, and peak memory
//! (VmHWM), for the release `bootstrap-lambda` binary under the Lambda
//! Runtime API, and for the local server (`agol-seat-broker serve`).
//!
//! Run: `scripts/bench.sh startup` (release profile, LTO). Medians of 20 runs.

#[path = "../tests/support/runtime_api.rs"]
mod runtime_api;

use std::process::Stdio;
use std::time::{Duration, Instant};

use agol_seat_broker::clock::now_millis;
use agol_seat_broker::intake::signature::SigningKey;
use agol_seat_broker::portal::simulator::{self, SimAccount, SimulatorConfig};
use agol_seat_broker::seats::dynamo::{client_for_endpoint, create_table};
use runtime_api::{Reply, RuntimeApi, lambda_env};
use tokio::io::{AsyncBufReadExt, BufReader};

const RUNS: usize = 20;
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const RULES: &str = "[[pools]]\nname = \"acme\"\nseats = 100000\nrole = \"viewer\"\nuser_type = \"viewerUT\"\ngroups = [\"Partners\"]\n[pools.match]\nemail_domains = [\"acme.org\"]\n";

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn event(method: &str, path: &str, headers: serde_json::Value, body: &str) -> String {
    serde_json::json!({
        "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "api.example",
            "domainPrefix": "api", "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
            "sourceIp": "198.51.100.7", "userAgent": "bench"}, "requestId": "r", "routeKey": "$default",
            "stage": "$default", "time": "02/Mar/2026:09:30:00 +0000", "timeEpoch": 0},
        "body": body, "isBase64Encoded": false
    })
    .to_string()
}

fn signup_event(i: usize) -> String {
    let key = SigningKey::parse(SECRET).expect("key");
    let body = format!(
        r#"{{"email":"cold{i}.{}@acme.org","first_name":"C"}}"#,
        now_millis()
    );
    let id = format!("msg_cold_{i}_{}", now_millis());
    let ts = now_millis() / 1000;
    let headers = serde_json::json!({"content-type": "application/json", "webhook-id": id,
        "webhook-timestamp": ts.to_string(), "webhook-signature": key.sign(&id, ts, body.as_bytes())});
    event("POST", "/webhooks/standard", headers, &body)
}

fn stats(name: &str, ms: &mut [f64], kib: &mut [u64]) {
    ms.sort_by(|a, b| a.total_cmp(b));
    kib.sort();
    println!(
        "{name:<52} median {:>6.1} ms (min {:.1}, max {:.1})   peak RSS median {:>5.1} MiB",
        ms[ms.len() / 2],
        ms[0],
        ms[ms.len() - 1],
        kib[kib.len() / 2] as f64 / 1024.0
    );
}

/// The TLS roots as `template.yaml` points the functions to them
/// (`SSL_CERT_FILE`: the one bundle file `provided.al2023` keeps at
/// `/etc/pki/tls/certs/ca-bundle.crt`), with this machine's bundle file.
const ONE_BUNDLE: &[(&str, &str)] = &[("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")];

async fn lambda_cold_start(
    sim_url: &str,
    endpoint: &str,
    table: &str,
    tls: &[(&str, &str)],
    first: &dyn Fn(usize) -> String,
) -> (Vec<f64>, Vec<u64>) {
    let (mut ms, mut kib) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        let api = RuntimeApi::start().await;
        let t0 = Instant::now();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bootstrap-lambda"))
            .envs(lambda_env(&api.addr))
            .env("LEDGER_TABLE", table)
            .env("DYNAMODB_ENDPOINT", endpoint)
            .env("PORTAL_URL", sim_url)
            .env("RULES_TOML", RULES)
            .env("ARCGIS_USERNAME", "bench_admin")
            .env("ARCGIS_PASSWORD", "Bench-Pass-42")
            .env("STANDARD_WEBHOOK_SECRETS", SECRET)
            .env("RUST_LOG", "warn")
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .envs(tls.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let reply = api.invoke("r1", &first(i), Duration::from_secs(30)).await;
        let elapsed = t0.elapsed();
        match reply {
            Some(Reply::Response(_, v)) if v["statusCode"].as_u64().is_some_and(|s| s < 300) => {}
            other => panic!("unexpected reply: {other:?}"),
        }
        ms.push(elapsed.as_secs_f64() * 1e3);
        kib.push(child.id().and_then(vm_hwm_kib).unwrap_or(0));
        child.kill().await.ok();
    }
    (ms, kib)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let endpoint = std::env::var("DYNAMODB_ENDPOINT")
            .expect("DYNAMODB_ENDPOINT is not set: run scripts/bench.sh startup");
        let sim = simulator::spawn(SimulatorConfig {
            admin: SimAccount {
                username: "bench_admin".into(),
                password: "Bench-Pass-42".into(),
            },
            groups: vec!["Partners".into()],
            purchased: [("viewerUT".to_string(), 100_000u64)].into_iter().collect(),
            ..SimulatorConfig::default()
        })
        .await
        .expect("simulator");
        let client = client_for_endpoint(Some(&endpoint)).await;
        let table = format!("startup-{}", std::process::id());
        create_table(&client, &table).await.expect("table");
        println!("{RUNS} runs each; spawn → first answered request; peak RSS = VmHWM");

        let health = |_: usize| event("GET", "/health", serde_json::json!({}), "");
        let (mut ms, mut kib) =
            lambda_cold_start(&sim.base_url(), &endpoint, &table, ONE_BUNDLE, &health).await;
        stats(
            "lambda: cold start → GET /health (template's TLS roots)",
            &mut ms,
            &mut kib,
        );
        let (mut ms, mut kib) =
            lambda_cold_start(&sim.base_url(), &endpoint, &table, &[], &health).await;
        stats(
            "lambda: same, roots probed (this machine's /etc/ssl/certs)",
            &mut ms,
            &mut kib,
        );
        let signup = |i: usize| signup_event(i);
        let (mut ms, mut kib) =
            lambda_cold_start(&sim.base_url(), &endpoint, &table, ONE_BUNDLE, &signup).await;
        stats(
            "lambda: cold start → first sign-up provisioned",
            &mut ms,
            &mut kib,
        );

        // The local server, on either store.
        let http = reqwest::Client::new();
        let sqlite = |i: usize, _: &str| {
            let db = std::env::temp_dir().join(format!("startup-{}-{i}.db", std::process::id()));
            let _ = std::fs::remove_file(&db);
            format!("sqlite:{}", db.display())
        };
        let (mut ms, mut kib) = local_ready(&http, &sim.base_url(), &endpoint, &sqlite).await;
        stats(
            "local server (SQLite): spawn → GET /health",
            &mut ms,
            &mut kib,
        );
        let dynamo = |_: usize, table: &str| format!("dynamodb:{table}");
        let (mut ms, mut kib) = local_ready(&http, &sim.base_url(), &endpoint, &dynamo).await;
        stats(
            "local server (DynamoDB Local): spawn → GET /health",
            &mut ms,
            &mut kib,
        );
        // A previous run left 200 reservations: the start-up sweep settles
        // them (portal look-ups) after the server listens.
        let left_over = |i: usize, _: &str| {
            let db =
                std::env::temp_dir().join(format!("startup-left-{}-{i}.db", std::process::id()));
            let _ = std::fs::remove_file(&db);
            leave_reservations(&db, 200);
            format!("sqlite:{}", db.display())
        };
        let (mut ms, mut kib) = local_ready(&http, &sim.base_url(), &endpoint, &left_over).await;
        stats(
            "local server (SQLite), 200 reservations to settle",
            &mut ms,
            &mut kib,
        );
    });
}

/// 200 stale in-flight reservations in a new SQLite store at `db`, as a
/// killed server leaves them.
fn leave_reservations(db: &std::path::Path, n: usize) {
    use agol_seat_broker::domain::{ClaimKey, PoolId};
    use agol_seat_broker::seats::sqlite::SqliteLedger;
    use agol_seat_broker::seats::{ClaimStore, Hold, ReserveRequest};
    // A thread of its own with its own runtime: the caller is async.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let ledger = SqliteLedger::open(db).expect("sqlite");
                let pool = PoolId::parse("field-crews").expect("pool");
                let long_ago = now_millis() - 3_600_000;
                for i in 0..n {
                    let key = ClaimKey {
                        pool: pool.clone(),
                        person: format!("left{i}@example.org"),
                    };
                    ledger
                        .reserve(ReserveRequest {
                            key: &key,
                            capacity: 300,
                            delivery: &format!("standard:left{i}"),
                            claim_id: &format!("c-left-{i}"),
                            username: &format!("left{i}_field"),
                            hold: Hold::InFlight,
                            now: long_ago,
                        })
                        .await
                        .expect("reserve");
                }
            })
        });
    });
}

/// Spawns `serve` on the store `store(run, table)` names, 20 times, and
/// measures spawn → `GET /health` answered.
async fn local_ready(
    http: &reqwest::Client,
    sim_url: &str,
    endpoint: &str,
    store: &dyn Fn(usize, &str) -> String,
) -> (Vec<f64>, Vec<u64>) {
    let (mut ms, mut kib) = (Vec::new(), Vec::new());
    let client = client_for_endpoint(Some(endpoint)).await;
    for i in 0..RUNS {
        let table = format!("startup-local-{}-{i}", std::process::id());
        let spec = store(i, &table);
        if spec.starts_with("dynamodb:") {
            create_table(&client, &table).await.expect("table");
        }
        let t0 = Instant::now();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_agol-seat-broker"))
            .args([
                "serve",
                "--store",
                &spec,
                "--portal",
                sim_url,
                "--listen",
                "127.0.0.1:0",
                "--config",
                "config/rules.toml",
            ])
            .env("ARCGIS_USERNAME", "bench_admin")
            .env("ARCGIS_PASSWORD", "Bench-Pass-42")
            .env("STANDARD_WEBHOOK_SECRETS", SECRET)
            .env("DYNAMODB_ENDPOINT", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("RUST_LOG", "warn")
            .envs(ONE_BUNDLE.iter().copied())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut addr = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(a) = line.split("listening on http://").nth(1) {
                addr = a.trim().to_string();
                break;
            }
        }
        let res = http
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .expect("health");
        assert!(res.status().is_success());
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
        kib.push(child.id().and_then(vm_hwm_kib).unwrap_or(0));
        child.kill().await.ok();
        if let Some(file) = spec.strip_prefix("sqlite:") {
            for suffix in ["", "-wal", "-shm", ".lock", "-jobs"] {
                let _ = std::fs::remove_file(format!("{file}{suffix}"));
            }
        } else {
            let _ = client.delete_table().table_name(&table).send().await;
        }
    }
    (ms, kib)
}

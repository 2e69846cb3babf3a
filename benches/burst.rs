//! Burst throughput of sign-ups, end to end over loopback HTTP: the broker's
//! router, the real ArcGIS client, the portal simulator, and the ledger on
//! DynamoDB Local or on the embedded SQLite store, measured in the same run;
//! with the portal answering at once and with 150 ms per portal call (the
//! simulator's injected delay on every request). Each row also gives what a
//! member cost: portal requests (counted by the simulator) and ledger round
//! trips (counted by the ledger: DynamoDB requests, SQLite transactions),
//! per member created, warm-up included. Also the ledger alone
//! (reservations without the portal).
//!
//! Run: `scripts/bench.sh burst` (starts DynamoDB Local), or
//! `DYNAMODB_ENDPOINT=… cargo bench --bench burst`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agol_seat_broker::clock::now_millis;
use agol_seat_broker::domain::{ClaimKey, PoolId};
use agol_seat_broker::intake::signature::SigningKey;
use agol_seat_broker::policy::Rules;
use agol_seat_broker::portal::arcgis::{ArcGisConfig, ArcGisPortal, Credentials};
use agol_seat_broker::portal::simulator::{self, Fault, FaultKind, SimAccount, SimulatorConfig};
use agol_seat_broker::seats::dynamo::{
    ConflictRetry, DynamoLedger, client_for_endpoint, create_table,
};
use agol_seat_broker::seats::sqlite::SqliteLedger;
use agol_seat_broker::seats::{ReserveRequest, SeatLedger};
use agol_seat_broker::startup::{self, AppParts};
use futures_util::StreamExt;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const CONCURRENCY: usize = 32;
const ROUNDS: usize = 3;

fn rules(seats: u32) -> String {
    format!(
        r#"
        [[pools]]
        name = "acme"
        seats = {seats}
        role = "viewer"
        user_type = "viewerUT"
        groups = ["Partners"]
        [pools.match]
        email_domains = ["acme.org"]
        "#
    )
}

struct Run {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    created: usize,
    /// Portal requests per member created.
    portal_calls: f64,
    /// Ledger round trips per member created.
    round_trips: f64,
}

/// A ledger that counts its round trips.
trait Counted: SeatLedger {
    fn round_trips(&self) -> u64;
}

impl Counted for DynamoLedger {
    fn round_trips(&self) -> u64 {
        DynamoLedger::round_trips(self)
    }
}

impl Counted for SqliteLedger {
    fn round_trips(&self) -> u64 {
        SqliteLedger::round_trips(self)
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// Serves the router for `ledger` on loopback and posts `n` distinct
/// sign-ups with `concurrency` in flight, every portal request taking
/// `latency` more.
async fn http_burst<L: Counted>(
    ledger: Arc<L>,
    n: usize,
    seats: u32,
    concurrency: usize,
    latency: Duration,
) -> Run {
    let sim = simulator::spawn(SimulatorConfig {
        admin: SimAccount {
            username: "bench_admin".into(),
            password: "Bench-Pass-42".into(),
        },
        admin_user_type: None,
        groups: vec!["Partners".into()],
        purchased: [("viewerUT".to_string(), 100_000u64)].into_iter().collect(),
        ..SimulatorConfig::default()
    })
    .await
    .expect("simulator");
    if !latency.is_zero() {
        sim.inject(Fault {
            endpoint: None,
            kind: FaultKind::Delay(latency),
            times: None,
        });
    }
    let counted = ledger.clone();
    let portal = ArcGisPortal::new(
        ArcGisConfig::new(sim.base_url(), "bench"),
        Credentials::new("bench_admin", "Bench-Pass-42"),
    )
    .expect("client");
    let key = SigningKey::parse(SECRET).expect("key");
    let rules = Rules::from_toml(&rules(seats)).expect("rules");
    let app = startup::app(
        ledger,
        Arc::new(portal),
        AppParts {
            tolerance_secs: 300,
            ..AppParts::new(rules, vec![key.clone()])
        },
    )
    .await
    .expect("app");
    // As `serve` does in the background once it listens (the portal
    // calls it makes are counted with the burst's).
    app.state.provisioner.warm_up().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/webhooks/standard",
        listener.local_addr().expect("addr")
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app.router).await;
    });
    let client = reqwest::Client::new();
    let run_id = now_millis();
    let started = Instant::now();
    let results: Vec<(u16, Duration)> = futures_util::stream::iter(0..n)
        .map(|i| {
            let (client, url, key) = (client.clone(), url.clone(), key.clone());
            async move {
                let body = format!(
                    r#"{{"email":"p{i}.{run_id}@acme.org","first_name":"P","last_name":"Q"}}"#
                );
                let id = format!("msg_{run_id}_{i}");
                let ts = now_millis() / 1000;
                let t = Instant::now();
                let res = client
                    .post(&url)
                    .header("webhook-id", &id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", key.sign(&id, ts, body.as_bytes()))
                    .body(body)
                    .send()
                    .await;
                (res.map(|r| r.status().as_u16()).unwrap_or(0), t.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    server.abort();
    let mut lat: Vec<Duration> = results.iter().map(|(_, d)| *d).collect();
    lat.sort();
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let per_member = |total: u64| total as f64 / created.max(1) as f64;
    Run {
        per_sec: n as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(&lat, 0.5),
        p99_ms: pct(&lat, 0.99),
        created,
        portal_calls: per_member(sim.request_count("")),
        round_trips: per_member(counted.round_trips()),
    }
}

/// Reservations alone, `CONCURRENCY` at a time.
async fn ledger_burst<L: SeatLedger>(ledger: Arc<L>, n: usize) -> f64 {
    let pool = PoolId::parse("acme").expect("pool");
    let started = Instant::now();
    futures_util::stream::iter(0..n)
        .map(|i| {
            let (ledger, pool) = (ledger.clone(), pool.clone());
            async move {
                let key = ClaimKey {
                    pool,
                    person: format!("l{i}@acme.org"),
                };
                let id = format!("c{i}");
                ledger
                    .reserve(ReserveRequest {
                        key: &key,
                        capacity: n as u32,
                        delivery: "bench",
                        claim_id: &id,
                        username: "bench_user",
                        now: now_millis(),
                        hold: agol_seat_broker::seats::Hold::InFlight,
                    })
                    .await
                    .expect("reserve");
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    n as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn dynamo(endpoint: &str) -> Arc<DynamoLedger> {
    let client = client_for_endpoint(Some(endpoint)).await;
    let table = format!("bench-{}-{}", std::process::id(), now_millis());
    create_table(&client, &table).await.expect("table");
    Arc::new(
        DynamoLedger::new(client, table).with_conflict_retry(ConflictRetry {
            max_attempts: 200,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(100),
            max_elapsed: Duration::from_secs(60),
        }),
    )
}

fn sqlite() -> Arc<SqliteLedger> {
    let path =
        std::env::temp_dir().join(format!("bench-{}-{}.db", std::process::id(), now_millis()));
    Arc::new(SqliteLedger::open(&path).expect("sqlite"))
}

fn print_runs(name: &str, runs: Vec<Run>, extra: &str) {
    let created: Vec<usize> = runs.iter().map(|r| r.created).collect();
    println!(
        "{name:<48} {:>7.0} req/s   p50 {:>6.1} ms   p99 {:>6.1} ms   portal calls/member {:.2}   ledger round trips/member {:.2}   created {:?}{extra}",
        median(runs.iter().map(|r| r.per_sec).collect()),
        median(runs.iter().map(|r| r.p50_ms).collect()),
        median(runs.iter().map(|r| r.p99_ms).collect()),
        median(runs.iter().map(|r| r.portal_calls).collect()),
        median(runs.iter().map(|r| r.round_trips).collect()),
        created,
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let endpoint = std::env::var("DYNAMODB_ENDPOINT")
            .expect("DYNAMODB_ENDPOINT is not set: run scripts/bench.sh burst");
        println!("medians of {ROUNDS} rounds, {CONCURRENCY} concurrent, fresh store each round");

        for (n, seats) in [(500usize, 1000u32), (1000, 1000)] {
            let mut runs = Vec::new();
            let mut conflicts = Vec::new();
            for _ in 0..ROUNDS {
                let l = dynamo(&endpoint).await;
                runs.push(http_burst(l.clone(), n, seats, CONCURRENCY, Duration::ZERO).await);
                conflicts.push(l.conflicts_retried());
            }
            print_runs(
                &format!("http sign-ups, DynamoDB Local, {n} into {seats}"),
                runs,
                &format!("   conflicts retried {conflicts:?}"),
            );
            let mut runs = Vec::new();
            for _ in 0..ROUNDS {
                runs.push(http_burst(sqlite(), n, seats, CONCURRENCY, Duration::ZERO).await);
            }
            print_runs(
                &format!("http sign-ups, SQLite, {n} into {seats}"),
                runs,
                "",
            );
        }

        // Issue 12's setting: 300 sign-ups into 250 seats, 16 concurrent,
        // every portal call 150 ms slower (ArcGIS Online answers in
        // hundreds of milliseconds).
        for ms in [0u64, 150] {
            let latency = Duration::from_millis(ms);
            let mut runs = Vec::new();
            for _ in 0..ROUNDS {
                runs.push(http_burst(dynamo(&endpoint).await, 300, 250, 16, latency).await);
            }
            print_runs(
                &format!("{ms} ms/portal call, DynamoDB Local, 300 into 250"),
                runs,
                "",
            );
            let mut runs = Vec::new();
            for _ in 0..ROUNDS {
                runs.push(http_burst(sqlite(), 300, 250, 16, latency).await);
            }
            print_runs(
                &format!("{ms} ms/portal call, SQLite, 300 into 250"),
                runs,
                "",
            );
        }

        let mut d = Vec::new();
        let mut s = Vec::new();
        for _ in 0..ROUNDS {
            d.push(ledger_burst(dynamo(&endpoint).await, 1000).await);
            s.push(ledger_burst(sqlite(), 1000).await);
        }
        println!(
            "{:<48} {:>7.0} reservations/s",
            "ledger only, DynamoDB Local, 1000",
            median(d)
        );
        println!(
            "{:<48} {:>7.0} reservations/s",
            "ledger only, SQLite, 1000",
            median(s)
        );
    });
}

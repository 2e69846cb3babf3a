//! The workflow's own overhead per sign-up, with in-process fakes (no I/O):
//! `Provisioner::handle` over `MemoryLedger` + `FakePortal`, and the whole
//! HTTP handler (signature check, parsing, workflow, response) through the
//! router without a socket.
//!
//! Run: `cargo bench --bench workflow`. Prints medians and p99 in µs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agol_seat_broker::clock::now_millis;
use agol_seat_broker::config::WorkflowSettings;
use agol_seat_broker::domain::{DeliveryKey, Email, Overrides, SignupRequest};
use agol_seat_broker::intake::signature::SigningKey;
use agol_seat_broker::policy::{Policy, Rules};
use agol_seat_broker::portal::fake::FakePortal;
use agol_seat_broker::provisioning::{Creation, Provisioner};
use agol_seat_broker::queue::{BoxFuture, Job, JobSink, QueueError};
use agol_seat_broker::seats::memory::MemoryLedger;
use agol_seat_broker::startup::{self, AppParts};
use axum::body::Body;
use tower::ServiceExt;

const RULES: &str = r#"
    [[pools]]
    name = "acme"
    seats = 1000000
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners"]
    [pools.match]
    email_domains = ["acme.org"]
"#;
const N: usize = 20_000;
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<44} n={:<6} median {:>7.2} µs   p99 {:>7.2} µs",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99)
    );
}

fn provisioner() -> Provisioner<MemoryLedger, FakePortal> {
    Provisioner::new(
        Arc::new(MemoryLedger::new()),
        Arc::new(FakePortal::new("org1", &["Partners"])),
        Arc::new(Policy::new(Rules::from_toml(RULES).expect("rules"))),
        WorkflowSettings::default(),
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // 1. The workflow alone.
        let p = provisioner();
        let now = now_millis();
        let mut samples = Vec::with_capacity(N);
        for i in 0..N {
            let req = SignupRequest {
                email: Email::parse(&format!("person{i}@acme.org")).expect("email"),
                first_name: Some("Ana".into()),
                last_name: Some("Lopez".into()),
                username: None,
                organization: None,
                pool: None,
                attributes: Default::default(),
            };
            let key = DeliveryKey {
                source: "standard".into(),
                id: format!("msg_{i}"),
            };
            let t = Instant::now();
            let h = p
                .sign_up(
                    &key,
                    "hash",
                    &req,
                    &Overrides::default(),
                    Creation::InRequest,
                    now,
                )
                .await;
            samples.push(t.elapsed());
            std::hint::black_box(h);
        }
        report("workflow: Provisioner::sign_up (new member)", samples);

        // 2. Replays of finished deliveries (the idempotency fast path).
        let mut samples = Vec::with_capacity(N);
        let req = SignupRequest {
            email: Email::parse("person0@acme.org").expect("email"),
            first_name: None,
            last_name: None,
            username: None,
            organization: None,
            pool: None,
            attributes: Default::default(),
        };
        for _ in 0..N {
            let key = DeliveryKey {
                source: "standard".into(),
                id: "msg_0".into(),
            };
            let t = Instant::now();
            std::hint::black_box(
                p.sign_up(
                    &key,
                    "hash",
                    &req,
                    &Overrides::default(),
                    Creation::InRequest,
                    now,
                )
                .await,
            );
            samples.push(t.elapsed());
        }
        report("workflow: replay of a finished delivery", samples);

        // 3. The identity providers' fast path: decide, lease, reserve and
        //    queue (the member is created later by the worker).
        struct Discard;
        impl JobSink for Discard {
            fn enqueue<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), QueueError>> {
                std::hint::black_box(job);
                Box::pin(async { Ok(()) })
            }
        }
        let p = provisioner();
        let mut samples = Vec::with_capacity(N);
        for i in 0..N {
            let req = SignupRequest {
                email: Email::parse(&format!("hook{i}@acme.org")).expect("email"),
                first_name: Some("Ana".into()),
                last_name: Some("Lopez".into()),
                username: None,
                organization: None,
                pool: None,
                attributes: Default::default(),
            };
            let key = DeliveryKey {
                source: "okta-registration".into(),
                id: format!("evt_{i}"),
            };
            let t = Instant::now();
            let h = p
                .sign_up(
                    &key,
                    "hash",
                    &req,
                    &Overrides::default(),
                    Creation::Queued(&Discard),
                    now,
                )
                .await;
            samples.push(t.elapsed());
            std::hint::black_box(h);
        }
        report(
            "hooks: Provisioner::sign_up, queued (reserve + queue)",
            samples,
        );

        // 3. The whole HTTP handler: verify, parse, workflow, respond.
        let key = SigningKey::parse(SECRET).expect("key");
        let app = startup::app(
            Arc::new(MemoryLedger::new()),
            Arc::new(FakePortal::new("org1", &["Partners"])),
            AppParts {
                tolerance_secs: 300,
                ..AppParts::new(Rules::from_toml(RULES).expect("rules"), vec![key.clone()])
            },
        )
        .await
        .expect("app")
        .router;
        let mut samples = Vec::with_capacity(N);
        for i in 0..N {
            let body =
                format!(r#"{{"email":"web{i}@acme.org","first_name":"Ana","last_name":"Lopez"}}"#);
            let id = format!("msg_http_{i}");
            let ts = now_millis() / 1000;
            let sig = key.sign(&id, ts, body.as_bytes());
            let req = http::Request::post("/webhooks/standard")
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(Body::from(body))
                .expect("request");
            let t = Instant::now();
            let res = app.clone().oneshot(req).await.expect("infallible");
            samples.push(t.elapsed());
            assert_eq!(res.status(), 201);
        }
        report("http: POST /webhooks/standard (new member)", samples);
    });
}

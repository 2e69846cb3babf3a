//! `spawn_app`: a broker wired exactly as in production, through the same
//! `startup::app` as every process (DynamoDB ledger, ArcGIS client), pointed
//! at DynamoDB Local and a fresh portal simulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use agol_seat_broker::clock::{Clock, now_millis};
use agol_seat_broker::config::WorkflowSettings;
use agol_seat_broker::domain::PoolId;
use agol_seat_broker::entrypoints::http::AppState;
use agol_seat_broker::entrypoints::local_worker::LocalWorkerSettings;
use agol_seat_broker::ids::Ids;
use agol_seat_broker::intake::signature::SigningKey;
use agol_seat_broker::policy::Rules;
use agol_seat_broker::portal::arcgis::{ArcGisConfig, ArcGisPortal, Credentials};
use agol_seat_broker::portal::simulator::{self, RunningSimulator, SimAccount, SimulatorConfig};
use agol_seat_broker::seats::dynamo::{DynamoLedger, client_for_endpoint, create_table};
use agol_seat_broker::seats::{AuditLog, Claim, ClaimState, ClaimStore};
use agol_seat_broker::startup::{self, AppParts, JobQueue};

/// The spec's published test secret: never a real one.
pub const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const ADMIN: &str = "broker_admin";
pub const STATUS_TOKEN: &str = "status-token-for-tests-0123456789";
pub const ADMIN_PASSWORD: &str = "Sim-Admin-Pass-42";

pub const RULES: &str = r#"
    [[pools]]
    name = "acme"
    seats = 150
    role = "viewer"
    user_type = "viewerUT"
    groups = ["Partners", "Field data"]
    [pools.match]
    email_domains = ["acme.org"]

    [[pools]]
    name = "city"
    seats = 5
    role = "publisher"
    user_type = "creatorUT"
    groups = ["Partners"]
    invitation = "password"
    [pools.match]
    email_domains = ["city.example"]
"#;

pub struct Options {
    pub rules: &'static str,
    /// Portal budget per request.
    pub deadline: Duration,
    pub sim: SimulatorConfig,
    /// Senders switched on besides Standard Webhooks.
    pub sources: agol_seat_broker::intake::sources::Sources,
    /// Where the Okta and Entra hooks queue members.
    pub queue: QueueMode,
    /// Timeout of one portal HTTP request (default: the deadline, at most 2 s).
    pub request_timeout: Option<Duration>,
    /// Approval notices and links.
    pub approvals: agol_seat_broker::provisioning::ApprovalWiring,
    /// Link checking and Slack buttons.
    pub approval_routes: agol_seat_broker::entrypoints::http::ApprovalConfig,
    /// Seconds of `stale_reservation` (how long a RESERVED claim is "in progress").
    pub stale_reservation: Duration,
    /// The administrator's page (off by default).
    pub admin: Option<agol_seat_broker::entrypoints::http::admin::AdminSettings>,
    /// Changes `sources` once the simulator runs (settings that name its
    /// address, e.g. a Survey123 source's `layer_url`).
    pub sources_with_sim: Option<SourcesWithSim>,
    /// Where refused identity-provider secrets are read again (none by
    /// default).
    pub provider_secrets: Option<agol_seat_broker::intake::profiles::ProviderSecretRefresh>,
}

/// See [`Options::sources_with_sim`].
pub type SourcesWithSim =
    Box<dyn FnOnce(&RunningSimulator, &mut agol_seat_broker::intake::sources::Sources) + Send>;

/// The job queue behind the hooks.
pub enum QueueMode {
    /// No queue: the hooks run the whole workflow in the request.
    None,
    /// The local server's in-process worker.
    Local(LocalWorkerSettings),
    /// Any other sink (SQS against an emulator).
    Sink(Arc<dyn agol_seat_broker::queue::JobSink>),
}

impl Default for Options {
    fn default() -> Self {
        let sim = SimulatorConfig {
            admin: SimAccount {
                username: ADMIN.into(),
                password: ADMIN_PASSWORD.into(),
            },
            // The administrator holds no seat here, so every member the
            // simulator lists is one the broker created.
            admin_user_type: None,
            groups: vec!["Partners".into(), "Field data".into()],
            ..SimulatorConfig::default()
        };
        Options {
            rules: RULES,
            deadline: Duration::from_secs(5),
            sim,
            sources: Default::default(),
            queue: QueueMode::None,
            stale_reservation: WorkflowSettings::default().stale_reservation,
            request_timeout: None,
            approvals: Default::default(),
            approval_routes: Default::default(),
            admin: None,
            sources_with_sim: None,
            provider_secrets: None,
        }
    }
}

pub struct TestApp {
    pub url: String,
    pub sim: RunningSimulator,
    pub ledger: Arc<DynamoLedger>,
    pub ddb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub key: SigningKey,
    pub http: reqwest::Client,
    pub clock: Arc<AtomicI64>,
    pub state: Arc<AppState<DynamoLedger, ArcGisPortal>>,
}

pub fn dynamodb_endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT").unwrap_or_else(|_| {
        panic!("DYNAMODB_ENDPOINT is not set: run the tests with scripts/test.sh (it starts DynamoDB Local)")
    })
}

pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::AtomicU32;
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        now_millis(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn arcgis_config(base_url: &str, deadline: Duration) -> ArcGisConfig {
    let mut cfg = ArcGisConfig::new(base_url, "agol-seat-broker-tests");
    cfg.request_timeout = deadline.min(Duration::from_secs(2));
    cfg.deadline = deadline;
    cfg.max_attempts = 3;
    cfg.base_backoff = Duration::from_millis(10);
    cfg.max_backoff = Duration::from_millis(50);
    cfg
}

pub async fn spawn_app(opts: Options) -> TestApp {
    let sim = simulator::spawn(opts.sim).await.expect("simulator starts");
    let mut sources = opts.sources;
    if let Some(configure) = opts.sources_with_sim {
        configure(&sim, &mut sources);
    }
    let ddb = client_for_endpoint(Some(&dynamodb_endpoint())).await;
    let table = unique("api");
    create_table(&ddb, &table).await.expect("table created");
    let ledger = Arc::new(DynamoLedger::new(ddb.clone(), &table));
    let portal = Arc::new(
        ArcGisPortal::new(
            {
                let mut cfg = arcgis_config(&sim.base_url(), opts.deadline);
                if let Some(t) = opts.request_timeout {
                    cfg.request_timeout = t;
                }
                cfg
            },
            Credentials::new(ADMIN, ADMIN_PASSWORD),
        )
        .expect("client builds"),
    );
    let rules = Rules::from_toml(opts.rules).expect("rules load");
    let workflow = WorkflowSettings {
        deadline: opts.deadline,
        stale_reservation: opts.stale_reservation,
        ..WorkflowSettings::default()
    };
    let clock = Arc::new(AtomicI64::new(now_millis()));
    let c = clock.clone();
    let key = SigningKey::parse(SECRET).expect("test secret parses");
    let jobs = match opts.queue {
        QueueMode::None => JobQueue::None,
        QueueMode::Local(settings) => JobQueue::Local {
            settings,
            journal: None,
        },
        QueueMode::Sink(sink) => JobQueue::Sink(sink),
    };
    let built = startup::app(
        ledger.clone(),
        portal,
        AppParts {
            workflow,
            tolerance_secs: 300,
            status_tokens: vec![agol_seat_broker::config::Secret::new(STATUS_TOKEN)],
            sources,
            jobs,
            approval_routes: opts.approval_routes,
            approvals: opts.approvals,
            admin: opts.admin,
            clock: Clock::from_fn(move || c.load(Ordering::SeqCst)),
            ids: Ids::random(),
            provider_secrets: opts.provider_secrets,
            ..AppParts::new(rules, vec![key.clone()])
        },
    )
    .await
    .expect("app builds");
    let state = built.state;
    let app = built.router;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    TestApp {
        url,
        sim,
        ledger,
        ddb,
        table,
        key,
        http: reqwest::Client::new(),
        clock,
        state,
    }
}

impl TestApp {
    pub fn now_secs(&self) -> i64 {
        self.clock.load(Ordering::SeqCst) / 1000
    }

    /// Posts a correctly signed Standard Webhooks delivery.
    pub async fn post_signup(&self, id: &str, body: &serde_json::Value) -> reqwest::Response {
        let raw = serde_json::to_vec(body).expect("json");
        let ts = self.now_secs();
        let sig = self.key.sign(id, ts, &raw);
        self.post_raw(
            &[
                ("webhook-id", id),
                ("webhook-timestamp", &ts.to_string()),
                ("webhook-signature", &sig),
            ],
            raw,
        )
        .await
    }

    pub async fn post_raw(&self, headers: &[(&str, &str)], body: Vec<u8>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}/webhooks/standard", self.url))
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("request sent")
    }

    pub async fn claims(&self, pool: &str) -> Vec<Claim> {
        self.ledger
            .claims(&PoolId::parse(pool).unwrap())
            .await
            .expect("claims readable")
    }

    pub async fn used(&self, pool: &str) -> u32 {
        self.ledger
            .usage(&PoolId::parse(pool).unwrap())
            .await
            .expect("usage readable")
            .used
    }

    pub async fn active_claims(&self, pool: &str) -> usize {
        self.claims(pool)
            .await
            .iter()
            .filter(|c| c.state == ClaimState::Active)
            .count()
    }

    /// Waits until `n` members have been recorded as created in the audit
    /// trail: the worker's last new item after a queued creation, so an item
    /// count taken afterwards is not racing the worker.
    pub async fn members_recorded(&self, n: usize) -> bool {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let events = self
                .ledger
                .audit_since(0, 10_000)
                .await
                .expect("audit readable");
            let created = events
                .iter()
                .filter(|e| e.action == "member.created")
                .count();
            if created >= n {
                return created == n;
            }
            if std::time::Instant::now() > until {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Every item in the ledger table (to prove that nothing was written).
    pub async fn item_count(&self) -> usize {
        let out = self
            .ddb
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .send()
            .await
            .expect("scan");
        out.items().len()
    }
}

pub fn signup(email: &str) -> serde_json::Value {
    serde_json::json!({"email": email, "first_name": "Ana", "last_name": "Lopez", "organization": "Acme"})
}

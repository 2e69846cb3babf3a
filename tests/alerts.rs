//! Usage alerts through the real scheduled entry point
//! (`entrypoints::worker::handle_event` with an EventBridge "Scheduled
//! Event", what the worker Lambda runs every 15 minutes and the local
//! server's loop runs every minute), on the memory and SQLite ledgers, with
//! the real Slack/Teams webhook notifier posting to a local sink that
//! records each message's text (as `tests/api/approvals.rs` captures
//! approval notices).
//!
//! Shown: exactly one alert per crossing across up, down and up again (and
//! a note when the use falls back), one alert naming the highest threshold
//! when several are jumped, user types from the organization's licence
//! counts (a portal failure skips them, never the run), two runs at once
//! sending one alert, and reconciliation's drift told once per episode.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agol_seat_broker::config::{Secret, WorkflowSettings};
use agol_seat_broker::domain::{ClaimKey, PoolId};
use agol_seat_broker::entrypoints::worker::handle_event;
use agol_seat_broker::notify::Notifier;
use agol_seat_broker::notify::webhook::WebhookNotifier;
use agol_seat_broker::policy::{Policy, Rules};
use agol_seat_broker::portal::fake::FakePortal;
use agol_seat_broker::portal::{Member, PortalError};
use agol_seat_broker::provisioning::alerts::{Alerted, Drift};
use agol_seat_broker::provisioning::{ApprovalWiring, Provisioner};
use agol_seat_broker::queue::JobSink;
use agol_seat_broker::seats::faulty::{FaultyLedger, StoreOp};
use agol_seat_broker::seats::memory::MemoryLedger;
use agol_seat_broker::seats::sqlite::SqliteLedger;
use agol_seat_broker::seats::{Reservation, SeatLedger};
use serde_json::{Value, json};

/// `acme`: 10 seats, the default thresholds (80, 95, 100); `quiet`:
/// silenced; user types at 50 and 100 %.
const RULES: &str = r#"
    [[pools]]
    name = "acme"
    seats = 10
    role = "viewer"
    user_type = "viewerUT"
    [pools.match]
    email_domains = ["acme.org"]

    [[pools]]
    name = "quiet"
    seats = 1
    role = "viewer"
    user_type = "viewerUT"
    [pools.match]
    email_domains = ["quiet.org"]
    [pools.alerts]
    thresholds = []

    [alerts]
    user_type_thresholds = [50, 100]
"#;

/// A local incoming webhook recording the `text` of each post.
async fn sink() -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let g = g.clone();
            async move {
                g.lock()
                    .unwrap()
                    .push(v["text"].as_str().unwrap_or_default().to_string());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

struct World<L> {
    provisioner: Arc<Provisioner<L, FakePortal>>,
    portal: Arc<FakePortal>,
    jobs: Arc<dyn JobSink>,
    texts: Arc<Mutex<Vec<String>>>,
    /// Claim ids of the seats taken, by person.
    held: Vec<(ClaimKey, String)>,
    /// People made so far (each seat goes to a new one).
    people: usize,
}

impl<L: SeatLedger> World<L> {
    async fn new(ledger: Arc<L>) -> Self {
        let (url, texts) = sink().await;
        let notifier: Arc<dyn Notifier> = Arc::new(WebhookNotifier::new(Secret::new(url)).unwrap());
        let portal = Arc::new(FakePortal::new("org1", &[]));
        let provisioner = Provisioner::new(
            ledger,
            portal.clone(),
            Arc::new(Policy::new(Rules::from_toml(RULES).unwrap())),
            WorkflowSettings::default(),
        )
        .with_approvals(ApprovalWiring {
            notifiers: vec![notifier],
            links: None,
            mailer: None,
        });
        let (jobs, _worker) = agol_seat_broker::queue::local::channel();
        World {
            provisioner: Arc::new(provisioner),
            portal,
            jobs: Arc::new(jobs),
            texts,
            held: Vec::new(),
            people: 0,
        }
    }

    /// One scheduled run, as EventBridge invokes the worker.
    async fn scheduled_run(&self) {
        let event = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        handle_event(
            self.provisioner.clone(),
            self.jobs.clone(),
            event,
            5,
            Duration::from_secs(3600),
            "broker_admin",
        )
        .await
        .unwrap();
    }

    /// Takes seats of `acme` until `n` are used.
    async fn use_seats(&mut self, n: usize) {
        while self.held.len() < n {
            self.people += 1;
            let key = ClaimKey {
                pool: PoolId::parse("acme").unwrap(),
                person: format!("p{}@acme.org", self.people),
            };
            let now = self.provisioner.clock().now();
            let r = self
                .provisioner
                .reserve_seat_for(&key, 10, "import:x", "someone", now)
                .await
                .unwrap();
            let Reservation::Reserved(claim) = r else {
                panic!("{r:?}")
            };
            self.held.push((key, claim.claim_id));
        }
        while self.held.len() > n {
            let (key, id) = self.held.pop().unwrap();
            assert!(self.provisioner.release_seat(&key, &id).await.unwrap());
        }
    }

    /// The messages sent since the last call.
    fn sent(&self) -> Vec<String> {
        std::mem::take(&mut *self.texts.lock().unwrap())
    }
}

/// 7, 8, 8, 9 (up, stays), 7 (down), 8 (up again), 10 (jumps 95 and 100).
async fn up_down_and_up_again<L: SeatLedger>(ledger: Arc<L>) {
    let mut w = World::new(ledger).await;
    w.use_seats(7).await;
    w.scheduled_run().await;
    assert_eq!(
        w.sent(),
        Vec::<String>::new(),
        "70 %: under every threshold"
    );

    w.use_seats(8).await;
    w.scheduled_run().await;
    assert_eq!(
        w.sent(),
        ["Pool acme is at 80 % (8 of 10 seats) — crossed 80 %"]
    );
    w.scheduled_run().await;
    w.use_seats(9).await;
    w.scheduled_run().await;
    assert_eq!(
        w.sent(),
        Vec::<String>::new(),
        "still above 80 %: once per crossing"
    );

    w.use_seats(7).await;
    w.scheduled_run().await;
    assert_eq!(w.sent(), ["Pool acme is back under 80 % (7 of 10 seats)"]);
    w.scheduled_run().await;
    assert_eq!(w.sent(), Vec::<String>::new());

    w.use_seats(8).await;
    w.scheduled_run().await;
    assert_eq!(
        w.sent(),
        ["Pool acme is at 80 % (8 of 10 seats) — crossed 80 %"],
        "crossed again after falling back"
    );

    w.use_seats(10).await;
    w.scheduled_run().await;
    w.scheduled_run().await;
    assert_eq!(
        w.sent(),
        ["Pool acme is at 100 % (10 of 10 seats) — crossed 100 %"],
        "one alert naming the highest threshold jumped"
    );
}

#[tokio::test]
async fn alerts_fire_once_per_crossing_up_down_and_up_again_on_the_memory_ledger() {
    up_down_and_up_again(Arc::new(MemoryLedger::new())).await;
}

#[tokio::test]
async fn alerts_fire_once_per_crossing_up_down_and_up_again_on_the_sqlite_ledger() {
    up_down_and_up_again(Arc::new(SqliteLedger::open_in_memory().unwrap())).await;
}

/// Two runs evaluating the same crossing: the first is stopped just before
/// its conditional write, the second runs whole and sends, then the first
/// goes on; its write is refused and it sends nothing. Then two runs at
/// once, unaided: still one alert.
#[tokio::test]
async fn two_runs_at_once_send_one_alert() {
    let ledger = Arc::new(FaultyLedger::new(Arc::new(MemoryLedger::new())));
    let mut w = World::new(ledger.clone()).await;
    w.use_seats(8).await;
    let pause = ledger.pause(StoreOp::AlertLevel);
    let first = {
        let w_provisioner = w.provisioner.clone();
        let jobs = w.jobs.clone();
        tokio::spawn(async move {
            let event = json!({"detail-type": "Scheduled Event"});
            handle_event(
                w_provisioner,
                jobs,
                event,
                5,
                Duration::from_secs(3600),
                "broker_admin",
            )
            .await
            .unwrap();
        })
    };
    pause.reached().await;
    w.scheduled_run().await;
    assert_eq!(w.sent().len(), 1);
    pause.resume();
    first.await.unwrap();
    assert_eq!(w.sent(), Vec::<String>::new(), "the late run sends nothing");

    w.use_seats(10).await;
    tokio::join!(w.scheduled_run(), w.scheduled_run());
    assert_eq!(
        w.sent(),
        ["Pool acme is at 100 % (10 of 10 seats) — crossed 100 %"]
    );
}

/// User types come from the organization's licence counts (purchased,
/// assigned), with `[alerts] user_type_thresholds`; a portal that cannot
/// say skips them for that run and the pools are still checked.
#[tokio::test]
async fn user_types_are_alerted_from_the_licence_counts_and_a_portal_failure_skips_only_them() {
    let mut w = World::new(Arc::new(MemoryLedger::new())).await;
    w.portal.set_purchased("creatorUT", 4);
    let member = |name: &str| Member {
        username: name.into(),
        user_type: Some("creatorUT".into()),
        ..Member::default()
    };
    w.portal.add_member(member("ana_acme"));
    w.scheduled_run().await;
    assert_eq!(w.sent(), Vec::<String>::new(), "25 %");

    w.portal.add_member(member("bo_acme"));
    w.portal
        .fail_next_license_counts(PortalError::Unavailable("down".into()));
    w.use_seats(8).await;
    w.scheduled_run().await;
    assert_eq!(
        w.sent(),
        ["Pool acme is at 80 % (8 of 10 seats) — crossed 80 %"],
        "the pools are checked while the portal is down"
    );
    w.scheduled_run().await;
    assert_eq!(
        w.sent(),
        ["User type creatorUT is at 50 % (2 of 4 licences) — crossed 50 %"]
    );
    w.scheduled_run().await;
    assert_eq!(w.sent(), Vec::<String>::new());
}

/// Reconciliation's drift: told when found, not again while it lasts, a
/// note when gone, told again when it comes back.
#[tokio::test]
async fn drift_is_told_once_per_episode() {
    let w = World::new(Arc::new(SqliteLedger::open_in_memory().unwrap())).await;
    let drift = Drift {
        differences: 2,
        examples: vec![
            "ana_acme holds a seat of acme but is not a member".into(),
            "bo_acme is a member without a seat".into(),
        ],
    };
    let now = 4_102_444_800_000;
    assert_eq!(
        w.provisioner.report_drift(&drift, now).await.unwrap(),
        Alerted::Sent
    );
    assert_eq!(
        w.sent(),
        [
            "Reconciliation found drift: 2 differences between the ledger and the organization\n- ana_acme holds a seat of acme but is not a member\n- bo_acme is a member without a seat"
        ]
    );
    assert_eq!(
        w.provisioner.report_drift(&drift, now).await.unwrap(),
        Alerted::Nothing
    );
    let none = Drift::default();
    w.provisioner.report_drift(&none, now).await.unwrap();
    w.provisioner.report_drift(&none, now).await.unwrap();
    assert_eq!(
        w.sent(),
        ["Reconciliation found no drift any more: the ledger and the organization agree"]
    );
    w.provisioner.report_drift(&drift, now).await.unwrap();
    assert_eq!(w.sent().len(), 1);
}

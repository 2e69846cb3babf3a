//! The seat's life after sign-up, end to end in simulated time (issue 14):
//! real sign-ups through the workflow into an SQLite ledger, the ArcGIS
//! client talking HTTP to the portal simulator, both on clocks the test
//! moves. Members reach their warning, their end and their idle limit;
//! the pool's action happens in the simulator; seats come back; the
//! waitlist advances; the notices are captured by the simulator.

use std::sync::Arc;
use std::time::Duration;

use agol_seat_broker::clock::{Clock, ManualTime};
use agol_seat_broker::config::WorkflowSettings;
use agol_seat_broker::domain::{
    ClaimKey, DeliveryKey, Email, Overrides, PoolId, RequestState, SignupRequest, UnixMillis,
};
use agol_seat_broker::policy::{Policy, Rules};
use agol_seat_broker::portal::arcgis::{ArcGisConfig, ArcGisPortal, Credentials};
use agol_seat_broker::portal::simulator::{
    PortalSimulator, RunningSimulator, SimAccount, SimRole, SimulatorConfig,
};
use agol_seat_broker::provisioning::reclaim::{Done, SCHEDULE_ACTOR, SeatActionError};
use agol_seat_broker::provisioning::{Creation, Outcome, Provisioner};
use agol_seat_broker::seats::sqlite::SqliteLedger;
use agol_seat_broker::seats::{AuditLog, ClaimState, ClaimStore, RequestStore};

const ADMIN: &str = "broker_admin";
const PASSWORD: &str = "Sim-Admin-Pass-42";
/// 2027-01-04T00:00:00Z.
const T0: UnixMillis = 1_799_020_800_000;
const DAY: i64 = 86_400_000;
/// A custom administrator role of the simulated organization.
const DEPUTY: &str = "dEpUtYaDmInRoLe1";

const RULES: &str = r#"
[[pools]]
name = "acme"
seats = 3
role = "viewer"
user_type = "viewerUT"
invitation = "password"
waitlist = true
[pools.match]
email_domains = ["acme.org"]
[pools.lifecycle]
expires_after_days = 30
warn_before_days = 7
at_end = "delete"
reclaim_after_days_inactive = 10
reclaim_never_signed_in_after_days = 5

[[pools]]
name = "crew"
seats = 2
role = "user"
user_type = "creatorUT"
invitation = "password"
[pools.match]
email_domains = ["crew.org"]
[pools.lifecycle]
expires_after_days = 20
at_end = "downgrade"
downgrade_to = { role = "viewer", user_type = "viewerUT" }
"#;

struct World {
    sim: RunningSimulator,
    sim_time: ManualTime,
    time: ManualTime,
    clock: Clock,
    p: Arc<Provisioner<SqliteLedger, ArcGisPortal>>,
    ledger: Arc<SqliteLedger>,
    _dir: tempdir::Dir,
    n: std::sync::atomic::AtomicU32,
}

mod tempdir {
    /// A scratch directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl World {
    async fn new() -> World {
        World::with_rules(RULES).await
    }

    /// A world whose broker follows `rules`.
    async fn with_rules(rules: &str) -> World {
        let (sim_clock, sim_time) = Clock::manual(T0);
        let sim = PortalSimulator::with_clock(
            SimulatorConfig {
                admin: SimAccount {
                    username: ADMIN.into(),
                    password: PASSWORD.into(),
                },
                custom_roles: vec![SimRole {
                    id: DEPUTY.into(),
                    name: "Deputy administrator".into(),
                    description: "A custom administrator role".into(),
                    base_role: "org_admin".into(),
                    viewer_compatible: false,
                }],
                ..SimulatorConfig::default()
            },
            sim_clock,
        )
        .start(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
        let (clock, time) = Clock::manual(T0);
        let mut cfg = ArcGisConfig::new(sim.base_url(), "lifecycle-test");
        cfg.clock = clock.clone();
        cfg.deadline = Duration::from_secs(5);
        let portal = Arc::new(ArcGisPortal::new(cfg, Credentials::new(ADMIN, PASSWORD)).unwrap());
        // One store per world: tests run in parallel, often in the same
        // millisecond.
        static WORLDS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "agol-lifecycle-{}-{}-{}",
            std::process::id(),
            agol_seat_broker::clock::now_millis(),
            WORLDS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ledger = Arc::new(SqliteLedger::open(dir.join("ledger.db")).unwrap());
        let p = Arc::new(
            Provisioner::new(
                ledger.clone(),
                portal,
                Arc::new(Policy::new(Rules::from_toml(rules).unwrap())),
                WorkflowSettings::default(),
            )
            .with_clock(clock.clone()),
        );
        World {
            sim,
            sim_time,
            time,
            clock,
            p,
            ledger,
            _dir: tempdir::Dir(dir),
            n: Default::default(),
        }
    }

    fn days(&self, days: i64) {
        let to = self.time.now() + days * DAY;
        self.time.set(to);
        self.sim_time.set(to);
    }

    async fn sign_up(&self, email: &str) -> Outcome {
        let n = self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let key = DeliveryKey {
            source: "standard".into(),
            id: format!("d{n}"),
        };
        let req = SignupRequest {
            email: Email::parse(email).unwrap(),
            first_name: Some("Test".into()),
            last_name: Some("Person".into()),
            username: None,
            organization: None,
            pool: None,
            attributes: Default::default(),
        };
        self.p
            .sign_up(
                &key,
                &format!("h{n}"),
                &req,
                &Overrides::default(),
                Creation::InRequest,
                self.clock.now(),
            )
            .await
            .outcome
    }

    async fn run(&self) -> agol_seat_broker::provisioning::reclaim::LifecycleReport {
        self.p
            .run_lifecycle(ADMIN, None, SCHEDULE_ACTOR, self.clock.now())
            .await
            .expect("the lifecycle runs")
    }

    async fn used(&self, pool: &str) -> u32 {
        self.ledger
            .usage(&PoolId::parse(pool).unwrap())
            .await
            .unwrap()
            .used
    }

    fn notices_to(&self, username: &str) -> Vec<String> {
        self.sim
            .notifications()
            .into_iter()
            .filter(|n| n.username == username)
            .map(|n| n.subject)
            .collect()
    }
}

fn key(pool: &str, person: &str) -> ClaimKey {
    ClaimKey {
        pool: PoolId::parse(pool).unwrap(),
        person: person.into(),
    }
}

fn username(o: &Outcome) -> String {
    match o {
        Outcome::Provisioned { username, .. } => username.clone(),
        other => panic!("expected a member, got {other:?}"),
    }
}

#[tokio::test]
async fn seats_are_warned_ended_and_reclaimed_in_simulated_time_and_the_waitlist_advances() {
    let w = World::new().await;
    let ana = username(&w.sign_up("ana@acme.org").await);
    let bo = username(&w.sign_up("bo@acme.org").await);
    let cy = username(&w.sign_up("cy@acme.org").await);
    assert!(matches!(
        w.sign_up("dee@acme.org").await,
        Outcome::Waitlisted { .. }
    ));
    // Ana and Bo use their accounts; Cy never signs in.
    w.sim.sign_in(&ana, T0 + DAY);
    w.sim.sign_in(&bo, T0 + DAY);

    // Day 4: nothing is due yet.
    w.days(4);
    let report = w.run().await;
    assert!(report.applied.is_empty(), "{report:?}");

    // Day 6: Cy never signed in within 5 days: deleted, the seat comes
    // back and Dee, first on the waitlist, is admitted.
    w.days(2);
    let report = w.run().await;
    assert_eq!(report.applied.len(), 1, "{report:?}");
    assert_eq!(report.applied[0].planned.username, cy);
    assert_eq!(report.applied[0].done, Done::Deleted);
    assert!(report.applied[0].told);
    assert_eq!(report.admitted, 1);
    assert!(w.sim.member(&cy).is_none(), "deleted in the portal");
    assert_eq!(w.notices_to(&cy).len(), 1, "told before the deletion");
    assert!(
        w.ledger
            .claim(&key("acme", "cy@acme.org"))
            .await
            .unwrap()
            .is_none()
    );
    let dee = w
        .ledger
        .requests(&PoolId::parse("acme").unwrap(), RequestState::Approved)
        .await
        .unwrap();
    assert_eq!(dee.len(), 1, "Dee's request admitted");
    assert_eq!(dee[0].key.person, "dee@acme.org");
    assert_eq!(w.used("acme").await, 3, "Dee holds the freed seat");
    let dee = w
        .ledger
        .claim(&key("acme", "dee@acme.org"))
        .await
        .unwrap()
        .and_then(|c| c.username)
        .expect("Dee's seat");
    assert!(w.sim.member(&dee).is_some(), "Dee is a member");

    // Keep Ana and Bo active; an administrator extends Ana to day 45.
    w.sim.sign_in(&ana, T0 + 6 * DAY);
    w.sim.sign_in(&bo, T0 + 6 * DAY);
    let extended =
        w.p.extend_seat(
            &key("acme", "ana@acme.org"),
            T0 + 45 * DAY,
            "admin:root",
            w.clock.now(),
        )
        .await
        .unwrap();
    assert_eq!(extended.extended_until, Some(T0 + 45 * DAY));

    // Day 24: within 7 days of day 30 Bo is warned, once; Ana is not.
    for day in [24, 25] {
        w.days(day - (w.clock.now() - T0) / DAY);
        for u in [&ana, &bo, &dee] {
            w.sim.sign_in(u, w.clock.now());
        }
        let report = w.run().await;
        if day == 24 {
            assert_eq!(report.applied.len(), 1, "{report:?}");
            assert_eq!(report.applied[0].planned.username, bo);
            assert!(matches!(report.applied[0].done, Done::Warned { .. }));
        } else {
            assert!(report.applied.is_empty(), "warned once: {report:?}");
        }
    }
    assert_eq!(w.notices_to(&bo).len(), 1);
    assert!(w.notices_to(&ana).is_empty());
    let bo_claim = w.ledger.claim(&key("acme", "bo@acme.org")).await.unwrap();
    assert!(bo_claim.unwrap().warned_at.is_some());

    // Day 30: Bo's seat ends (deleted); Ana's, extended, does not; Dee,
    // admitted on day 6, is warned of her end on day 36.
    w.days(5);
    w.sim.sign_in(&ana, w.clock.now());
    w.sim.sign_in(&dee, w.clock.now());
    let report = w.run().await;
    let ended: Vec<_> = report
        .applied
        .iter()
        .map(|a| (a.planned.username.clone(), a.done.clone()))
        .collect();
    assert_eq!(
        ended,
        [
            (bo.clone(), Done::Deleted),
            (
                dee.clone(),
                Done::Warned {
                    ends_at: T0 + 36 * DAY
                }
            )
        ]
    );
    assert!(w.sim.member(&bo).is_none());
    assert!(w.sim.member(&ana).is_some());
    assert_eq!(w.notices_to(&bo).len(), 2, "the warning, then the end");

    // A second run the same day changes nothing.
    assert!(w.run().await.applied.is_empty());

    // The audit trail says what happened and who did it.
    let trail = w.ledger.audit_since(T0, 500).await.unwrap();
    let actions: Vec<_> = trail
        .iter()
        .filter(|e| e.action.starts_with("seat."))
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("seat.deleted", SCHEDULE_ACTOR),
            ("seat.extended", "admin:root"),
            ("seat.warned", SCHEDULE_ACTOR),
            ("seat.deleted", SCHEDULE_ACTOR),
            ("seat.warned", SCHEDULE_ACTOR),
        ]
    );
}

#[tokio::test]
async fn a_downgrade_changes_the_role_then_the_user_type_and_gives_the_seat_back() {
    let w = World::new().await;
    let creators_before = w.sim.assigned("creatorUT");
    let kim = username(&w.sign_up("kim@crew.org").await);
    assert_eq!(w.sim.assigned("creatorUT"), creators_before + 1);
    assert_eq!(w.sim.member(&kim).unwrap().user_type, "creatorUT");
    w.sim.sign_in(&kim, T0);
    w.days(21);
    let report = w.run().await;
    assert_eq!(report.applied.len(), 1, "{report:?}");
    assert!(matches!(report.applied[0].done, Done::Downgraded { .. }));
    let member = w.sim.member(&kim).unwrap();
    assert_eq!(
        (member.role.as_str(), member.user_type.as_str()),
        ("iAAAAAAAAAAAAAAA", "viewerUT")
    );
    assert_eq!(w.used("crew").await, 0, "the seat is back");
    assert_eq!(
        w.sim.assigned("creatorUT"),
        creators_before,
        "the licence is free"
    );
}

#[tokio::test]
async fn a_member_who_owns_content_is_disabled_not_deleted_and_keeps_the_seat() {
    let w = World::new().await;
    let ana = username(&w.sign_up("ana@acme.org").await);
    w.sim.seed_item(&ana, "Field map");
    w.days(6); // never signed in for 5 days
    let report = w.run().await;
    assert_eq!(
        report.applied[0].done,
        Done::Disabled { owns_content: true },
        "{report:?}"
    );
    let member = w.sim.member(&ana).expect("not deleted");
    assert!(member.disabled);
    assert_eq!(w.used("acme").await, 1, "the portal still counts it");
    let claim = w.ledger.claim(&key("acme", "ana@acme.org")).await.unwrap();
    assert_eq!(claim.unwrap().state, ClaimState::Active);
    // The next run leaves the disabled member alone and says why.
    let again = w.run().await;
    assert!(again.applied.is_empty(), "{again:?}");
    assert_eq!(again.skipped.len(), 1);
}

#[tokio::test]
async fn a_portal_that_fails_leaves_the_seat_active_and_the_next_run_finishes() {
    use agol_seat_broker::portal::simulator::{Fault, FaultKind};
    let w = World::new().await;
    let ana = username(&w.sign_up("ana@acme.org").await);
    w.days(6);
    w.sim.inject(Fault {
        endpoint: Some("delete".into()),
        kind: FaultKind::HttpStatus(503),
        times: Some(50),
    });
    let report = w.run().await;
    assert!(
        matches!(report.applied[0].done, Done::NotDone { .. }),
        "{report:?}"
    );
    assert!(w.sim.member(&ana).is_some());
    assert_eq!(w.used("acme").await, 1, "unknown is not failed");
    w.sim.clear_faults();
    let report = w.run().await;
    assert_eq!(report.applied[0].done, Done::Deleted);
    assert_eq!(w.used("acme").await, 0);
}

#[tokio::test]
async fn extend_and_reclaim_now_refuse_what_they_cannot_do() {
    let w = World::new().await;
    let now = w.clock.now();
    let nobody = key("acme", "nobody@acme.org");
    assert_eq!(
        w.p.extend_seat(&nobody, now + DAY, "admin:root", now)
            .await
            .unwrap_err(),
        SeatActionError::NotFound
    );
    let ana = username(&w.sign_up("ana@acme.org").await);
    let k = key("acme", "ana@acme.org");
    assert_eq!(
        w.p.extend_seat(&k, now - 1, "admin:root", now)
            .await
            .unwrap_err()
            .code(),
        "end_in_past"
    );
    // Reclaim now: ended with the pool's action, at once.
    let report =
        w.p.reclaim_seat_now(&k, None, "admin:root", now)
            .await
            .unwrap();
    assert_eq!(report.applied[0].done, Done::Deleted);
    assert!(w.sim.member(&ana).is_none());
    assert_eq!(
        w.p.reclaim_seat_now(&k, None, "admin:root", now)
            .await
            .unwrap_err(),
        SeatActionError::NotFound
    );
}

/// The scheduled function's own entry point: `{"task": "lifecycle"}`
/// reconciles first (a member deleted outside the broker gives its seat
/// back), then runs the seat's life (a never-signed-in member is ended),
/// and answers with the numbers.
#[tokio::test]
async fn the_scheduled_task_reconciles_then_runs_the_lifecycle() {
    use agol_seat_broker::entrypoints::worker::{WorkerReply, handle_event};
    use agol_seat_broker::queue::{BoxFuture, Job, JobSink, QueueError};

    struct NoJobs;
    impl JobSink for NoJobs {
        fn enqueue<'a>(&'a self, _job: &'a Job) -> BoxFuture<'a, Result<(), QueueError>> {
            Box::pin(async { Ok(()) })
        }
    }

    let w = World::new().await;
    let ana = username(&w.sign_up("ana@acme.org").await);
    let bo = username(&w.sign_up("bo@acme.org").await);
    w.sim.sign_in(&bo, T0);
    assert!(w.sim.remove_member(&ana), "deleted outside the broker");
    w.days(6);
    w.sim.sign_in(&bo, w.clock.now());
    let cy = username(&w.sign_up("cy@acme.org").await);
    w.days(6); // Cy never signed in for 6 days; Bo did 6 days ago.
    w.sim.sign_in(&bo, w.clock.now());

    let reply = handle_event(
        w.p.clone(),
        Arc::new(NoJobs),
        serde_json::json!({"task": "lifecycle"}),
        5,
        Duration::from_secs(3600),
        ADMIN,
    )
    .await
    .expect("the task runs");
    let WorkerReply::Lifecycle(summary) = reply else {
        panic!("a lifecycle reply: {reply:?}");
    };
    assert_eq!(
        (summary.ended, summary.seats_returned),
        (1, 1),
        "{summary:?}"
    );
    assert!(
        w.ledger
            .claim(&key("acme", "ana@acme.org"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(w.sim.member(&cy).is_none(), "Cy's seat ended");
    assert!(w.sim.member(&bo).is_some());
    assert_eq!(w.used("acme").await, 1);
    let trail = w.ledger.audit_since(T0, 500).await.unwrap();
    let did = |action: &str| trail.iter().filter(|e| e.action == action).count();
    assert_eq!((did("reconcile.released"), did("seat.deleted")), (1, 1));
}

/// The cost of the seat's life, counted: a run reads the organization's
/// members once for every pool (and its roles once, when a member holds a
/// role id); ending a seat by deletion costs one notice
/// and one deletion, a downgrade one notice and two changes (role, then
/// user type), a warning one notice.
#[tokio::test]
async fn ending_a_seat_costs_one_notice_and_the_pools_action_in_portal_calls() {
    let w = World::new().await;
    let ana = username(&w.sign_up("ana@acme.org").await);
    let kim = username(&w.sign_up("kim@crew.org").await);
    w.sim.sign_in(&ana, T0);
    w.sim.sign_in(&kim, T0);
    w.days(9); // Ana: 9 days idle (limit 10), Kim: nothing due yet.
    w.sim.sign_in(&kim, w.clock.now());
    // Calls of the run itself (a token renewed after days is not one).
    let calls = || w.sim.request_count("") - w.sim.request_count("generateToken");
    let before = calls();
    assert!(w.run().await.applied.is_empty());
    // One member listing, and one of the roles: Ana holds the Viewer role,
    // a role id rather than a built-in level, so whether it administers is
    // read from the roles' privileges (once per run).
    assert_eq!(calls() - before, 2, "one member listing, one roles listing");

    w.days(12); // Ana idle 21 days, Kim's seat (20 days) ended.
    let before = calls();
    let listings = w.sim.request_count("portals/self/users");
    let report = w.run().await;
    assert_eq!(report.applied.len(), 2, "{report:?}");
    assert_eq!(w.sim.request_count("portals/self/users") - listings, 1);
    assert_eq!(
        calls() - before,
        2 + (1 + 1) + (1 + 2),
        "listings + (notice + delete) + (notice + role + user type)"
    );
}

/// An administrator is never touched, also one whose role is a custom
/// administrator role (known by its privileges, not by `org_admin`).
#[tokio::test]
async fn a_member_with_a_custom_administrator_role_is_never_ended() {
    let w = World::new().await;
    let kim = username(&w.sign_up("kim@crew.org").await);
    let lee = username(&w.sign_up("lee@crew.org").await);
    // An administrator makes Kim a deputy administrator in the portal.
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{}/generateToken", w.sim.base_url()))
        .form(&[
            ("username", ADMIN),
            ("password", PASSWORD),
            ("client", "referer"),
            ("referer", "https://test"),
            ("f", "json"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let changed: serde_json::Value = http
        .post(format!("{}/portals/self/updateUserRole", w.sim.base_url()))
        .form(&[
            ("user", kim.as_str()),
            ("role", DEPUTY),
            ("token", token["token"].as_str().unwrap()),
            ("f", "json"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(changed["success"], true, "{changed}");
    w.days(21); // both seats (20 days) ended
    let report = w.run().await;
    let ended: Vec<_> = report
        .applied
        .iter()
        .map(|a| a.planned.username.clone())
        .collect();
    assert_eq!(ended, std::slice::from_ref(&lee), "{report:?}");
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].username, kim);
    assert_eq!(
        report.skipped[0].what,
        agol_seat_broker::provisioning::lifecycle::Skip::Administrator
    );
    assert_eq!(w.sim.member(&kim).unwrap().role, DEPUTY, "untouched");
}

/// "Reclaim now" refuses what the daily run never touches: a member on the
/// keep list, an administrator by the built-in role, and one by a custom
/// administrator role; nothing changes in the portal or the store.
#[tokio::test]
async fn reclaim_now_refuses_the_keep_list_and_administrators() {
    let w = World::with_rules(&format!("[lifecycle]\nkeep = [\"ana_acme\"]\n{RULES}")).await;
    let now = w.clock.now();
    let ana = username(&w.sign_up("ana@acme.org").await);
    assert_eq!(ana, "ana_acme");
    let cy = username(&w.sign_up("cy@crew.org").await);
    let dee = username(&w.sign_up("dee@crew.org").await);
    // Cy becomes an administrator, Dee a deputy (a custom role based on
    // org_admin), both in the portal, outside the broker.
    let admin = {
        let mut cfg = ArcGisConfig::new(w.sim.base_url(), "lifecycle-test");
        cfg.deadline = Duration::from_secs(5);
        ArcGisPortal::new(cfg, Credentials::new(ADMIN, PASSWORD)).unwrap()
    };
    use agol_seat_broker::portal::OrgAdmin;
    admin.update_role(&cy, "org_admin").await.unwrap();
    admin.update_role(&dee, DEPUTY).await.unwrap();

    for (pool, email, who) in [
        ("acme", "ana@acme.org", "keep list"),
        ("crew", "cy@crew.org", "organization administrator"),
        ("crew", "dee@crew.org", "organization administrator"),
    ] {
        let err =
            w.p.reclaim_seat_now(&key(pool, email), None, "admin:root", now)
                .await
                .unwrap_err();
        assert_eq!(err.code(), "seat_protected", "{email}: {err}");
        assert!(err.to_string().contains(who), "{email}: {err}");
    }
    for name in [&ana, &cy, &dee] {
        assert!(w.sim.member(name).is_some(), "{name} untouched");
    }
    assert_eq!(w.used("acme").await, 1);
    assert_eq!(w.used("crew").await, 2);
}

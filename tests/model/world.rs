//! One model case's world: the real workflow over a real ledger adapter,
//! the ArcGIS client talking HTTP to the portal simulator, a queue the
//! steps drain by hand, and two clocks (the broker's, the simulator's)
//! that time jumps move together. Runs steps, checks the invariant.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agol_seat_broker::clock::{Clock, ManualTime};
use agol_seat_broker::config::WorkflowSettings;
use agol_seat_broker::domain::{
    DeliveryKey, Email, Overrides, PoolId, PortalFlavour, RequestState, SignupRequest, UnixMillis,
    Verdict,
};
use agol_seat_broker::import::report::Quiet;
use agol_seat_broker::import::{self, ImportOptions};
use agol_seat_broker::policy::{Policy, Rules};
use agol_seat_broker::portal::arcgis::{ArcGisConfig, ArcGisPortal, Credentials};
use agol_seat_broker::portal::simulator::{
    self, FaultKind, PortalSimulator, RunningSimulator, SimAccount, SimulatorConfig,
};
use agol_seat_broker::provisioning::{Creation, DecisionOutcome, Outcome, Provisioner};
use agol_seat_broker::queue::{BoxFuture, Job, JobSink, QueueError};
use agol_seat_broker::seats::{ClaimState, Hold, SeatLedger, Stage};
use futures_util::future::join_all;
use tokio::net::TcpListener;

use super::steps::{Delivery, Fault, ImportRow, Pool, Setup, Step, Via};

const ADMIN: &str = "model_admin";
const PASSWORD: &str = "Model-Admin-Pass-1";
/// 2026-06-01T00:00:00Z.
const T0: UnixMillis = 1_780_272_000_000;
/// How late the slow faults answer.
const LATE: Duration = Duration::from_millis(250);
/// The portal deadline of one request.
const DEADLINE: Duration = Duration::from_millis(150);
/// Time jumps stop before invitations could lapse (14 days): their expiry
/// is the seat lifecycle's business, not this model's.
const MAX_JUMPED_MINUTES: u64 = 10 * 24 * 60;

/// The portal of the case: ArcGIS Online, or an Enterprise portal.
fn flavour(setup: &Setup) -> PortalFlavour {
    if setup.enterprise {
        PortalFlavour::Enterprise
    } else {
        PortalFlavour::Online
    }
}

fn rules(setup: &Setup) -> String {
    let acme_invitation = if setup.acme_by_email {
        "email"
    } else {
        "password"
    };
    format!(
        r#"
        [[pools]]
        name = "acme"
        seats = 3
        role = "viewer"
        user_type = "viewerUT"
        invitation = "{acme_invitation}"
        waitlist = true
        [pools.match]
        email_domains = ["acme.org"]
        [pools.lifecycle]
        expires_after_days = 2
        warn_before_days = 1
        reclaim_never_signed_in_after_days = 1
        at_end = "delete"

        [[pools]]
        name = "acme-creators"
        seats = 1
        role = "user"
        user_type = "creatorUT"
        invitation = "password"
        [pools.match]
        email_domains = ["acme.org"]

        [[pools]]
        name = "review"
        seats = 2
        role = "user"
        user_type = "creatorUT"
        approval = "manual"
        waitlist = true
        pending_expiry_hours = 24
        [pools.match]
        email_domains = ["review.org"]

        [[pools]]
        name = "quick"
        seats = 2
        role = "viewer"
        user_type = "viewerUT"
        approval = "manual"
        hold_seat = false
        pending_expiry_hours = 24
        invitation = "password"
        [pools.match]
        email_domains = ["quick.org"]
    "#
    )
}

fn domain(pool: Pool) -> &'static str {
    match pool {
        Pool::Acme => "acme.org",
        Pool::Review => "review.org",
        Pool::Quick => "quick.org",
    }
}

fn pool_id(pool: Pool) -> PoolId {
    PoolId::parse(match pool {
        Pool::Acme => "acme",
        Pool::Review => "review",
        Pool::Quick => "quick",
    })
    .expect("pool name")
}

/// The queue: jobs wait here until a step runs them.
#[derive(Default)]
pub struct Jobs(Mutex<Vec<Job>>);

impl JobSink for Jobs {
    fn enqueue<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<(), QueueError>> {
        self.lock().push(job.clone());
        Box::pin(async { Ok(()) })
    }
}

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Job>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
struct Made {
    /// Deliveries made: key, request, payload hash, how.
    deliveries: Vec<(DeliveryKey, SignupRequest, String, Via)>,
    /// Request ids seen.
    requests: Vec<String>,
    /// E-mails an import changed: old → new.
    renamed: BTreeMap<String, String>,
    /// Real time until which a slow fault may still change the portal.
    late_until: Option<std::time::Instant>,
    /// A slow fault is injected and may strike at any later call.
    late_armed: bool,
    jumped_minutes: u64,
}

/// A model case's world over the ledger `L`.
pub struct World<L: SeatLedger> {
    pub sim: RunningSimulator,
    sim_time: ManualTime,
    time: ManualTime,
    clock: Clock,
    pub p: Arc<Provisioner<L, ArcGisPortal>>,
    portal: Arc<ArcGisPortal>,
    pub ledger: Arc<L>,
    rules: Rules,
    pub jobs: Arc<Jobs>,
    made: Mutex<Made>,
    dir: PathBuf,
    settings: WorkflowSettings,
    /// What the steps did, for a failure's report.
    pub log: Mutex<Vec<String>>,
    /// The portal is an Enterprise portal (faults strike createUser).
    enterprise: bool,
}

impl<L: SeatLedger> World<L> {
    pub async fn new(ledger: Arc<L>, setup: &Setup, dir: PathBuf) -> Self {
        let (sim_clock, sim_time) = Clock::manual(T0);
        let config = SimulatorConfig {
            admin: SimAccount {
                username: ADMIN.into(),
                password: PASSWORD.into(),
            },
            admin_user_type: None,
            purchased: [
                ("viewerUT".to_string(), setup.viewer_licences),
                ("creatorUT".to_string(), setup.creator_licences),
            ]
            .into_iter()
            .collect(),
            email_invitations_pending: setup.email_pending,
            flavour: flavour(setup),
            ..SimulatorConfig::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let sim = PortalSimulator::with_clock(config, sim_clock)
            .start(listener)
            .expect("simulator starts");
        let (clock, time) = Clock::manual(T0);
        let mut cfg = ArcGisConfig::new(sim.base_url(), "model-test");
        cfg.request_timeout = DEADLINE;
        cfg.deadline = DEADLINE;
        cfg.max_attempts = 2;
        cfg.base_backoff = Duration::from_millis(5);
        cfg.max_backoff = Duration::from_millis(20);
        cfg.clock = clock.clone();
        cfg.flavour = flavour(setup);
        let portal =
            Arc::new(ArcGisPortal::new(cfg, Credentials::new(ADMIN, PASSWORD)).expect("client"));
        let rules = Rules::from_toml(&rules(setup)).expect("model rules");
        let settings = WorkflowSettings {
            deadline: DEADLINE,
            ..WorkflowSettings::default()
        };
        let p = Arc::new(
            Provisioner::new(
                ledger.clone(),
                portal.clone(),
                Arc::new(Policy::new(rules.clone())),
                settings.clone(),
            )
            .with_clock(clock.clone()),
        );
        World {
            sim,
            sim_time,
            time,
            clock,
            p,
            portal,
            ledger,
            rules,
            jobs: Arc::new(Jobs::default()),
            made: Mutex::new(Made::default()),
            dir,
            settings,
            log: Mutex::new(Vec::new()),
            enterprise: setup.enterprise,
        }
    }

    fn made(&self) -> std::sync::MutexGuard<'_, Made> {
        self.made.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note(&self, line: String) {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }

    fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    fn email_of(&self, who: u8, pool: Pool, renamed: bool) -> String {
        let base = format!("p{who}@{}", domain(pool));
        if renamed && let Some(new) = self.made().renamed.get(&base) {
            return new.clone();
        }
        base
    }

    /// Runs one step (boxed: steps nest).
    pub fn run(self: &Arc<Self>, step: Step) -> BoxFuture<'static, ()> {
        let w = self.clone();
        Box::pin(async move {
            match step {
                Step::SignUp {
                    who,
                    pool,
                    via,
                    delivery,
                    renamed,
                } => w.sign_up(who, pool, via, delivery, renamed).await,
                Step::Together(steps) => {
                    let runs: Vec<_> = steps.into_iter().map(|s| tokio::spawn(w.run(s))).collect();
                    for r in join_all(runs).await {
                        if let Err(e) = r
                            && e.is_panic()
                        {
                            std::panic::resume_unwind(e.into_panic());
                        }
                    }
                }
                Step::Decide {
                    request,
                    approve,
                    copies,
                } => w.decide(request, approve, copies).await,
                Step::Expire => {
                    let n = w.p.expire_requests(Some(&*w.jobs), w.now()).await;
                    w.note(format!("expired {n}"));
                }
                Step::Admit { pool } => {
                    let n =
                        w.p.admit_waitlisted(&pool_id(pool), Some(&*w.jobs), w.now())
                            .await;
                    w.note(format!("admitted {n} to {pool:?}"));
                }
                Step::RunJob { job, last } => w.run_job(job, last).await,
                Step::Fault(f) => w.fault(f),
                Step::Crash { step, after_ms } => {
                    let task = tokio::spawn(w.run(*step));
                    tokio::time::sleep(Duration::from_millis(after_ms.into())).await;
                    task.abort();
                    if let Err(e) = task.await
                        && e.is_panic()
                    {
                        std::panic::resume_unwind(e.into_panic());
                    }
                    // What runs next runs in the process that replaces the
                    // dead one, which starts after the calls the dead one
                    // had in flight have ended (the start-up sweep's
                    // assumption, docs/architecture.md); an SQS job is
                    // delivered again only after its visibility timeout.
                    // (Seed 7000138: a job retried 0 ms after its crashed
                    // attempt's invitation, which landed later.)
                    w.let_late_calls_land().await;
                    w.note("crashed".into());
                }
                Step::Restart => {
                    w.let_late_calls_land().await;
                    let spare: Vec<String> =
                        w.jobs.lock().iter().map(|j| j.claim_id.clone()).collect();
                    let r = w.p.sweep(w.now(), Duration::ZERO, &spare).await;
                    w.note(format!("restart sweep {r:?}"));
                }
                Step::Sweep => {
                    let r = w.p.sweep(w.now(), w.settings.stale_reservation, &[]).await;
                    w.note(format!("sweep {r:?}"));
                }
                Step::Jump { minutes } => {
                    w.let_late_calls_land().await;
                    w.jump(minutes.into())
                }
                Step::Import(row) => w.import(row).await,
                Step::Accept { who } => w.accept(who),
                Step::Daily => w.daily().await,
                Step::Reconcile => w.reconcile().await,
                Step::Extend { who, days } => w.extend(who, days).await,
                Step::ReclaimNow { who } => w.reclaim_now(who).await,
                Step::SignIn { who } => w.sign_in(who).await,
            }
            w.after_step();
        })
    }

    async fn sign_up(&self, who: u8, pool: Pool, via: Via, delivery: Delivery, renamed: bool) {
        let again = match delivery {
            Delivery::Again(i) => {
                let made = self.made();
                (!made.deliveries.is_empty())
                    .then(|| made.deliveries[i as usize % made.deliveries.len()].clone())
            }
            Delivery::New => None,
        };
        let (key, req, hash, via) = match again {
            Some(d) => d,
            None => {
                let email = self.email_of(who, pool, renamed);
                let mut made = self.made();
                let key = DeliveryKey {
                    source: match via {
                        Via::Hook => "okta".into(),
                        _ => "standard".into(),
                    },
                    id: format!("d{}", made.deliveries.len()),
                };
                let req = SignupRequest {
                    email: Email::parse(&email).expect("model e-mail"),
                    first_name: Some(format!("P{who}")),
                    last_name: Some("Model".into()),
                    username: None,
                    organization: None,
                    pool: None,
                    attributes: Default::default(),
                };
                let d = (key, req, format!("h-{email}"), via);
                made.deliveries.push(d.clone());
                d
            }
        };
        let jobs = &*self.jobs;
        let creation = match via {
            Via::Request => Creation::InRequest,
            Via::OrQueue => Creation::InRequestOrQueue(jobs),
            Via::Hook => Creation::Queued(jobs),
        };
        let h = self
            .p
            .sign_up(
                &key,
                &hash,
                &req,
                &Overrides::default(),
                creation,
                self.now(),
            )
            .await;
        if let Outcome::Pending { request_id, .. } | Outcome::Waitlisted { request_id, .. } =
            &h.outcome
        {
            let mut made = self.made();
            if !made.requests.contains(request_id) {
                made.requests.push(request_id.clone());
            }
        }
        self.note(format!(
            "sign-up {} {} → {:?}{}",
            key.as_string(),
            req.email.as_str(),
            h.outcome,
            if h.replayed { " (replayed)" } else { "" }
        ));
    }

    async fn decide(&self, request: u8, approve: bool, copies: u8) {
        let id = {
            let made = self.made();
            if made.requests.is_empty() {
                return;
            }
            made.requests[request as usize % made.requests.len()].clone()
        };
        let verdict = if approve {
            Verdict::Approve
        } else {
            Verdict::Deny
        };
        let now = self.now();
        let decisions = (0..copies.max(1)).map(|i| {
            let id = id.clone();
            async move {
                self.p
                    .decide_request(
                        &id,
                        verdict,
                        &format!("admin:{i}"),
                        None,
                        Some(&*self.jobs),
                        now,
                    )
                    .await
            }
        });
        let outcomes: Vec<String> = join_all(decisions)
            .await
            .into_iter()
            .map(|d| match d {
                DecisionOutcome::Decided { request, .. } => format!("Decided({:?})", request.state),
                other => format!("{other:?}"),
            })
            .collect();
        self.note(format!("decide {id} {verdict:?} → {outcomes:?}"));
    }

    async fn run_job(&self, job: u8, last: bool) {
        // As SQS does: the message stays queued while a worker has it, and
        // is deleted only when the attempt ends (a crashed worker's job is
        // delivered again).
        let job = {
            let jobs = self.jobs.lock();
            if jobs.is_empty() {
                return;
            }
            jobs[job as usize % jobs.len()].clone()
        };
        let r = self.p.complete_job(&job, last, self.now()).await;
        if !r.retry || last {
            // Done, or dead-lettered after its last attempt.
            let mut jobs = self.jobs.lock();
            if let Some(i) = jobs
                .iter()
                .position(|j| j.claim_id == job.claim_id && j.delivery == job.delivery)
            {
                jobs.remove(i);
            }
        }
        if let Some(pool) = &r.freed {
            self.p
                .admit_waitlisted(pool, Some(&*self.jobs), self.now())
                .await;
        }
        self.note(format!(
            "job {} last={last} → {:?} retry={}",
            job.delivery.as_string(),
            r.outcome,
            r.retry
        ));
    }

    /// After a step: while a slow fault is armed, the step may have been
    /// the one it struck, and its call lands up to LATE later; once the
    /// simulator has used it up, the bound stops moving. (Found by seed
    /// 7000081: a fault armed before a time jump struck after it, and the
    /// next jump did not wait for it.)
    fn after_step(&self) {
        let mut made = self.made();
        if made.late_armed {
            made.late_until = Some(std::time::Instant::now() + LATE * 3);
            made.late_armed = self.sim.faults().iter().any(|f| {
                matches!(
                    f.kind,
                    FaultKind::LoseReply(_) | FaultKind::LateSuccess(_) | FaultKind::Delay(_)
                )
            });
        }
    }

    /// Waits until no late portal call can still land: time does not jump,
    /// and a process does not restart, faster than a call in flight ends.
    async fn let_late_calls_land(&self) {
        let late = self.made().late_until;
        if let Some(until) = late {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    fn fault(&self, f: Fault) {
        // Where a member is made: on an Enterprise portal, members with a
        // password are made by createUser (e-mail invitations, and the
        // `not_invited` fault, stay on invite).
        let create = if self.enterprise {
            "createUser"
        } else {
            "invite"
        };
        let (endpoint, kind, times) = match f {
            Fault::NotInvited => (Some("invite"), FaultKind::NotInvited, 1),
            // Every attempt of one call.
            Fault::Http500 => (Some(create), FaultKind::HttpStatus(500), 2),
            Fault::LoseReply => (Some(create), FaultKind::LoseReply(LATE), 1),
            Fault::LateSuccess => (Some(create), FaultKind::LateSuccess(LATE), 1),
            Fault::Slow => (Some(create), FaultKind::Delay(LATE), 1),
            Fault::ExpireTokens => (None, FaultKind::ExpireTokens, 1),
        };
        if matches!(f, Fault::LoseReply | Fault::LateSuccess | Fault::Slow) {
            // The fault may strike at any later call: every step from now
            // on extends the bound, until the fault is used up.
            let mut made = self.made();
            made.late_armed = true;
            made.late_until = Some(std::time::Instant::now() + LATE * 3);
        }
        self.sim.inject(simulator::Fault {
            endpoint: endpoint.map(str::to_string),
            kind,
            times: Some(times),
        });
        self.note(format!("fault {f:?}"));
    }

    fn jump(&self, minutes: u64) {
        let mut made = self.made();
        if made.jumped_minutes + minutes > MAX_JUMPED_MINUTES {
            return;
        }
        made.jumped_minutes += minutes;
        let to = self.time.now() + minutes as i64 * 60_000;
        self.time.set(to);
        self.sim_time.set(to);
        drop(made);
        self.note(format!("+{minutes} min"));
    }

    fn accept(&self, who: u8) {
        let mine: BTreeSet<String> = [Pool::Acme, Pool::Review, Pool::Quick]
            .into_iter()
            .flat_map(|p| [self.email_of(who, p, false), self.email_of(who, p, true)])
            .collect();
        for inv in self.sim.invitations() {
            if mine.contains(&inv.member.email.to_lowercase()) {
                self.sim.accept_invitation(inv.username());
                self.note(format!("accepted {}", inv.username()));
            }
        }
    }

    /// The daily run: reconciliation, then the seat's life.
    async fn daily(&self) {
        let now = self.now();
        let reconciled = self
            .p
            .run_reconcile(ADMIN, Some(&*self.jobs), "model:daily", now)
            .await;
        let report = self
            .p
            .run_lifecycle(ADMIN, Some(&*self.jobs), "model:daily", now)
            .await;
        let line = format!(
            "daily: reconcile {:?}; lifecycle {:?}",
            reconciled.map(|(p, _)| p.differences.len()),
            report.map(|r| r
                .applied
                .iter()
                .map(|a| format!("{} {:?}", a.planned.username, a.done))
                .collect::<Vec<_>>())
        );
        self.note(line);
    }

    async fn reconcile(&self) {
        let r = self
            .p
            .run_reconcile(ADMIN, Some(&*self.jobs), "model:cli", self.now())
            .await;
        self.note(format!(
            "reconcile: {:?}",
            r.map(|(_, applied)| applied
                .iter()
                .map(|a| format!("{} {:?}", a.difference.username, a.outcome))
                .collect::<Vec<_>>())
        ));
    }

    fn acme_key(&self, who: u8) -> agol_seat_broker::domain::ClaimKey {
        agol_seat_broker::domain::ClaimKey {
            pool: pool_id(Pool::Acme),
            person: self.email_of(who, Pool::Acme, true),
        }
    }

    async fn extend(&self, who: u8, days: u8) {
        let now = self.now();
        let until = now + i64::from(days) * 86_400_000;
        let r = self
            .p
            .extend_seat(&self.acme_key(who), until, "admin:model", now)
            .await;
        self.note(format!(
            "extend p{who} +{days}d → {:?}",
            r.map(|c| c.extended_until)
        ));
    }

    async fn reclaim_now(&self, who: u8) {
        let r = self
            .p
            .reclaim_seat_now(
                &self.acme_key(who),
                Some(&*self.jobs),
                "admin:model",
                self.now(),
            )
            .await;
        self.note(format!(
            "reclaim now p{who} → {:?}",
            r.map(|r| r
                .applied
                .iter()
                .map(|a| format!("{:?}", a.done))
                .collect::<Vec<_>>())
        ));
    }

    async fn sign_in(&self, who: u8) {
        let email = self.email_of(who, Pool::Acme, true);
        if let Some(username) = self.acme_member(&email).await {
            self.sim.sign_in(&username, self.sim_time.now());
            self.note(format!("{username} signs in"));
        }
    }

    /// The username of `acme`'s active member with this e-mail, if any.
    async fn acme_member(&self, email: &str) -> Option<String> {
        let claims = self.ledger.claims(&pool_id(Pool::Acme)).await.ok()?;
        claims
            .into_iter()
            .find(|c| c.key.person == email && c.state == ClaimState::Active)
            .and_then(|c| c.username)
    }

    async fn import(&self, row: ImportRow) {
        static FILES: AtomicU32 = AtomicU32::new(0);
        let (text, renaming) = match row {
            ImportRow::New(who) => {
                let email = self.email_of(who, Pool::Acme, false);
                (
                    format!(
                        "username,email,firstName,lastName,userLicenseTypeId\n\
                         p{who}_acme,{email},P{who},Model,viewerUT\n"
                    ),
                    None,
                )
            }
            ImportRow::Email(who) => {
                let email = self.email_of(who, Pool::Acme, true);
                let Some(username) = self.acme_member(&email).await else {
                    return;
                };
                let new = format!("p{who}.n{}@acme.org", FILES.load(Ordering::Relaxed));
                (
                    format!("username,email\n{username},{new}\n"),
                    Some((self.email_of(who, Pool::Acme, false), new, username)),
                )
            }
            ImportRow::Move(who) => {
                let email = self.email_of(who, Pool::Acme, true);
                let Some(username) = self.acme_member(&email).await else {
                    return;
                };
                (
                    format!("username,userLicenseTypeId\n{username},creatorUT\n"),
                    None,
                )
            }
        };
        let n = FILES.fetch_add(1, Ordering::Relaxed);
        let input = self.dir.join(format!("import-{n}.csv"));
        let report = self.dir.join(format!("import-{n}.result.csv"));
        if std::fs::write(&input, text).is_err() {
            return;
        }
        let opts = ImportOptions {
            concurrency: 1,
            retry_budget: Duration::from_millis(600),
            backoff: (Duration::from_millis(5), Duration::from_millis(50)),
            workflow: self.settings.clone(),
            clock: self.clock.clone(),
            ..ImportOptions::default()
        };
        let done = import::run(
            self.ledger.clone(),
            self.portal.clone(),
            &self.rules,
            &input,
            &report,
            &opts,
            Arc::new(Quiet),
        )
        .await;
        let lines = std::fs::read_to_string(&report).unwrap_or_default();
        if let Some((old, new, username)) = renaming
            && self
                .sim
                .members()
                .iter()
                .any(|m| m.username == username && m.email.eq_ignore_ascii_case(&new))
        {
            self.made().renamed.insert(old, new);
        }
        self.note(format!(
            "import {row:?} → {:?}: {}",
            done.map(|s| s.validation),
            lines.lines().last().unwrap_or_default()
        ));
    }

    /// Members and pending invitations: (username, e-mail).
    fn accounts(&self) -> Vec<(String, String)> {
        let now = self.sim_time.now();
        let mut out: Vec<(String, String)> = self
            .sim
            .members()
            .into_iter()
            .filter(|m| m.username != ADMIN)
            .map(|m| (m.username, m.email.to_lowercase()))
            .collect();
        out.extend(
            self.sim
                .invitations()
                .into_iter()
                .filter(|i| i.expires > now)
                .map(|i| (i.member.username, i.member.email.to_lowercase())),
        );
        out
    }

    /// What must hold after every step: per pool, the counter equals the
    /// claims holding a seat and never exceeds the seats; nobody has two
    /// accounts; never more accounts than seats.
    pub async fn check_always(&self) -> Result<(), String> {
        let mut seats_total = 0;
        for pool in &self.rules.pools {
            let used = self
                .ledger
                .usage(&pool.id)
                .await
                .map_err(|e| format!("usage: {e}"))?
                .used;
            let claims = self
                .ledger
                .claims(&pool.id)
                .await
                .map_err(|e| format!("claims: {e}"))?;
            if used as usize != claims.len() {
                return Err(format!(
                    "pool {}: used {used} but {} claims hold a seat: {claims:?}",
                    pool.id,
                    claims.len()
                ));
            }
            if used > pool.seats {
                return Err(format!(
                    "pool {}: {used} seats used of {}",
                    pool.id, pool.seats
                ));
            }
            seats_total += pool.seats;
        }
        let accounts = self.accounts();
        let mut by_email: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (u, e) in &accounts {
            by_email.entry(e).or_default().push(u);
        }
        if let Some((email, names)) = by_email.iter().find(|(_, names)| names.len() > 1) {
            return Err(format!("{email} has {} accounts: {names:?}", names.len()));
        }
        if accounts.len() as u32 > seats_total {
            return Err(format!(
                "{} accounts for {seats_total} seats: {accounts:?}",
                accounts.len()
            ));
        }
        Ok(())
    }

    /// Lets every fault and late call pass, runs every queued job to its
    /// end, and sweeps with time moved past the stale threshold, until
    /// nothing is left in flight.
    pub async fn settle(&self) {
        self.sim.clear_faults();
        self.let_late_calls_land().await;
        for _ in 0..8 {
            loop {
                let next = self.jobs.lock().pop();
                let Some(job) = next else { break };
                // Its last attempt: retried or not, it leaves the queue.
                let r = self.p.complete_job(&job, true, self.now()).await;
                if let Some(pool) = &r.freed {
                    self.p
                        .admit_waitlisted(pool, Some(&*self.jobs), self.now())
                        .await;
                }
            }
            let to = self.time.now() + 10 * 60_000;
            self.time.set(to);
            self.sim_time.set(to);
            self.p
                .sweep(self.now(), self.settings.stale_reservation, &[])
                .await;
            // What a look-up settles: a change the portal made after its
            // caller gave up (a member deleted late) is found by the
            // daily reconciliation.
            let _ = self
                .p
                .run_reconcile(ADMIN, Some(&*self.jobs), "model:settle", self.now())
                .await;
            let unsettled = self.unsettled().await;
            if self.jobs.lock().is_empty() && unsettled == 0 {
                break;
            }
        }
    }

    /// RESERVED claims that are not approval holds.
    async fn unsettled(&self) -> usize {
        let mut n = 0;
        for pool in &self.rules.pools {
            if let Ok(claims) = self.ledger.claims(&pool.id).await {
                n += claims
                    .iter()
                    .filter(|c| {
                        !matches!(c.stage(), Stage::Active | Stage::Reserved(Hold::Approval))
                    })
                    .count();
            }
        }
        n
    }

    /// What must hold once settled: every claim is ACTIVE or the hold of a
    /// pending request; every ACTIVE claim has exactly one account (member
    /// or pending invitation) under its username and e-mail, and every
    /// account has its claim; every approved request ends with a member or
    /// a recorded failure.
    pub async fn check_settled(&self) -> Result<(), String> {
        let accounts = self.accounts();
        let mut active: Vec<(String, String)> = Vec::new();
        for pool in &self.rules.pools {
            let claims = self
                .ledger
                .claims(&pool.id)
                .await
                .map_err(|e| e.to_string())?;
            let pending = self
                .ledger
                .requests(&pool.id, RequestState::Pending)
                .await
                .map_err(|e| e.to_string())?;
            for c in claims {
                match c.stage() {
                    Stage::Active => {
                        active.push((c.username.clone().unwrap_or_default(), c.key.person))
                    }
                    Stage::Reserved(Hold::Approval)
                        if pending
                            .iter()
                            .any(|r| r.claim_id.as_deref() == Some(&c.claim_id)) => {}
                    other => {
                        return Err(format!("left {other:?} after settling: {c:?}"));
                    }
                }
            }
        }
        let mut a: Vec<_> = accounts.clone();
        a.sort();
        active.sort();
        if a != active {
            return Err(format!(
                "accounts and ACTIVE claims differ:\n  accounts {a:?}\n  claims   {active:?}"
            ));
        }
        let renamed = self.made().renamed.clone();
        // People whose seat ended after their member was made (the seat's
        // life, or reconciliation finding the member gone).
        let ended: BTreeSet<String> = self
            .ledger
            .audit_since(0, 100_000)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|e| {
                matches!(
                    e.action.as_str(),
                    "seat.deleted" | "seat.downgraded" | "reconcile.released"
                )
            })
            .filter_map(|e| e.person)
            .collect();
        for pool in &self.rules.pools {
            let approved = self
                .ledger
                .requests(&pool.id, RequestState::Approved)
                .await
                .map_err(|e| e.to_string())?;
            let failures = self
                .ledger
                .failures(&pool.id, self.now())
                .await
                .map_err(|e| e.to_string())?;
            for r in approved {
                let person = &r.key.person;
                let now_known_as = renamed.get(person).unwrap_or(person);
                let has_member = active.iter().any(|(_, p)| p == person || p == now_known_as);
                let failed = failures.iter().any(|f| &f.key.person == person);
                let seat_ended = ended.contains(person) || ended.contains(now_known_as);
                if !has_member && !failed && !seat_ended {
                    return Err(format!(
                        "approved request {} of {person} in {} has neither a member nor a recorded failure",
                        r.id, pool.id
                    ));
                }
            }
        }
        Ok(())
    }
}

//! The local server (`serve`, `demo`): the same app as the Lambda, wired for
//! one machine. It opens the store (an embedded SQLite file, locked to this
//! process, with its jobs journal beside it; or a DynamoDB table), starts the
//! portal simulator when asked (served over HTTP on loopback and reached
//! through the real ArcGIS client), builds the app with the in-process queue
//! worker, settles what a previous run left, and serves until Ctrl-C or
//! SIGTERM, finishing requests in flight.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::app::{AppParts, JobQueue, app};
use super::parts::arcgis_portal;
use crate::clock::Clock;
use crate::config::{Secret, Secrets, WorkflowSettings};
use crate::domain::UnixMillis;
use crate::entrypoints::http::ApprovalConfig;
use crate::entrypoints::http::admin::AdminSettings;
use crate::entrypoints::schedule;
use crate::ids::Ids;
use crate::intake::signature::{DEFAULT_TOLERANCE_SECS, SigningKey};
use crate::intake::sources::Sources;
use crate::policy::Rules;
use crate::portal::Portal;
use crate::portal::arcgis::ArcGisPortal;
use crate::portal::simulator::{
    PortalSimulator, RunningSimulator, SimAccount, SimMember, SimulatorConfig,
};
use crate::provisioning::{ApprovalWiring, Provisioner};
use crate::queue::journal::Journal;
use crate::seats::SeatLedger;
use crate::seats::dynamo::{DynamoLedger, client_for_endpoint};
use crate::seats::sqlite::SqliteLedger;

/// Why the local server could not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// Where seats are kept: `sqlite:<file>` (embedded, the default) or
/// `dynamodb:<table>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A DynamoDB table, at `endpoint` when given (DynamoDB Local).
    Dynamo {
        /// Table name.
        table: String,
        /// Endpoint override.
        endpoint: Option<String>,
    },
}

impl Store {
    /// Parses a `--store` value.
    pub fn parse(spec: &str, dynamodb_endpoint: Option<String>) -> Result<Store, StartError> {
        match spec.split_once(':') {
            Some(("sqlite", path)) if !path.is_empty() => Ok(Store::Sqlite(path.into())),
            Some(("dynamodb", table)) if !table.is_empty() => Ok(Store::Dynamo {
                table: table.to_string(),
                endpoint: dynamodb_endpoint,
            }),
            _ => Err(StartError(format!(
                "--store must be sqlite:<file> or dynamodb:<table>, got {spec:?}"
            ))),
        }
    }

    /// How the banner names it.
    pub fn describe(&self) -> String {
        match self {
            Store::Sqlite(p) => format!("sqlite {}", p.display()),
            Store::Dynamo {
                table,
                endpoint: Some(e),
            } => format!("dynamodb table {table} at {e}"),
            Store::Dynamo {
                table,
                endpoint: None,
            } => format!("dynamodb table {table}"),
        }
    }
}

/// Which portal the local server talks to.
pub enum LocalPortal {
    /// The built-in simulator; with `members_file`, its members are restored
    /// from and saved to that file across restarts (the demo).
    Simulator {
        /// Where the simulated members are kept.
        members_file: Option<PathBuf>,
    },
    /// A real organization, with the administrator's credentials.
    Url {
        /// The sharing REST root.
        url: String,
        /// The credentials.
        secrets: Box<Secrets>,
    },
}

/// Everything `serve` and `demo` configure.
pub struct LocalServer {
    /// Checked rules.
    pub rules: Rules,
    /// Switched-on senders.
    pub sources: Sources,
    /// Where seats are kept.
    pub store: Store,
    /// Which portal.
    pub portal: LocalPortal,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Standard Webhooks keys.
    pub keys: Vec<SigningKey>,
    /// Bearer tokens for `GET /status`.
    pub status_tokens: Vec<Secret>,
    /// The administrator's page, when a secret is configured.
    pub admin: Option<AdminSettings>,
    /// Workflow tunables.
    pub workflow: WorkflowSettings,
    /// A line printed under the banner (the demo's "try:").
    pub hint: Option<String>,
    /// Approval links and Slack buttons.
    pub approval_routes: ApprovalConfig,
    /// Where approvers are told.
    pub approvals: ApprovalWiring,
    /// The process's clock.
    pub clock: Clock,
    /// The process's id source.
    pub ids: Ids,
}

/// The built-in simulator's administrator: the broker's account there.
const SIMULATED_ADMIN: &str = "broker_admin";

fn fail(what: impl std::fmt::Display) -> StartError {
    StartError(what.to_string())
}

/// The start-up sweep's age threshold on an SQLite store: every claim last
/// written before the start (the sweep's `now`) belongs to a previous run.
const PREVIOUS_RUN_ONLY: Duration = Duration::from_millis(1);

/// Runs the local server until Ctrl-C or SIGTERM.
pub async fn serve(cfg: LocalServer) -> Result<(), StartError> {
    let mut running_sim = None;
    let (portal, portal_desc) = match &cfg.portal {
        LocalPortal::Url { url, secrets } => (
            arcgis_portal(url, "agol-seat-broker", secrets, &cfg.workflow).map_err(fail)?,
            url.clone(),
        ),
        LocalPortal::Simulator { members_file } => {
            let (portal, running) = start_simulator(&cfg, members_file.as_deref()).await?;
            let desc = format!("simulator at {} (built in)", running.base_url());
            running_sim = Some(running);
            (portal, desc)
        }
    };
    let result = match &cfg.store {
        Store::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
            }
            // One server per file: the start-up sweep below relies on it.
            let _lock = lock_store(path)?;
            let ledger = Arc::new(
                SqliteLedger::open(path).map_err(|e| fail(format!("{}: {e}", path.display())))?,
            );
            // DynamoDB drops expired delivery, failure and closed request
            // records by TTL; the embedded store does it here, at start and
            // then hourly.
            let purger = tokio::spawn(purge_hourly(ledger.clone(), cfg.clock.clone()));
            // Queued members survive a crash in a journal beside the store
            // (protected by the same lock).
            let journal = Journal::open(&jobs_journal_path(path)).map_err(fail)?;
            // One process owns an SQLite file, so any reservation left in it
            // from before this start is from a previous run: settle them all,
            // in the background once serving (those of journaled jobs
            // excepted: the jobs run again). Claims this run makes are at
            // least as new as the start, so 1 ms spares them.
            let served = serve_with(
                ledger,
                portal,
                &cfg,
                &portal_desc,
                PREVIOUS_RUN_ONLY,
                Some(journal),
            )
            .await;
            purger.abort();
            served
        }
        Store::Dynamo { table, endpoint } => {
            let client = client_for_endpoint(endpoint.as_deref()).await;
            let ledger = DynamoLedger::new(client, table);
            let stale = cfg.workflow.stale_reservation;
            serve_with(Arc::new(ledger), portal, &cfg, &portal_desc, stale, None).await
        }
    };
    if let (
        Some(sim),
        LocalPortal::Simulator {
            members_file: Some(file),
        },
    ) = (running_sim, &cfg.portal)
    {
        save_members(&sim, file);
        sim.shutdown().await;
    }
    result
}

/// The simulator, seeded with the rules' groups (and the members of an
/// earlier demo run), reached through the real ArcGIS client.
async fn start_simulator(
    cfg: &LocalServer,
    members_file: Option<&Path>,
) -> Result<(ArcGisPortal, RunningSimulator), StartError> {
    simulated_portal(&cfg.rules, &cfg.workflow, &cfg.ids, |sim| {
        if let Some(file) = members_file {
            restore_members(sim, file);
        }
    })
    .await
}

/// A portal simulator with the rules' groups and an administrator of its
/// own, started on a loopback port, and the ArcGIS client signed in to it:
/// the built-in organization of `serve`, `demo` and `import`. `seed` runs
/// on the simulator before it starts.
pub async fn simulated_portal(
    rules: &Rules,
    workflow: &WorkflowSettings,
    ids: &Ids,
    seed: impl FnOnce(&PortalSimulator),
) -> Result<(ArcGisPortal, RunningSimulator), StartError> {
    let password = format!("Sim-{}-9", ids.base64(12).replace(['+', '/', '='], "x"));
    let sim_cfg = SimulatorConfig {
        admin: SimAccount {
            username: SIMULATED_ADMIN.into(),
            password: password.clone(),
        },
        admin_user_type: None,
        groups: all_groups(rules),
        // `PORTAL_FLAVOUR=enterprise` rehearses an Enterprise portal: the
        // simulator and the client (which reads the same variable) agree.
        flavour: crate::config::portal_flavour("http://127.0.0.1/sharing/rest").map_err(fail)?,
        ..SimulatorConfig::default()
    };
    let sim = PortalSimulator::new(sim_cfg);
    seed(&sim);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(fail)?;
    let running = sim.start(listener).map_err(fail)?;
    let secrets = Secrets {
        arcgis_username: SIMULATED_ADMIN.into(),
        arcgis_password: Secret::new(password),
        ..Secrets::default()
    };
    let portal =
        arcgis_portal(&running.base_url(), "agol-seat-broker", &secrets, workflow).map_err(fail)?;
    Ok((portal, running))
}

/// Every group title the rules name, once.
pub fn all_groups(rules: &Rules) -> Vec<String> {
    let mut groups: Vec<String> = rules.pools.iter().flat_map(|p| p.groups.clone()).collect();
    groups.sort();
    groups.dedup();
    groups
}

async fn purge_hourly(ledger: Arc<SqliteLedger>, clock: Clock) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match ledger.purge_expired(clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("purged {n} expired delivery, failure and request records"),
            Err(e) => tracing::warn!("purge of expired records failed: {e}"),
        }
    }
}

/// The local worker's jobs journal of an embedded store: `<store>-jobs`.
fn jobs_journal_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push("-jobs");
    PathBuf::from(name)
}

/// Takes an exclusive lock on `<store>.lock` for the life of the server, so
/// two servers never share one SQLite file (readers such as `seats` need no
/// lock). The OS drops the lock when the process dies, even on kill -9.
fn lock_store(path: &Path) -> Result<std::fs::File, StartError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| fail(format!("cannot open {}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(fail(format!(
            "another agol-seat-broker is already serving {} (one server per store file)",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(fail(format!("cannot lock {}: {e}", lock_path.display())))
        }
    }
}

async fn serve_with<L: SeatLedger>(
    ledger: Arc<L>,
    portal: ArcGisPortal,
    cfg: &LocalServer,
    portal_desc: &str,
    startup_stale: Duration,
    journal: Option<Journal>,
) -> Result<(), StartError> {
    // The Okta and Entra hooks, and sign-ups the portal is too slow for,
    // hand members to an in-process worker.
    let journaled = journal.is_some();
    let built = app(
        ledger,
        Arc::new(portal),
        AppParts {
            rules: cfg.rules.clone(),
            keys: cfg.keys.clone(),
            workflow: cfg.workflow.clone(),
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            status_tokens: cfg.status_tokens.clone(),
            sources: cfg.sources.clone(),
            jobs: JobQueue::Local {
                settings: Default::default(),
                journal,
            },
            approval_routes: cfg.approval_routes.clone(),
            approvals: cfg.approvals.clone(),
            admin: cfg.admin.clone(),
            clock: cfg.clock.clone(),
            ids: cfg.ids.clone(),
            // Local secrets come from the environment, which does not
            // change under a running process.
            provider_secrets: None,
        },
    )
    .await
    .map_err(fail)?;
    let state = built.state;
    let provisioner = state.provisioner.clone();
    // Whatever a previous run left was last written before this instant:
    // the start-up sweep settles claims older than it, and never one a
    // request of this run made (those are at least as new).
    let started = cfg.clock.now();
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| fail(format!("cannot listen on {}: {e}", cfg.listen)))?;
    let addr = listener.local_addr().map_err(fail)?;
    // Serve first: nothing that waits on the network (the store's read of
    // the pools, the start-up sweep's portal look-ups) runs before the
    // listener accepts.
    // Why with the peer's address: the administrator's sign-in counts its
    // attempts per client address (`entrypoints/http/admin/throttle.rs`).
    let server = tokio::spawn(
        axum::serve(
            listener,
            built
                .router
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .into_future(),
    );
    println!("agol-seat-broker listening on http://{addr}");
    println!("  store:  {}", cfg.store.describe());
    println!("  portal: {portal_desc}");
    let enabled = cfg.sources.enabled();
    println!(
        "  routes: /webhooks/standard{}{}",
        if enabled.is_empty() {
            ""
        } else {
            ", sources: "
        },
        enabled.join(", ")
    );
    if cfg.admin.is_some() {
        println!("  admin:  http://{addr}/admin");
    }
    if !built.resumed.is_empty() {
        println!(
            "  resumed {} queued member(s) from a previous run",
            built.resumed.len()
        );
    }
    if let Some(h) = &cfg.hint {
        println!("  {h}");
    }
    let startup = tokio::spawn(start_up_in_background(
        provisioner.clone(),
        cfg.clock.clone(),
        started,
        startup_stale,
        built.resumed,
    ));
    // The broker's own account, which the lifecycle never touches.
    let broker = match &cfg.portal {
        LocalPortal::Url { secrets, .. } => secrets.arcgis_username.clone(),
        LocalPortal::Simulator { .. } => SIMULATED_ADMIN.to_string(),
    };
    let sweeper = tokio::spawn(schedule::run(
        provisioner,
        state.jobs.clone(),
        cfg.workflow.reservation_timeout,
        broker,
    ));
    let served = server
        .await
        .map_err(|e| fail(format!("the server task ended: {e}")))?;
    sweeper.abort();
    startup.abort();
    // Give queued members a moment to finish; what is left is settled by the
    // next start's sweep.
    drop(state);
    if let Some(mut worker) = built.worker
        && tokio::time::timeout(Duration::from_secs(10), &mut worker)
            .await
            .is_err()
    {
        worker.abort();
        if journaled {
            println!("agol-seat-broker: queued members still retrying resume at the next start");
        } else {
            println!(
                "agol-seat-broker: queued members still retrying are settled at the next start"
            );
        }
    }
    println!("agol-seat-broker stopped (requests in flight were finished)");
    served.map_err(fail)
}

/// What a start used to do before serving, now after: lists the pools'
/// seats (a read of the store), warms the portal client (token,
/// organization, group ids), and settles the reservations a previous run
/// left (portal look-ups), then says so on stdout with a line that starts
/// with `  start-up sweep done:` (tests and scripts wait for it).
async fn start_up_in_background<L: SeatLedger, P: Portal>(
    provisioner: Arc<Provisioner<L, P>>,
    clock: Clock,
    started: UnixMillis,
    startup_stale: Duration,
    resumed: Vec<String>,
) {
    match provisioner.seat_status(clock.now()).await {
        Ok(pools) => {
            for p in &pools {
                println!(
                    "  pool:   {:<20} {:>5} seats, {:>5} used, {:>5} free",
                    p.pool, p.seats, p.used, p.free
                );
            }
        }
        Err(e) => eprintln!("agol-seat-broker: cannot read the store: {e}"),
    }
    provisioner.warm_up().await;
    let swept = provisioner.sweep(started, startup_stale, &resumed).await;
    println!(
        "  start-up sweep done: {} adopted, {} released, {} kept (reservations a previous run left)",
        swept.adopted, swept.released, swept.kept
    );
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn restore_members(sim: &PortalSimulator, file: &Path) {
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    match serde_json::from_str::<Vec<SimMember>>(&text) {
        Ok(members) => {
            for m in members {
                sim.seed_member(m);
            }
        }
        Err(e) => tracing::warn!("{}: not restored: {e}", file.display()),
    }
}

fn save_members(sim: &PortalSimulator, file: &Path) {
    match serde_json::to_string_pretty(&sim.members()) {
        Ok(json) => {
            if let Err(e) = std::fs::write(file, json) {
                tracing::warn!("{}: not saved: {e}", file.display());
            }
        }
        Err(e) => tracing::warn!("simulated members not saved: {e}"),
    }
}

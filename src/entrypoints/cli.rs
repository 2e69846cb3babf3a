//! The `agol-seat-broker` command line: run the broker on one machine, try it
//! out, send signed test deliveries, read seat status.
//!
//! Every command reuses the library's pieces: `serve` runs the very router the
//! Lambda serves (no second implementation), `seats` uses the same status
//! read model as `GET /status`. Only this module and `bin/` use `anyhow`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};

use crate::clock::now_millis;
use crate::config::{Secret, Secrets, WorkflowSettings, normalise_portal_url};
use crate::entrypoints::admin::AdminSettings;
use crate::intake::signature::SigningKey;
use crate::intake::sources::Sources;
use crate::policy::Rules;
use crate::portal::arcgis::ArcGisPortal;
use crate::portal::simulator::{self, PortalSimulator, SimAccount, SimMember, SimulatorConfig};
use crate::seats::SeatLedger;
use crate::seats::dynamo::{DynamoLedger, client_for_endpoint};
use crate::seats::sqlite::SqliteLedger;
use crate::startup;

/// Hands out ArcGIS Online seats from signed sign-up webhooks.
#[derive(Debug, Parser)]
#[command(name = "agol-seat-broker", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the webhook routes on this machine (the same routes as the Lambda).
    Serve(ServeArgs),
    /// Try it out: example rules, a store under ./data, the built-in portal simulator.
    Demo(DemoArgs),
    /// Sign a sign-up body (or a recorded API Gateway event) and post it.
    Send(SendArgs),
    /// Print seats per pool: seats, used, reserved, free, and who holds them.
    Seats(SeatsArgs),
    /// Run the portal simulator alone (a fake ArcGIS Online organization).
    SimulatePortal(SimulateArgs),
    /// Print the audit trail (requests, decisions, seats, members) as JSON
    /// lines, oldest first.
    Audit(AuditArgs),
    /// Check a rules file and print its pools.
    CheckRules {
        /// The rules file.
        #[arg(default_value = "config/rules.toml")]
        path: PathBuf,
    },
    /// Create and update members from a CSV file (AdminTools "Import Users from CSV" layout).
    Import(super::import_cmd::ImportArgs),
}

#[derive(Debug, Args)]
struct StoreArgs {
    /// The rules file.
    #[arg(long, short, default_value = "config/rules.toml", env = "RULES_PATH")]
    config: PathBuf,
    /// Where seats are kept: `sqlite:<file>` (embedded, the default) or
    /// `dynamodb:<table>`.
    #[arg(long, default_value = "sqlite:data/ledger.db", env = "LEDGER_STORE")]
    store: String,
    /// DynamoDB endpoint override (DynamoDB Local), for `dynamodb:` stores.
    #[arg(long, env = "DYNAMODB_ENDPOINT")]
    dynamodb_endpoint: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// `simulator` (built in) or your organization's URL, e.g.
    /// https://myorg.maps.arcgis.com. A real portal takes the administrator's
    /// credentials from ARCGIS_USERNAME and ARCGIS_PASSWORD (or
    /// ARCGIS_PASSWORD_FILE).
    #[arg(long, default_value = "simulator", env = "PORTAL_URL")]
    portal: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "LISTEN")]
    listen: SocketAddr,
    /// Time budget for the portal calls of one sign-up, in seconds.
    #[arg(long, default_value_t = 20)]
    portal_deadline_secs: u64,
    /// Days a closed sign-up request (with the applicant's personal data) is
    /// kept after its decision.
    #[arg(long, default_value_t = 180, env = "REQUEST_RETENTION_DAYS")]
    request_retention_days: u64,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the demo keeps its store, secret and simulated members.
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// The rules file.
    #[arg(long, default_value = "config/rules.toml")]
    config: PathBuf,
}

#[derive(Debug, Args)]
struct SendArgs {
    /// A JSON sign-up body, or a recorded API Gateway event whose body is sent.
    file: PathBuf,
    /// Where to post.
    #[arg(long, default_value = "http://127.0.0.1:8080/webhooks/standard")]
    url: String,
    /// The signing secret (`whsec_…`). Default: STANDARD_WEBHOOK_SECRETS, then
    /// the demo's data/webhook-secret.
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// The delivery id (default: a fresh one). Reuse one to see a replay.
    #[arg(long)]
    id: Option<String>,
    /// The demo's data directory (for its secret).
    #[arg(long, default_value = "data")]
    data: PathBuf,
}

#[derive(Debug, Args)]
struct SeatsArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Pools only, without the holders.
    #[arg(long)]
    summary: bool,
}

#[derive(Debug, Args)]
struct AuditArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Events from this time on: a date (2026-11-01, midnight UTC) or an
    /// RFC 3339 time (2026-11-01T09:30:00Z).
    #[arg(long, value_parser = super::audit_cmd::parse_since)]
    since: i64,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Administrator username of the simulated organization.
    #[arg(long, default_value = "sim_admin")]
    admin_username: String,
    /// Its password.
    #[arg(
        long,
        env = "SIM_ADMIN_PASSWORD",
        hide_env_values = true,
        default_value = "sim-admin-pass1"
    )]
    admin_password: String,
    /// Create the groups named in this rules file.
    #[arg(long)]
    groups_from: Option<PathBuf>,
}

/// Runs the command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(a) => serve(a).await,
        Command::Demo(a) => demo(a).await,
        Command::Send(a) => send(a).await,
        Command::Seats(a) => seats(a).await,
        Command::SimulatePortal(a) => simulate(a).await,
        Command::Audit(a) => audit(a).await,
        Command::CheckRules { path } => check_rules(&path),
        Command::Import(a) => super::import_cmd::run(a).await,
    }
}

/// A parsed `--store`.
enum Store {
    Sqlite(PathBuf),
    Dynamo {
        table: String,
        endpoint: Option<String>,
    },
}

impl Store {
    fn parse(args: &StoreArgs) -> Result<Store> {
        match args.store.split_once(':') {
            Some(("sqlite", path)) if !path.is_empty() => Ok(Store::Sqlite(path.into())),
            Some(("dynamodb", table)) if !table.is_empty() => Ok(Store::Dynamo {
                table: table.to_string(),
                endpoint: args.dynamodb_endpoint.clone(),
            }),
            _ => bail!(
                "--store must be sqlite:<file> or dynamodb:<table>, got {:?}",
                args.store
            ),
        }
    }

    fn describe(&self) -> String {
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

fn load_rules(path: &Path) -> Result<Rules> {
    let rules = Rules::load(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    for w in &rules.warnings {
        tracing::warn!("rules: {w}");
    }
    Ok(rules)
}

/// Rules and sources from one file, with the sources' secrets.
fn load_config(path: &Path, secrets: &Secrets) -> Result<(Rules, Sources)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    startup::load_config(&text, secrets).map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn check_rules(path: &Path) -> Result<()> {
    let rules = load_rules(path)?;
    println!("{} is valid: {} pool(s)", path.display(), rules.pools.len());
    for (i, p) in rules.pools.iter().enumerate() {
        let default = if rules.default_pool == Some(i) {
            " (default)"
        } else {
            ""
        };
        println!(
            "  {}{default}: {} seats, role {}, user type {}, groups [{}], {:?} invitation",
            p.id,
            p.seats,
            p.role,
            p.user_type,
            p.groups.join(", "),
            p.invitation
        );
    }
    for w in &rules.warnings {
        println!("  warning: {w}");
    }
    Ok(())
}

/// Everything `serve` needs besides the store.
struct ServeConfig {
    rules: Rules,
    sources: Sources,
    store: Store,
    portal: PortalChoice,
    listen: SocketAddr,
    keys: Vec<SigningKey>,
    status_tokens: Vec<Secret>,
    /// The administrator's page, when a secret is configured.
    admin: Option<AdminSettings>,
    workflow: WorkflowSettings,
    /// Where the demo keeps simulated members across restarts.
    sim_members_file: Option<PathBuf>,
    hint: Option<String>,
    /// Approval links and Slack buttons.
    approval_routes: crate::entrypoints::approvals::ApprovalConfig,
    /// Where approvers are told.
    approvals: crate::provisioning::ApprovalWiring,
}

enum PortalChoice {
    Simulator,
    Url { url: String, secrets: Box<Secrets> },
}

async fn serve(a: ServeArgs) -> Result<()> {
    let secrets = Secrets::load(&crate::config::SecretsSource::Environment)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let keys = startup::signing_keys(&secrets).map_err(|e| anyhow!("{e}"))?;
    let portal = if a.portal == "simulator" {
        PortalChoice::Simulator
    } else {
        PortalChoice::Url {
            url: normalise_portal_url(&a.portal).map_err(|e| anyhow!("{e}"))?,
            secrets: Box::new(secrets.clone()),
        }
    };
    let workflow = WorkflowSettings {
        deadline: Duration::from_secs(a.portal_deadline_secs),
        lease: Duration::from_secs(a.portal_deadline_secs * 3),
        request_retention: crate::config::retention_days(a.request_retention_days),
        ..WorkflowSettings::default()
    };
    let (rules, sources) = load_config(&a.store.config, &secrets)?;
    let (approval_routes, approvals) =
        startup::approvals(&secrets, &crate::config::ApprovalSettings::from_env())
            .await
            .map_err(|e| anyhow!("{e}"))?;
    let admin = admin_settings(&secrets, a.listen)?;
    run_server(ServeConfig {
        approval_routes,
        approvals,
        rules,
        sources,
        store: Store::parse(&a.store)?,
        portal,
        listen: a.listen,
        keys,
        status_tokens: secrets.status_tokens,
        admin,
        workflow,
        sim_members_file: None,
        hint: None,
    })
    .await
}

async fn demo(a: DemoArgs) -> Result<()> {
    std::fs::create_dir_all(&a.data)
        .with_context(|| format!("cannot create {}", a.data.display()))?;
    let secret = read_or_create_secret(&a.data.join("webhook-secret"), || {
        format!("whsec_{}", b64_random(32))
    })?;
    let status_token = read_or_create_secret(&a.data.join("status-token"), || b64_random(24))?;
    let keys = vec![SigningKey::parse(&secret).map_err(|e| anyhow!("data/webhook-secret: {e}"))?];
    let env_secrets = Secrets::load(&crate::config::SecretsSource::Environment)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let (rules, sources) = load_config(&a.config, &env_secrets)?;
    let (approval_routes, approvals) =
        startup::approvals(&env_secrets, &crate::config::ApprovalSettings::from_env())
            .await
            .map_err(|e| anyhow!("{e}"))?;
    // The demo's page: a secret of its own unless ADMIN_SECRET is set.
    let admin_secret = match &env_secrets.admin_secret {
        Some(s) => s.clone(),
        None => Secret::new(read_or_create_secret(&a.data.join("admin-secret"), || {
            b64_random(24)
        })?),
    };
    let admin = admin_settings(
        &Secrets {
            admin_secret: Some(admin_secret),
            ..env_secrets.clone()
        },
        a.listen,
    )?;
    run_server(ServeConfig {
        approval_routes,
        approvals,
        rules,
        sources,
        store: Store::Sqlite(a.data.join("ledger.db")),
        portal: PortalChoice::Simulator,
        listen: a.listen,
        keys,
        status_tokens: vec![Secret::new(status_token)],
        admin,
        workflow: WorkflowSettings::default(),
        sim_members_file: Some(a.data.join("simulator-members.json")),
        hint: Some(format!(
            "try:    agol-seat-broker send events/standard-signup.body.json --url http://{}/webhooks/standard\n        agol-seat-broker seats --store sqlite:{}\n        the administrator's page: /admin (the secret is in {})",
            a.listen,
            a.data.join("ledger.db").display(),
            a.data.join("admin-secret").display()
        )),
    })
    .await
}

async fn run_server(cfg: ServeConfig) -> Result<()> {
    // The portal: a real organization, or the simulator served over HTTP on
    // loopback and reached through the same ArcGIS client.
    let mut running_sim = None;
    let (portal, portal_desc) = match &cfg.portal {
        PortalChoice::Url { url, secrets } => (
            startup::arcgis_portal(url, "agol-seat-broker", secrets, &cfg.workflow)
                .map_err(|e| anyhow!("{e}"))?,
            url.clone(),
        ),
        PortalChoice::Simulator => {
            let password = format!("Sim-{}-9", b64_random(12).replace(['+', '/', '='], "x"));
            let sim_cfg = SimulatorConfig {
                admin: SimAccount {
                    username: "broker_admin".into(),
                    password: password.clone(),
                },
                admin_user_type: None,
                groups: all_groups(&cfg.rules),
                ..SimulatorConfig::default()
            };
            let sim = PortalSimulator::new(sim_cfg);
            if let Some(file) = &cfg.sim_members_file {
                restore_members(&sim, file);
            }
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let running = sim.start(listener)?;
            let url = running.base_url();
            let secrets = Secrets {
                arcgis_username: "broker_admin".into(),
                arcgis_password: Secret::new(password),
                ..Secrets::default()
            };
            let portal = startup::arcgis_portal(&url, "agol-seat-broker", &secrets, &cfg.workflow)
                .map_err(|e| anyhow!("{e}"))?;
            running_sim = Some(running);
            (portal, format!("simulator at {url} (built in)"))
        }
    };
    let result = match &cfg.store {
        Store::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            // One server per file: the start-up sweep below relies on it.
            let _lock = lock_store(path)?;
            let ledger =
                Arc::new(SqliteLedger::open(path).map_err(|e| anyhow!("{}: {e}", path.display()))?);
            // DynamoDB drops expired delivery, failure and closed request
            // records by TTL; the embedded store does it here, at start and
            // then hourly.
            let purger = {
                let ledger = ledger.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(3600));
                    loop {
                        tick.tick().await;
                        match ledger.purge_expired(now_millis()).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(
                                "purged {n} expired delivery, failure and request records"
                            ),
                            Err(e) => tracing::warn!("purge of expired records failed: {e}"),
                        }
                    }
                })
            };
            // Queued members survive a crash in a journal beside the store
            // (protected by the same lock).
            let journal_path = jobs_journal_path(path);
            let journal =
                crate::queue::journal::Journal::open(&journal_path).map_err(|e| anyhow!("{e}"))?;
            // One process owns an SQLite file, so any reservation left in it
            // is from a previous run: settle them all before serving (those
            // of journaled jobs excepted: the jobs run again).
            let served = serve_with(
                ledger,
                portal,
                &cfg,
                &portal_desc,
                Duration::ZERO,
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
    if let (Some(sim), Some(file)) = (running_sim, &cfg.sim_members_file) {
        save_members(&sim, file);
        sim.shutdown().await;
    }
    result
}

/// The local worker's jobs journal of an embedded store: `<store>-jobs`.
fn jobs_journal_path(store: &std::path::Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push("-jobs");
    PathBuf::from(name)
}

/// Takes an exclusive lock on `<store>.lock` for the life of the server, so
/// two servers never share one SQLite file (readers such as `seats` need no
/// lock). The OS drops the lock when the process dies, even on kill -9.
fn lock_store(path: &Path) -> Result<std::fs::File> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", Path::new(&lock_path).display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another agol-seat-broker is already serving {} (one server per store file)",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", Path::new(&lock_path).display()))
        }
    }
}

async fn serve_with<L: SeatLedger>(
    ledger: Arc<L>,
    portal: ArcGisPortal,
    cfg: &ServeConfig,
    portal_desc: &str,
    startup_stale: Duration,
    journal: Option<crate::queue::journal::Journal>,
) -> Result<()> {
    // The Okta and Entra hooks, and sign-ups the portal is too slow for,
    // hand members to an in-process worker.
    let journaled = journal.is_some();
    let (queue, worker) = crate::queue::local::channel_with(journal);
    let resumed = crate::queue::local::resume(&queue)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let (router, state) = startup::app(
        ledger,
        Arc::new(portal),
        startup::AppParts {
            rules: cfg.rules.clone(),
            keys: cfg.keys.clone(),
            workflow: cfg.workflow.clone(),
            tolerance_secs: crate::intake::signature::DEFAULT_TOLERANCE_SECS,
            status_tokens: cfg.status_tokens.clone(),
            sources: cfg.sources.clone(),
            jobs: Some(Arc::new(queue)),
            approval_routes: cfg.approval_routes.clone(),
            approvals: cfg.approvals.clone(),
            admin: cfg.admin.clone(),
        },
    );
    let worker = tokio::spawn(worker.run(
        state.provisioner.clone(),
        crate::queue::local::LocalWorkerSettings::default(),
    ));
    let swept = state
        .provisioner
        .sweep_sparing(now_millis(), startup_stale, &resumed)
        .await;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let pools = crate::status::pools(&**state.provisioner.ledger(), &cfg.rules)
        .await
        .map_err(|e| anyhow!("cannot read the store: {e}"))?;
    println!("agol-seat-broker listening on http://{addr}");
    println!("  store:  {}", cfg.store.describe());
    println!("  portal: {portal_desc}");
    for p in &pools {
        println!(
            "  pool:   {:<20} {:>5} seats, {:>5} used, {:>5} free",
            p.pool, p.seats, p.used, p.free
        );
    }
    if swept.adopted + swept.released + swept.kept > 0 {
        println!(
            "  recovered reservations from a previous run: {} adopted, {} released, {} kept",
            swept.adopted, swept.released, swept.kept
        );
    }
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
    if !resumed.is_empty() {
        println!(
            "  resumed {} queued member(s) from a previous run",
            resumed.len()
        );
    }
    if let Some(h) = &cfg.hint {
        println!("  {h}");
    }
    // Settle reservations that stayed stuck while running (queued jobs touch
    // theirs on every attempt, so only abandoned ones get this old).
    let sweeper = {
        let state = state.clone();
        let timeout = cfg.workflow.reservation_timeout;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                state.provisioner.sweep(now_millis(), timeout).await;
                state
                    .provisioner
                    .expire_requests(state.jobs.as_deref(), now_millis())
                    .await;
            }
        })
    };
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    sweeper.abort();
    // Give queued members a moment to finish; what is left is settled by the
    // next start's sweep.
    drop(state);
    let mut worker = worker;
    if tokio::time::timeout(Duration::from_secs(10), &mut worker)
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
    served.map_err(Into::into)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
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

/// The administrator's page of the local server. It serves plain http, so
/// its cookies can only carry `Secure` when a TLS proxy sits in front: on a
/// loopback address they go without (browsers would not send them back over
/// http otherwise); on any other address they keep it.
fn admin_settings(secrets: &Secrets, listen: SocketAddr) -> Result<Option<AdminSettings>> {
    AdminSettings::from_secrets(secrets, !listen.ip().is_loopback()).map_err(|e| anyhow!("{e}"))
}

fn all_groups(rules: &Rules) -> Vec<String> {
    let mut groups: Vec<String> = rules.pools.iter().flat_map(|p| p.groups.clone()).collect();
    groups.sort();
    groups.dedup();
    groups
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

fn b64_random(n: usize) -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Reads a secret file, or creates it (mode 0600) with a fresh value.
fn read_or_create_secret(path: &Path, make: impl FnOnce() -> String) -> Result<String> {
    if let Ok(s) = std::fs::read_to_string(path) {
        let s = s.trim().to_string();
        if !s.is_empty() {
            return Ok(s);
        }
    }
    let value = make();
    std::fs::write(path, format!("{value}\n"))
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(value)
}

async fn send(a: SendArgs) -> Result<()> {
    let text =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let body = body_of(&text)?;
    let secret = match a.secret {
        Some(s) => s,
        None => match std::env::var("STANDARD_WEBHOOK_SECRETS").ok().filter(|s| !s.trim().is_empty()) {
            Some(list) => list
                .split([',', ' ', '\n'])
                .find(|s| !s.is_empty())
                .unwrap_or_default()
                .to_string(),
            None => std::fs::read_to_string(a.data.join("webhook-secret"))
                .map(|s| s.trim().to_string())
                .map_err(|_| {
                    anyhow!(
                        "no signing secret: pass --secret, set STANDARD_WEBHOOK_SECRETS, or start `agol-seat-broker demo` first (it writes {})",
                        a.data.join("webhook-secret").display()
                    )
                })?,
        },
    };
    let key = SigningKey::parse(&secret).map_err(|e| anyhow!("{e}"))?;
    let id =
        a.id.unwrap_or_else(|| format!("msg_{}", b64_random(12).replace(['+', '/', '='], "")));
    let ts = now_millis() / 1000;
    let signature = key.sign(&id, ts, &body);
    let res = reqwest::Client::new()
        .post(&a.url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {} (is the broker running?)", a.url))?;
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    println!("{} (delivery {id})\n{pretty}", status.as_u16());
    if !status.is_success() {
        bail!("the broker answered {status}");
    }
    Ok(())
}

/// A plain JSON body is sent as is; an API Gateway event's `body` is
/// extracted (base64-decoded when flagged).
fn body_of(file: &[u8]) -> Result<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(file).context("the file is not JSON")?;
    let is_event = v.get("requestContext").is_some() && v.get("body").is_some();
    if !is_event {
        return Ok(file.to_vec());
    }
    let body = v["body"].as_str().unwrap_or_default();
    if v["isBase64Encoded"].as_bool() == Some(true) {
        use base64::Engine as _;
        return base64::engine::general_purpose::STANDARD
            .decode(body)
            .context("the event's body is not valid base64");
    }
    Ok(body.as_bytes().to_vec())
}

async fn seats(a: SeatsArgs) -> Result<()> {
    let rules = load_rules(&a.store.config)?;
    let pools = match Store::parse(&a.store)? {
        Store::Sqlite(path) => {
            if !path.exists() {
                bail!(
                    "{} does not exist yet (no sign-up was handled with this store)",
                    path.display()
                );
            }
            let ledger =
                SqliteLedger::open(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            crate::status::pools(&ledger, &rules).await
        }
        Store::Dynamo { table, endpoint } => {
            let ledger = DynamoLedger::new(client_for_endpoint(endpoint.as_deref()).await, table);
            crate::status::pools(&ledger, &rules).await
        }
    }
    .map_err(|e| anyhow!("cannot read the store: {e}"))?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"pools": pools}))?
        );
    } else {
        print!("{}", crate::status::render(&pools, a.summary));
    }
    Ok(())
}

async fn audit(a: AuditArgs) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match Store::parse(&a.store)? {
        Store::Sqlite(path) => {
            if !path.exists() {
                bail!(
                    "{} does not exist (no store was written there)",
                    path.display()
                );
            }
            let ledger =
                SqliteLedger::open(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            super::audit_cmd::export(&ledger, a.since, &mut out).await
        }
        Store::Dynamo { table, endpoint } => {
            let ledger = DynamoLedger::new(client_for_endpoint(endpoint.as_deref()).await, table);
            super::audit_cmd::export(&ledger, a.since, &mut out).await
        }
    };
    let written = written.map_err(|e| anyhow!("{e}"))?;
    std::io::Write::flush(&mut out)?;
    tracing::debug!("{written} audit event(s) written");
    Ok(())
}

async fn simulate(a: SimulateArgs) -> Result<()> {
    let groups = match &a.groups_from {
        Some(p) => all_groups(&load_rules(p)?),
        None => SimulatorConfig::default().groups,
    };
    let cfg = SimulatorConfig {
        admin: SimAccount {
            username: a.admin_username,
            password: a.admin_password,
        },
        groups,
        ..SimulatorConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    println!("portal simulator listening on http://{addr}/sharing/rest");
    println!("  control: http://{addr}/_sim/state, /_sim/faults, /_sim/expire-tokens");
    simulator::serve(cfg, listener, shutdown_signal()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_specs_parse() {
        let args = |s: &str| StoreArgs {
            config: "x".into(),
            store: s.into(),
            dynamodb_endpoint: None,
        };
        assert!(matches!(
            Store::parse(&args("sqlite:data/l.db")),
            Ok(Store::Sqlite(_))
        ));
        assert!(matches!(
            Store::parse(&args("dynamodb:t")),
            Ok(Store::Dynamo { .. })
        ));
        assert!(Store::parse(&args("postgres:x")).is_err());
        assert!(Store::parse(&args("sqlite:")).is_err());
    }

    #[test]
    fn an_api_gateway_event_sends_its_decoded_body() {
        let event = br#"{"requestContext":{},"body":"eyJhIjoxfQ==","isBase64Encoded":true}"#;
        assert_eq!(body_of(event).unwrap(), br#"{"a":1}"#);
        assert_eq!(
            body_of(br#"{"email":"a@b.org"}"#).unwrap(),
            br#"{"email":"a@b.org"}"#
        );
    }
}

//! The app over any ledger and portal: the workflow, the routes' state, the
//! router and, for the in-process queue, its worker. The Lambda, the local
//! server, the test harness and the benchmarks all build it here.

use std::sync::Arc;

use axum::Router;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::{Secret, WorkflowSettings};
use crate::entrypoints::http::admin::AdminSettings;
use crate::entrypoints::http::{AppState, ApprovalConfig, router};
use crate::entrypoints::local_worker::{self, LocalWorkerSettings};
use crate::ids::Ids;
use crate::intake::entra::{self, EntraVerifier};
use crate::intake::profiles::{ProfileClients, ProviderSecretRefresh};
use crate::intake::signature::{DEFAULT_TOLERANCE_SECS, SigningKey};
use crate::intake::sources::Sources;
use crate::policy::{Policy, Rules};
use crate::portal::Portal;
use crate::provisioning::{ApprovalWiring, Provisioner};
use crate::queue::JobSink;
use crate::queue::journal::Journal;
use crate::queue::local;
use crate::seats::SeatLedger;

/// Where the members the routes cannot wait for are queued.
pub enum JobQueue {
    /// No queue: everything is created in the request and a slow portal
    /// releases the seat.
    None,
    /// The in-process worker of the local server, with its jobs kept in
    /// `journal` across a crash when given.
    Local {
        /// Attempts, backoff and concurrency.
        settings: LocalWorkerSettings,
        /// The jobs journal beside the embedded store.
        journal: Option<Journal>,
    },
    /// Any other queue (SQS, deployed; SQS against an emulator in tests).
    Sink(Arc<dyn JobSink>),
}

/// Everything the app needs besides the two ports.
pub struct AppParts {
    /// Checked rules.
    pub rules: Rules,
    /// Standard Webhooks keys.
    pub keys: Vec<SigningKey>,
    /// Workflow tunables.
    pub workflow: WorkflowSettings,
    /// Signed-timestamp tolerance, seconds.
    pub tolerance_secs: i64,
    /// Bearer tokens for `GET /status`.
    pub status_tokens: Vec<Secret>,
    /// Switched-on senders.
    pub sources: Sources,
    /// The job queue of the hooks and of slow sign-ups.
    pub jobs: JobQueue,
    /// Approval links and Slack buttons.
    pub approval_routes: ApprovalConfig,
    /// Where approvers are told.
    pub approvals: ApprovalWiring,
    /// The administrator's page, when a secret is configured.
    pub admin: Option<AdminSettings>,
    /// The process's clock.
    pub clock: Clock,
    /// The process's id source.
    pub ids: Ids,
    /// Where an identity provider's API secret is read again after the
    /// provider refused it (the deployed function's secret); `None`: never.
    pub provider_secrets: Option<ProviderSecretRefresh>,
}

impl AppParts {
    /// The smallest app: these rules and keys, default tunables and
    /// tolerance, no other sender, no queue, no approval connections, no
    /// administrator's page, the system clock and random ids. Set the fields
    /// you need on top (tests, benchmarks).
    pub fn new(rules: Rules, keys: Vec<SigningKey>) -> Self {
        AppParts {
            rules,
            keys,
            workflow: WorkflowSettings::default(),
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            status_tokens: Vec::new(),
            sources: Sources::default(),
            jobs: JobQueue::None,
            approval_routes: ApprovalConfig::default(),
            approvals: ApprovalWiring::default(),
            admin: None,
            clock: Clock::system(),
            ids: Ids::random(),
            provider_secrets: None,
        }
    }
}

/// A built app.
pub struct App<L, P> {
    /// The router every route is served by.
    pub router: Router,
    /// The routes' state (the workflow is `state.provisioner`).
    pub state: Arc<AppState<L, P>>,
    /// The in-process worker, when [`JobQueue::Local`]: it ends once every
    /// sender (the state) is dropped and its jobs in hand are done.
    pub worker: Option<JoinHandle<()>>,
    /// The claim ids of the jobs a previous run left in the journal and that
    /// were queued again: the start-up sweep must spare their reservations.
    pub resumed: Vec<String>,
}

/// The workflow over the two ports, with the process's clock and ids.
pub fn provisioner<L: SeatLedger, P: Portal>(
    ledger: Arc<L>,
    portal: Arc<P>,
    rules: Rules,
    workflow: WorkflowSettings,
    approvals: ApprovalWiring,
    clock: Clock,
    ids: Ids,
) -> Provisioner<L, P> {
    Provisioner::new(ledger, portal, Arc::new(Policy::new(rules)), workflow)
        .with_approvals(approvals)
        .with_clock(clock)
        .with_ids(ids)
}

/// Builds the app over any ledger and portal. Must run inside a tokio
/// runtime when `parts.jobs` is [`JobQueue::Local`] (the worker is spawned).
pub async fn app<L: SeatLedger, P: Portal>(
    ledger: Arc<L>,
    portal: Arc<P>,
    parts: AppParts,
) -> Result<App<L, P>, crate::queue::QueueError> {
    let entra = parts
        .sources
        .get(entra::SOURCE)
        .and_then(|s| s.entra.clone())
        .and_then(|config| match EntraVerifier::new(config) {
            Ok(v) => Some(Arc::new(v)),
            Err(e) => {
                // Checked when the sources were loaded; a failure here means
                // the TLS client could not be built. The route answers 404.
                tracing::error!("entra verifier: {e}");
                None
            }
        });
    let provisioner = Arc::new(provisioner(
        ledger,
        portal.clone(),
        parts.rules,
        parts.workflow,
        parts.approvals,
        parts.clock.clone(),
        parts.ids.clone(),
    ));
    let (jobs, worker, resumed): (Option<Arc<dyn JobSink>>, _, _) = match parts.jobs {
        JobQueue::None => (None, None, Vec::new()),
        JobQueue::Sink(sink) => (Some(sink), None, Vec::new()),
        JobQueue::Local { settings, journal } => {
            let (queue, receiver) = local::channel_with(journal);
            let resumed = local::resume(&queue).await?;
            let worker = tokio::spawn(local_worker::run(receiver, provisioner.clone(), settings));
            (Some(Arc::new(queue)), Some(worker), resumed)
        }
    };
    let state = Arc::new(AppState {
        provisioner,
        layers: portal,
        jobs,
        standard_keys: parts.keys,
        tolerance_secs: parts.tolerance_secs,
        clock: parts.clock,
        ids: parts.ids,
        status_tokens: parts.status_tokens,
        sources: parts.sources,
        entra,
        profiles: parts
            .provider_secrets
            .map(ProfileClients::with_refresh)
            .unwrap_or_default(),
        approval_routes: parts.approval_routes,
        admin: parts.admin,
    });
    Ok(App {
        router: router(state.clone()),
        state,
        worker,
        resumed,
    })
}

//! Wiring: builds the ports and the router from [`Settings`]. Called once per
//! process (per Lambda cold start); nothing here runs per request.
//!
//! Start-up does no network I/O besides reading the secret: the portal token
//! is fetched lazily on the first sign-up, so a cold start stays cheap.

use std::sync::Arc;

use axum::Router;

use crate::clock::Clock;
use crate::config::{ConfigError, RulesSource, Secrets, Settings, WorkflowSettings};
use crate::entrypoints::admin::AdminSettings;
use crate::entrypoints::http::{AppState, router};
use crate::intake::entra::EntraVerifier;
use crate::intake::signature::SigningKey;
use crate::intake::sources::Sources;
use crate::policy::{Policy, Rules};
use crate::portal::Portal;
use crate::portal::arcgis::{ArcGisConfig, ArcGisPortal, Credentials};
use crate::provisioning::Provisioner;
use crate::queue::JobSink;
use crate::queue::sqs::SqsQueue;
use crate::seats::SeatLedger;
use crate::seats::dynamo::{DynamoLedger, client_for_endpoint};

/// Reads the rules file's text.
pub fn rules_text(source: &RulesSource) -> Result<String, ConfigError> {
    match source {
        RulesSource::Path(p) => std::fs::read_to_string(p)
            .map_err(|e| ConfigError(format!("cannot read rules file {}: {e}", p.display()))),
        RulesSource::Inline(t) => Ok(t.clone()),
    }
}

/// Checks the rules (logging their warnings) and the `[sources.*]` of the
/// same text, pairing each enabled source with its secrets.
pub fn load_config(text: &str, secrets: &Secrets) -> Result<(Rules, Sources), ConfigError> {
    let rules = Rules::from_toml(text).map_err(|e| ConfigError(e.to_string()))?;
    for w in &rules.warnings {
        tracing::warn!("rules: {w}");
    }
    let sources = Sources::load(text, |name, env| secrets.for_source(name, env))
        .map_err(|e| ConfigError(format!("the sources are not usable:\n  - {e}")))?;
    Ok((rules, sources))
}

/// Parses the configured Standard Webhooks keys. At least one is required:
/// an intake that accepts nothing is a misconfiguration, not a safe default.
pub fn signing_keys(secrets: &Secrets) -> Result<Vec<SigningKey>, ConfigError> {
    if secrets.standard_webhook_secrets.is_empty() {
        return Err(ConfigError(
            "no Standard Webhooks secret configured (standard_webhook_secrets in the secret, or STANDARD_WEBHOOK_SECRETS)".into(),
        ));
    }
    secrets
        .standard_webhook_secrets
        .iter()
        .enumerate()
        .map(|(i, s)| {
            SigningKey::parse(s.expose())
                .map_err(|e| ConfigError(format!("webhook secret #{}: {e}", i + 1)))
        })
        .collect()
}

/// The ArcGIS client for a sharing root and the administrator's credentials.
pub fn arcgis_portal(
    portal_url: &str,
    referer: &str,
    secrets: &Secrets,
    workflow: &WorkflowSettings,
) -> Result<ArcGisPortal, ConfigError> {
    if secrets.arcgis_username.is_empty() || secrets.arcgis_password.expose().is_empty() {
        return Err(ConfigError(
            "ArcGIS administrator username/password missing (arcgis_username/arcgis_password in the secret, or ARCGIS_USERNAME/ARCGIS_PASSWORD)".into(),
        ));
    }
    let mut cfg = ArcGisConfig::new(portal_url, referer);
    // One logical portal call may not outlive the whole request's budget.
    cfg.deadline = cfg.deadline.min(workflow.deadline);
    ArcGisPortal::new(
        cfg,
        Credentials::new(&secrets.arcgis_username, secrets.arcgis_password.expose()),
    )
    .map_err(|e| ConfigError(format!("ArcGIS client: {e}")))
}

/// The approval step's connections: signed links (with `PUBLIC_URL` and a
/// link secret), Slack buttons (signing secret + approver list), notices by
/// SNS, an incoming webhook and the log.
pub async fn approvals(
    secrets: &Secrets,
    settings: &crate::config::ApprovalSettings,
) -> Result<
    (
        crate::entrypoints::approvals::ApprovalConfig,
        crate::provisioning::ApprovalWiring,
    ),
    ConfigError,
> {
    use crate::entrypoints::approvals::{ApprovalConfig, SlackApprovals};
    use crate::notify::links::LinkSigner;
    use crate::notify::{LinkMaker, Notifier};
    use crate::provisioning::ApprovalWiring;
    let links = match (&settings.public_url, &secrets.approval_link_secret) {
        (Some(url), Some(key)) => Some(Arc::new(
            LinkSigner::new(key.clone(), url).map_err(ConfigError)?,
        )),
        (Some(_), None) => {
            tracing::warn!(
                "PUBLIC_URL is set but APPROVAL_LINK_SECRET is not: notices carry no approve/deny links"
            );
            None
        }
        _ => None,
    };
    let slack = match (
        secrets.slack_signing_secrets.is_empty(),
        settings.slack_approvers.is_empty(),
    ) {
        (true, _) => None,
        (false, true) => {
            return Err(ConfigError(
                "SLACK_SIGNING_SECRETS is set but SLACK_APPROVERS (the Slack user ids allowed to decide) is empty".into(),
            ));
        }
        (false, false) => Some(SlackApprovals {
            signing_secrets: secrets.slack_signing_secrets.clone(),
            approvers: settings.slack_approvers.clone(),
        }),
    };
    let mut notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(crate::notify::log::LogNotifier)];
    if let Some(url) = &secrets.notify_webhook_url {
        notifiers.push(Arc::new(
            crate::notify::webhook::WebhookNotifier::new(url.clone()).map_err(ConfigError)?,
        ));
    }
    if let Some(arn) = &settings.notify_topic_arn {
        notifiers.push(Arc::new(
            crate::notify::sns::SnsNotifier::new(arn.clone()).await,
        ));
    }
    let wiring = ApprovalWiring {
        notifiers,
        links: links.clone().map(|l| l as Arc<dyn LinkMaker>),
    };
    Ok((ApprovalConfig { links, slack }, wiring))
}

/// Builds the router over any ledger and portal.
pub fn app<L: SeatLedger, P: Portal>(
    ledger: Arc<L>,
    portal: Arc<P>,
    parts: AppParts,
) -> (Router, Arc<AppState<L, P>>) {
    let clock = Clock::system();
    let entra = parts
        .sources
        .get(crate::intake::entra::SOURCE)
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
    let state = Arc::new(AppState {
        provisioner: Arc::new(
            Provisioner::new(
                ledger,
                portal,
                Arc::new(Policy::new(parts.rules)),
                parts.workflow,
            )
            .with_approvals(parts.approvals),
        ),
        jobs: parts.jobs,
        entra,
        http: Default::default(),
        approval_routes: parts.approval_routes,
        standard_keys: parts.keys,
        tolerance_secs: parts.tolerance_secs,
        clock,
        status_tokens: parts.status_tokens,
        sources: parts.sources,
        admin: parts.admin,
    });
    (router(state.clone()), state)
}

/// Everything the router needs besides the two ports.
#[derive(Clone)]
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
    pub status_tokens: Vec<crate::config::Secret>,
    /// Switched-on senders.
    pub sources: Sources,
    /// The job queue of the hooks and of slow sign-ups (see [`AppState::jobs`]).
    pub jobs: Option<Arc<dyn JobSink>>,
    /// Approval links and Slack buttons.
    pub approval_routes: crate::entrypoints::approvals::ApprovalConfig,
    /// Where approvers are told.
    pub approvals: crate::provisioning::ApprovalWiring,
    /// The administrator's page, when a secret is configured.
    pub admin: Option<AdminSettings>,
}

/// The deployed ports: the DynamoDB ledger and the ArcGIS client.
pub async fn deployed_ports(
    settings: &Settings,
    secrets: &Secrets,
) -> Result<(DynamoLedger, ArcGisPortal), ConfigError> {
    let portal = arcgis_portal(
        &settings.portal_url,
        &settings.portal_referer,
        secrets,
        &settings.workflow,
    )?;
    let client = client_for_endpoint(settings.dynamodb_endpoint.as_deref()).await;
    Ok((DynamoLedger::new(client, &settings.table), portal))
}

/// Everything the Lambda function serves: DynamoDB ledger, ArcGIS client.
pub async fn lambda_app(settings: &Settings) -> Result<Router, ConfigError> {
    let secrets = Secrets::load(&settings.secrets).await?;
    let (rules, sources) = load_config(&rules_text(&settings.rules)?, &secrets)?;
    let keys = signing_keys(&secrets)?;
    // Behind API Gateway the page is only ever served over https.
    let admin = AdminSettings::from_secrets(&secrets, true)?;
    let (ledger, portal) = deployed_ports(settings, &secrets).await?;
    tracing::info!(
        pools = rules.pools.len(),
        sources = ?sources.enabled(),
        table = %settings.table,
        portal = %settings.portal_url,
        "agol-seat-broker ready"
    );
    let jobs: Option<Arc<dyn JobSink>> = match &settings.job_queue_url {
        Some(url) => Some(Arc::new(SqsQueue::new(
            SqsQueue::client(settings.sqs_endpoint.as_deref()).await,
            url,
        ))),
        None => None,
    };
    let (approval_routes, approvals) = approvals(&secrets, &settings.approvals).await?;
    let (router, _) = app(
        Arc::new(ledger),
        Arc::new(portal),
        AppParts {
            rules,
            keys,
            workflow: settings.workflow.clone(),
            tolerance_secs: settings.tolerance_secs,
            status_tokens: secrets.status_tokens.clone(),
            sources,
            jobs,
            approval_routes,
            approvals,
            admin,
        },
    );
    Ok(router)
}

/// The queue worker's workflow: DynamoDB ledger, ArcGIS client, the rules.
/// Needs no webhook secrets, only the ArcGIS credentials.
pub async fn worker_provisioner(
    settings: &Settings,
) -> Result<Arc<Provisioner<DynamoLedger, ArcGisPortal>>, ConfigError> {
    let secrets = Secrets::load(&settings.secrets).await?;
    let rules =
        Rules::from_toml(&rules_text(&settings.rules)?).map_err(|e| ConfigError(e.to_string()))?;
    let (ledger, portal) = deployed_ports(settings, &secrets).await?;
    let (_, wiring) = approvals(&secrets, &settings.approvals).await?;
    tracing::info!(pools = rules.pools.len(), table = %settings.table, "agol-seat-broker worker ready");
    Ok(Arc::new(
        Provisioner::new(
            Arc::new(ledger),
            Arc::new(portal),
            Arc::new(Policy::new(rules)),
            settings.workflow.clone(),
        )
        .with_approvals(wiring),
    ))
}

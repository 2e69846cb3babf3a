//! The three Lambda functions of `template.yaml`, built from the environment
//! ([`Settings::from_env`]) once per cold start: the webhook function (the
//! router over DynamoDB and the ArcGIS client), the queue worker, and the
//! CSV import function.
//!
//! The webhook function (decisions), the worker and the lifecycle run
//! (admissions, expiry) also read the applicants' mail channel
//! (`MAIL_CHANNEL`, `MAIL_FROM`; `template.yaml` switches SES on with its
//! `MailFrom`).
//!
//! Start-up does no network I/O besides reading the secret: the portal token
//! is fetched lazily on the first sign-up, so a cold start stays cheap.
//!
//! Each function first checks its time budget ([`function_budget`]): its
//! timeout (`FUNCTION_TIMEOUT_SECS`) must hold the portal deadline, the
//! look-up after it and the ledger's writes, or it refuses to start.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use super::app::{AppParts, JobQueue, app, provisioner};
use super::parts::{approvals, arcgis_portal, load_config, rules_text, signing_keys};
use crate::clock::Clock;
use crate::config::budget::{Function, FunctionBudget};
use crate::config::mail::MailSettings;
use crate::config::{ConfigError, Secrets, Settings, env_flag, env_number, env_var};
use crate::entrypoints::http::admin::AdminSettings;
use crate::entrypoints::import_function::{ImportFunction, S3Objects};
use crate::ids::Ids;
use crate::import::ImportOptions;
use crate::intake::profiles::ProviderSecretRefresh;
use crate::intake::sources::provider_secret_env;
use crate::policy::Rules;
use crate::portal::arcgis::ArcGisPortal;
use crate::portal::arcgis::{CredentialRefresh, Credentials};
use crate::provisioning::Provisioner;
use crate::queue::JobSink;
use crate::queue::sqs::SqsQueue;
use crate::seats::dynamo::{DynamoLedger, client_for_endpoint};

/// The deployed ports: the DynamoDB ledger and the ArcGIS client.
pub async fn deployed_ports(
    settings: &Settings,
    secrets: &Secrets,
) -> Result<(DynamoLedger, ArcGisPortal), ConfigError> {
    let source = settings.secrets.clone();
    let refresh: CredentialRefresh = std::sync::Arc::new(move || {
        let source = source.clone();
        Box::pin(async move {
            let s = Secrets::load(&source).await.map_err(|e| e.to_string())?;
            Ok(Credentials::new(
                s.arcgis_username,
                s.arcgis_password.expose(),
            ))
        })
    });
    let portal = arcgis_portal(
        &settings.portal_url,
        &settings.portal_referer,
        secrets,
        &settings.workflow,
    )?
    // A secret rotated after this cold start is read again when the
    // portal refuses the credentials held.
    .with_credential_refresh(refresh);
    let client = client_for_endpoint(settings.dynamodb_endpoint.as_deref()).await;
    Ok((DynamoLedger::new(client, &settings.table), portal))
}

/// The function's timeout (`FUNCTION_TIMEOUT_SECS`, or the template's for
/// that function), checked to hold the portal deadline with the look-up
/// grace and the ledger margin after it (see [`crate::config::budget`]): a
/// function cut off by its timeout would leave its seat unsettled. Refuses
/// with `function_timeout_invalid` or `portal_deadline_too_long`.
pub fn function_budget(
    function: Function,
    settings: &Settings,
) -> Result<FunctionBudget, ConfigError> {
    let budget = FunctionBudget::new(function, settings.function_timeout)?;
    budget.check_deadline(settings.workflow.deadline)?;
    Ok(budget)
}

/// Everything the Lambda function serves: DynamoDB ledger, ArcGIS client.
pub async fn lambda_app(settings: &Settings) -> Result<Router, ConfigError> {
    function_budget(Function::Webhook, settings)?;
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
    let jobs = match &settings.job_queue_url {
        Some(url) => JobQueue::Sink(sqs_queue(settings, url).await),
        None => JobQueue::None,
    };
    let (approval_routes, approvals) =
        approvals(&secrets, &settings.approvals, &MailSettings::from_env()?).await?;
    let built = app(
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
            clock: Clock::system(),
            ids: Ids::random(),
            provider_secrets: Some(provider_secret_refresh(settings)),
        },
    )
    .await
    .map_err(|e| ConfigError(e.to_string()))?;
    Ok(built.router)
}

/// Reads an identity provider's API secret again from the function's
/// secret (Secrets Manager, or the environment), for a token or client the
/// provider refused: rotated since the cold start.
fn provider_secret_refresh(settings: &Settings) -> ProviderSecretRefresh {
    let source = settings.secrets.clone();
    Arc::new(move |name: &'static str| {
        let source = source.clone();
        Box::pin(async move {
            let env = provider_secret_env(name).ok_or("not a provider secret")?;
            let secrets = Secrets::load(&source).await.map_err(|e| e.to_string())?;
            Ok(secrets.for_source(name, env)?.into_iter().next())
        })
    })
}

/// The queue worker's parts: the workflow and the queue it hands the
/// members it admits from a waitlist to.
pub struct WorkerParts {
    /// The workflow over DynamoDB and the ArcGIS client.
    pub provisioner: Arc<Provisioner<DynamoLedger, ArcGisPortal>>,
    /// The job queue (`JOB_QUEUE_URL`): the one the worker consumes.
    pub jobs: Arc<dyn JobSink>,
    /// The broker's own account (the ArcGIS credentials' username): the
    /// lifecycle run never touches it.
    pub broker: String,
}

/// The queue worker: DynamoDB ledger, ArcGIS client, the rules, and the job
/// queue. Needs no webhook secrets, only the ArcGIS credentials. Refuses to
/// start without `JOB_QUEUE_URL` (code `job_queue_missing`): the members the
/// worker admits from a waitlist would be created inline, once, with no
/// retry.
pub async fn worker_parts(settings: &Settings) -> Result<WorkerParts, ConfigError> {
    function_budget(Function::Worker, settings)?;
    let Some(url) = &settings.job_queue_url else {
        return Err(ConfigError(
            "job_queue_missing: JOB_QUEUE_URL is not set; the worker queues the members it admits from a waitlist there, so that their creation is retried (template.yaml sets it to the JobQueue)".into(),
        ));
    };
    let secrets = Secrets::load(&settings.secrets).await?;
    let rules =
        Rules::from_toml(&rules_text(&settings.rules)?).map_err(|e| ConfigError(e.to_string()))?;
    let (ledger, portal) = deployed_ports(settings, &secrets).await?;
    let (_, wiring) = approvals(&secrets, &settings.approvals, &MailSettings::from_env()?).await?;
    let jobs = sqs_queue(settings, url).await;
    tracing::info!(pools = rules.pools.len(), table = %settings.table, "agol-seat-broker worker ready");
    Ok(WorkerParts {
        provisioner: Arc::new(provisioner(
            Arc::new(ledger),
            Arc::new(portal),
            rules,
            settings.workflow.clone(),
            wiring,
            Clock::system(),
            Ids::random(),
        )),
        jobs,
        broker: secrets.arcgis_username.clone(),
    })
}

/// The SQS job queue at `url` (through `SQS_ENDPOINT` when set).
async fn sqs_queue(settings: &Settings, url: &str) -> Arc<dyn JobSink> {
    Arc::new(SqsQueue::new(
        SqsQueue::client(settings.sqs_endpoint.as_deref()).await,
        url,
    ))
}

/// The import function: the same settings and secrets as the webhook
/// function, plus `IMPORT_PREFIX` (default `imports/`), `IMPORT_CONCURRENCY`
/// (8), `IMPORT_PARTIAL` (`false`), `IMPORT_RETRY_BUDGET_SECS` (120) and
/// `IMPORT_ALLOW_ADMIN_ROLES` (`false`: rows that would make an
/// administrator are refused).
pub async fn import_function(
    settings: &Settings,
) -> Result<ImportFunction<DynamoLedger, ArcGisPortal, S3Objects>, ConfigError> {
    function_budget(Function::Import, settings)?;
    let secrets = Secrets::load(&settings.secrets).await?;
    let rules =
        Rules::from_toml(&rules_text(&settings.rules)?).map_err(|e| ConfigError(e.to_string()))?;
    let (ledger, portal) = deployed_ports(settings, &secrets).await?;
    let concurrency = env_number("IMPORT_CONCURRENCY", 8)?.clamp(1, 64) as usize;
    Ok(ImportFunction {
        ledger: Arc::new(ledger),
        portal: Arc::new(portal),
        rules,
        objects: S3Objects::new(aws_sdk_s3::Client::new(crate::config::aws_config().await)),
        prefix: env_var("IMPORT_PREFIX").unwrap_or_else(|| "imports/".into()),
        options: ImportOptions {
            concurrency,
            partial: env_flag("IMPORT_PARTIAL"),
            allow_admin_roles: env_flag("IMPORT_ALLOW_ADMIN_ROLES"),
            retry_budget: Duration::from_secs(env_number("IMPORT_RETRY_BUDGET_SECS", 120)?),
            workflow: settings.workflow.clone(),
            clock: Clock::system(),
            ids: Ids::random(),
            ..ImportOptions::default()
        },
        work_dir: std::env::temp_dir(),
    })
}

//! Building the parts of the app from the configuration: the rules and the
//! senders' settings with their secrets, the Standard Webhooks keys, the
//! ArcGIS client, and the approval step's connections (links, Slack,
//! notifiers). Each is checked here, once per process, so a misconfiguration
//! stops the start with a message naming what is wrong.

use std::sync::Arc;

use crate::config::mail::{MailChannel, MailSettings};
use crate::config::{ApprovalSettings, ConfigError, RulesSource, Secrets, WorkflowSettings};
use crate::entrypoints::http::ApprovalConfig;
use crate::intake::signature::SigningKey;
use crate::intake::slack::SlackApprovals;
use crate::intake::sources::Sources;
use crate::notify::links::LinkSigner;
use crate::notify::log::LogNotifier;
use crate::notify::mail::Mailer;
use crate::notify::mail::log::LogMailer;
use crate::notify::mail::ses::SesMailer;
use crate::notify::mail::smtp::SmtpMailer;
use crate::notify::sns::SnsNotifier;
use crate::notify::webhook::WebhookNotifier;
use crate::notify::{LinkMaker, Notifier};
use crate::policy::Rules;
use crate::portal::arcgis::{ArcGisConfig, ArcGisPortal, Credentials};
use crate::provisioning::ApprovalWiring;

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

/// The environment variable naming a PEM file of certificate authorities the
/// ArcGIS client trusts besides the system's (a portal behind a private CA,
/// or `simulate-portal --tls`).
pub const PORTAL_CA_FILE: &str = "PORTAL_CA_FILE";

/// The PEM text of [`PORTAL_CA_FILE`], when set.
fn portal_ca_pem() -> Result<Option<String>, ConfigError> {
    match std::env::var_os(PORTAL_CA_FILE) {
        Some(path) if !path.is_empty() => std::fs::read_to_string(&path).map(Some).map_err(|e| {
            ConfigError(format!(
                "{PORTAL_CA_FILE}: cannot read {}: {e}",
                std::path::Path::new(&path).display()
            ))
        }),
        _ => Ok(None),
    }
}

/// The ArcGIS client for a sharing root and the administrator's credentials
/// (trusting [`PORTAL_CA_FILE`]'s authorities too, when set).
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
    cfg.extra_root_pem = portal_ca_pem()?;
    cfg.flavour = crate::config::portal_flavour(portal_url)?;
    ArcGisPortal::new(
        cfg,
        Credentials::new(&secrets.arcgis_username, secrets.arcgis_password.expose()),
    )
    .map_err(|e| ConfigError(format!("ArcGIS client: {e}")))
}

/// The applicants' mailer for `MAIL_CHANNEL` (none when `off`): SES or
/// SMTP sending as `MAIL_FROM`, or the log. The SMTP password comes from
/// `SMTP_URL` or the secret's `smtp_password`; errors carry a stable code
/// and never a credential.
pub async fn mailer(
    settings: &MailSettings,
    secrets: &Secrets,
) -> Result<Option<Arc<dyn Mailer>>, ConfigError> {
    let from = settings.from.clone().unwrap_or_default();
    let mailer: Arc<dyn Mailer> = match &settings.channel {
        MailChannel::Off => return Ok(None),
        MailChannel::Log => Arc::new(LogMailer),
        MailChannel::Ses => Arc::new(SesMailer::new(from).await),
        MailChannel::Smtp(server) => Arc::new(
            SmtpMailer::new(server, &from, secrets.smtp_password.as_ref()).map_err(ConfigError)?,
        ),
    };
    tracing::info!(
        channel = settings.channel.name(),
        "applicants are told by mail"
    );
    Ok(Some(mailer))
}

/// The approval step's connections: signed links (with `PUBLIC_URL` and a
/// link secret), Slack buttons (signing secret + approver list), notices by
/// SNS, an incoming webhook and the log; the applicants' [`mailer`] for
/// `mail`.
pub async fn approvals(
    secrets: &Secrets,
    settings: &ApprovalSettings,
    mail: &MailSettings,
) -> Result<(ApprovalConfig, ApprovalWiring), ConfigError> {
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
    let mut notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(LogNotifier)];
    if let Some(url) = &secrets.notify_webhook_url {
        notifiers.push(Arc::new(
            WebhookNotifier::new(url.clone()).map_err(ConfigError)?,
        ));
    }
    if let Some(arn) = &settings.notify_topic_arn {
        notifiers.push(Arc::new(SnsNotifier::new(arn.clone()).await));
    }
    let wiring = ApprovalWiring {
        notifiers,
        links: links.clone().map(|l| l as Arc<dyn LinkMaker>),
        mailer: mailer(mail, secrets).await?,
    };
    let webhook_keys = secrets
        .approval_webhook_secrets
        .iter()
        .enumerate()
        .map(|(i, s)| {
            SigningKey::parse(s.expose())
                .map_err(|e| ConfigError(format!("approval webhook secret #{}: {e}", i + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        ApprovalConfig {
            links,
            slack,
            webhook_keys,
        },
        wiring,
    ))
}

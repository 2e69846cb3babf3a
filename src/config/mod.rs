//! Settings, read once at start-up from the environment, and the secrets
//! (ArcGIS administrator credentials, webhook signing keys) from AWS Secrets
//! Manager in Lambda or from the environment / files locally.
//!
//! Secrets live in [`Secret`], whose `Debug` prints `<redacted>`, so a
//! settings struct can be logged whole without leaking them. The workflow's
//! tunables ([`WorkflowSettings`]) are here too, and the helpers every
//! environment reader uses ([`env_var`], [`env_number`], [`env_flag`],
//! [`env_list`]). [`budget`] checks that each Lambda function's time budget
//! adds up (the portal deadline and what follows it within the function's
//! timeout). [`mail`] reads the applicants' mail channel (`MAIL_CHANNEL`,
//! `MAIL_FROM`, `SMTP_URL`; read by the wiring, beside these settings).

pub mod budget;
pub mod mail;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::flavour::flavour_of_url;
use crate::domain::{DeliveryKey, PortalFlavour, UnixMillis};

/// A secret string: never printed.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether it has fewer than [`MIN_SECRET_CHARS`] characters.
    pub fn is_short(&self) -> bool {
        self.0.chars().count() < MIN_SECRET_CHARS
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A configuration problem, reported before serving anything.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Tunables of the workflow.
#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    /// How long a delivery's in-progress lease blocks a concurrent retry. Must
    /// exceed `deadline`, so a live attempt is never taken over.
    pub lease: Duration,
    /// How long a finished delivery's outcome is kept for replays.
    pub retain: Duration,
    /// How long it is kept for a sender whose deliveries carry no signed
    /// time (Typeform, Tally, Survey123, Okta, Auth0): nothing else stops
    /// a captured delivery replayed after its record is gone from
    /// provisioning the person again (say, after their seat was
    /// released), so the record outlives any project (`UNTIMED_RETAIN_DAYS`,
    /// 400). See [`WorkflowSettings::retain_until`].
    pub untimed_retain: Duration,
    /// A RESERVED claim older than this is considered abandoned by a crashed
    /// attempt, and a new delivery for the same person may take it over.
    pub stale_reservation: Duration,
    /// Total time budget for the portal work of one request; past it the
    /// request fails as "portal unavailable" and the seat is released (or
    /// the member is queued). In a Lambda function it must leave room for
    /// the look-up after it and the ledger's writes within the function's
    /// timeout ([`budget::FunctionBudget::check_deadline`]).
    pub deadline: Duration,
    /// A RESERVED claim not touched for this long is settled by the periodic
    /// sweep (adopted if its member exists, released otherwise). Queue
    /// workers touch their claims on every attempt, so this must exceed the
    /// longest wait between two attempts of a job.
    pub reservation_timeout: Duration,
    /// How long a closed sign-up request (approved, denied, expired), with
    /// the applicant's personal data, is kept after its decision before the
    /// store deletes it.
    pub request_retention: Duration,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        WorkflowSettings {
            lease: Duration::from_secs(60),
            retain: Duration::from_secs(7 * 24 * 3600),
            untimed_retain: DEFAULT_UNTIMED_RETAIN,
            stale_reservation: Duration::from_secs(120),
            deadline: Duration::from_secs(20),
            reservation_timeout: Duration::from_secs(3600),
            request_retention: DEFAULT_REQUEST_RETENTION,
        }
    }
}

/// How long a delivery of a sender without signed times is kept: 400 days.
pub const DEFAULT_UNTIMED_RETAIN: Duration = Duration::from_secs(400 * 24 * 3600);

/// Senders whose deliveries carry a signed time checked against a short
/// window (Standard Webhooks sign-ups and decisions, Entra's token, Slack):
/// a replay after their record expired is refused as stale anyway.
const TIMED_SOURCES: [&str; 4] = ["standard", "approval", "entra", "slack"];

impl WorkflowSettings {
    /// Until when a finished `delivery`'s record (its outcome for replays)
    /// is kept: `retain` for senders with signed times, at least
    /// `untimed_retain` for the others (issue 13).
    pub fn retain_until(&self, delivery: &DeliveryKey, now: UnixMillis) -> UnixMillis {
        let keep = if TIMED_SOURCES.contains(&delivery.source.as_str()) {
            self.retain
        } else {
            self.retain.max(self.untimed_retain)
        };
        now.saturating_add(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX))
    }
}

/// How long a closed sign-up request is kept by default: 180 days.
pub const DEFAULT_REQUEST_RETENTION: Duration = Duration::from_secs(180 * 24 * 3600);

/// Where the rules come from.
#[derive(Debug, Clone)]
pub enum RulesSource {
    /// A TOML file (`RULES_PATH`; in Lambda the rules layer at `/opt/rules.toml`).
    Path(PathBuf),
    /// Inline TOML (`RULES_TOML`), for small set-ups and tests.
    Inline(String),
}

/// Where the secrets come from.
#[derive(Debug, Clone)]
pub enum SecretsSource {
    /// A Secrets Manager secret (`SECRET_ARN`) holding JSON
    /// `{"arcgis_username", "arcgis_password", "standard_webhook_secrets": [..]}`.
    SecretsManager(String),
    /// `ARCGIS_USERNAME`, `ARCGIS_PASSWORD` (or `ARCGIS_PASSWORD_FILE`),
    /// `STANDARD_WEBHOOK_SECRETS` (`whsec_` keys separated by commas or
    /// newlines, or a JSON list),
    /// `STATUS_TOKEN`, `ADMIN_SECRET`, `ADMIN_SESSION_KEY`.
    Environment,
}

/// The secrets, once loaded.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Secrets {
    /// ArcGIS administrator username (built-in account).
    pub arcgis_username: String,
    /// Its password.
    pub arcgis_password: Secret,
    /// Standard Webhooks keys (`whsec_…`), newest first.
    #[serde(default)]
    pub standard_webhook_secrets: Vec<Secret>,
    /// Bearer tokens for `GET /status` (optional; none disables the route).
    #[serde(default)]
    pub status_tokens: Vec<Secret>,
    /// Per-sender secrets (`typeform`, `tally`, `survey123`, `auth0_logs`,
    /// `okta`), several for rotation.
    #[serde(default)]
    pub source_secrets: std::collections::BTreeMap<String, Vec<Secret>>,
    /// Standard Webhooks keys (`whsec_…`) of signed decisions
    /// (`APPROVAL_WEBHOOK_SECRETS`): their own, so a sign-up sender cannot
    /// approve; none switches `POST /approvals/{id}` off.
    #[serde(default)]
    pub approval_webhook_secrets: Vec<Secret>,
    /// Key of the one-time approval links (`APPROVAL_LINK_SECRET`).
    #[serde(default)]
    pub approval_link_secret: Option<Secret>,
    /// Slack or Teams incoming-webhook URL for approval notices
    /// (`NOTIFY_WEBHOOK_URL`).
    #[serde(default)]
    pub notify_webhook_url: Option<Secret>,
    /// Slack app signing secrets for the approval buttons
    /// (`SLACK_SIGNING_SECRETS`).
    #[serde(default)]
    pub slack_signing_secrets: Vec<Secret>,
    /// The administrator secret of the `/admin` page (optional; none
    /// switches the page off). Environment: `ADMIN_SECRET`.
    #[serde(default)]
    pub admin_secret: Option<Secret>,
    /// A separate key for the page's session cookies (optional; by default
    /// it is derived from `admin_secret`). Environment: `ADMIN_SESSION_KEY`.
    #[serde(default)]
    pub admin_session_key: Option<Secret>,
    /// The SMTP password when `SMTP_URL` names a user but no password
    /// (optional). Environment: `SMTP_PASSWORD` or `SMTP_PASSWORD_FILE`.
    #[serde(default)]
    pub smtp_password: Option<Secret>,
}

impl Secrets {
    /// A sender's secrets: from `source_secrets` when loaded from the secret
    /// store, else from the environment variable `env` (see
    /// [`secret_list`]: each secret whole, spaces inside kept).
    pub fn for_source(&self, name: &str, env: &str) -> Result<Vec<Secret>, String> {
        match self.source_secrets.get(name) {
            Some(list) if !list.is_empty() => Ok(list.clone()),
            _ => env_secrets(env),
        }
    }
}

/// The default AWS configuration (region, credential chain), loaded once per
/// process and shared by every AWS client (Secrets Manager, DynamoDB, SQS,
/// SNS, S3), so a cold start resolves it once.
pub async fn aws_config() -> &'static aws_config::SdkConfig {
    static CONFIG: tokio::sync::OnceCell<aws_config::SdkConfig> =
        tokio::sync::OnceCell::const_new();
    CONFIG
        .get_or_init(|| aws_config::defaults(aws_config::BehaviorVersion::latest()).load())
        .await
}

/// Everything the deployed function needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Rules.
    pub rules: RulesSource,
    /// DynamoDB table of the ledger (`LEDGER_TABLE`).
    pub table: String,
    /// DynamoDB endpoint override (`DYNAMODB_ENDPOINT`, DynamoDB Local).
    pub dynamodb_endpoint: Option<String>,
    /// Sharing API root, e.g. `https://myorg.maps.arcgis.com/sharing/rest`
    /// (`PORTAL_URL`; an org URL without `/sharing/rest` is completed).
    pub portal_url: String,
    /// Referer bound to the portal token (`PORTAL_REFERER`).
    pub portal_referer: String,
    /// Secrets.
    pub secrets: SecretsSource,
    /// Timestamp tolerance for signed webhooks (`WEBHOOK_TOLERANCE_SECS`, 300).
    pub tolerance_secs: i64,
    /// Workflow tunables (`PORTAL_DEADLINE_SECS`, `LEASE_SECS`,
    /// `RETAIN_HOURS`, `STALE_RESERVATION_SECS`, `RESERVATION_TIMEOUT_SECS`,
    /// `REQUEST_RETENTION_DAYS`).
    pub workflow: WorkflowSettings,
    /// The SQS queue the Okta and Entra hooks hand members to
    /// (`JOB_QUEUE_URL`); without one they create members synchronously.
    pub job_queue_url: Option<String>,
    /// SQS endpoint override (`SQS_ENDPOINT`, a local emulator).
    pub sqs_endpoint: Option<String>,
    /// Deliveries of a job before it goes to the dead-letter queue
    /// (`WORKER_MAX_ATTEMPTS`, the queue's `maxReceiveCount`, default 5).
    pub worker_max_attempts: u32,
    /// The Lambda function's own timeout (`FUNCTION_TIMEOUT_SECS`, set by
    /// `template.yaml` from the function's `Timeout`); every Lambda checks
    /// its time budget against it at start-up ([`budget::FunctionBudget`]).
    pub function_timeout: Option<Duration>,
    /// Where approval settings come from besides the secrets.
    pub approvals: ApprovalSettings,
}

/// Approval step settings that are not secret.
#[derive(Debug, Clone, Default)]
pub struct ApprovalSettings {
    /// The broker's public URL, for links in notices (`PUBLIC_URL`).
    pub public_url: Option<String>,
    /// Slack user ids allowed to decide (`SLACK_APPROVERS`, comma-separated).
    pub slack_approvers: Vec<String>,
    /// SNS topic for approval notices (`NOTIFY_TOPIC_ARN`).
    pub notify_topic_arn: Option<String>,
}

/// An environment variable's value; `None` when unset or blank.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A whole number from the environment, `default` when unset; a value that
/// is not a whole number is refused, naming the variable.
pub fn env_number(name: &str, default: u64) -> Result<u64, ConfigError> {
    match env_var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ConfigError(format!("{name} must be a whole number, got {v:?}"))),
    }
}

/// A yes/no switch from the environment: `true`, `1` or `yes` (any case)
/// turn it on; anything else, or unset, leaves it off.
pub fn env_flag(name: &str) -> bool {
    matches!(
        env_var(name).map(|v| v.to_ascii_lowercase()).as_deref(),
        Some("true" | "1" | "yes")
    )
}

/// The shortest secret accepted for a sender, a Slack app, a bearer token
/// or the administrator's page: anything shorter can be guessed, and is
/// refused at start-up.
pub const MIN_SECRET_CHARS: usize = 16;

/// The 1-based position of the first secret in `list` shorter than
/// [`MIN_SECRET_CHARS`], if any: the one check every secret list gets.
pub fn first_short_secret(list: &[Secret]) -> Option<usize> {
    list.iter().position(Secret::is_short).map(|n| n + 1)
}

/// A list of secrets as one setting holds them: a JSON list of strings
/// (`["a b", "c"]`), or entries separated by commas or newlines. Each
/// entry is one whole secret, its surrounding blanks trimmed and spaces
/// inside kept (Okta's `Basic <base64>` is one secret, never two);
/// blank entries are dropped. Errors name the problem, never the value.
pub fn secret_list(raw: &str) -> Result<Vec<String>, String> {
    let trimmed = raw.trim();
    let entries: Vec<String> = if trimmed.starts_with('[') {
        serde_json::from_str::<Vec<String>>(trimmed).map_err(|e| {
            format!(
                "is not a JSON list of strings (line {}, column {})",
                e.line(),
                e.column()
            )
        })?
    } else {
        trimmed.split([',', '\n']).map(str::to_string).collect()
    };
    Ok(entries
        .into_iter()
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect())
}

/// [`secret_list`] of the environment variable `name` (none when unset);
/// errors name the variable.
pub fn env_secrets(name: &str) -> Result<Vec<Secret>, String> {
    let raw = std::env::var(name).unwrap_or_default();
    secret_list(&raw)
        .map(|list| list.into_iter().map(Secret::new).collect())
        .map_err(|e| format!("{name} {e}"))
}

/// Entries of a plain (not secret) list setting, such as user ids.
pub fn env_list(name: &str, separators: &[char]) -> Vec<String> {
    env_var(name)
        .unwrap_or_default()
        .split(separators)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl ApprovalSettings {
    /// Reads `PUBLIC_URL`, `SLACK_APPROVERS`, `NOTIFY_TOPIC_ARN`.
    pub fn from_env() -> Self {
        let var = env_var;
        ApprovalSettings {
            public_url: var("PUBLIC_URL"),
            slack_approvers: env_list("SLACK_APPROVERS", &[',', ' ']),
            notify_topic_arn: var("NOTIFY_TOPIC_ARN"),
        }
    }
}

impl Settings {
    /// Reads the environment. Fails with a message naming the variable.
    pub fn from_env() -> Result<Settings, ConfigError> {
        let var = env_var;
        let rules = match (var("RULES_TOML"), var("RULES_PATH")) {
            (Some(inline), _) => RulesSource::Inline(inline),
            (None, Some(p)) => RulesSource::Path(p.into()),
            (None, None) => RulesSource::Path("rules.toml".into()),
        };
        let table = var("LEDGER_TABLE").ok_or_else(|| {
            ConfigError("LEDGER_TABLE is not set (the DynamoDB table name)".into())
        })?;
        let portal_url = normalise_portal_url(&var("PORTAL_URL").ok_or_else(|| {
            ConfigError("PORTAL_URL is not set (e.g. https://myorg.maps.arcgis.com)".into())
        })?)?;
        let secrets = match var("SECRET_ARN") {
            Some(arn) => SecretsSource::SecretsManager(arn),
            None => SecretsSource::Environment,
        };
        let num = env_number;
        let workflow = WorkflowSettings {
            // 15 s: the longest that fits the webhook function's 29 s
            // (see `budget`).
            deadline: Duration::from_secs(num("PORTAL_DEADLINE_SECS", 15)?),
            lease: Duration::from_secs(num("LEASE_SECS", 60)?),
            retain: Duration::from_secs(num("RETAIN_HOURS", 24 * 7)? * 3600),
            untimed_retain: retention_days(num("UNTIMED_RETAIN_DAYS", 400)?),
            stale_reservation: Duration::from_secs(num("STALE_RESERVATION_SECS", 120)?),
            reservation_timeout: Duration::from_secs(num("RESERVATION_TIMEOUT_SECS", 3600)?),
            request_retention: retention_days(num("REQUEST_RETENTION_DAYS", 180)?),
        };
        if workflow.lease <= workflow.deadline {
            return Err(ConfigError(
                "LEASE_SECS must be longer than PORTAL_DEADLINE_SECS, or a slow attempt could be run twice".into(),
            ));
        }
        Ok(Settings {
            rules,
            table,
            dynamodb_endpoint: var("DYNAMODB_ENDPOINT"),
            portal_url,
            portal_referer: var("PORTAL_REFERER").unwrap_or_else(|| "agol-seat-broker".into()),
            secrets,
            tolerance_secs: num("WEBHOOK_TOLERANCE_SECS", 300)? as i64,
            workflow,
            job_queue_url: var("JOB_QUEUE_URL"),
            sqs_endpoint: var("SQS_ENDPOINT"),
            worker_max_attempts: num("WORKER_MAX_ATTEMPTS", 5)?.clamp(1, 1000) as u32,
            function_timeout: var("FUNCTION_TIMEOUT_SECS")
                .map(|_| num("FUNCTION_TIMEOUT_SECS", 0).map(Duration::from_secs))
                .transpose()?,
            approvals: ApprovalSettings::from_env(),
        })
    }
}

/// A retention given in whole days (`REQUEST_RETENTION_DAYS`) as a
/// duration; an absurdly large number saturates (kept for ever, in effect)
/// instead of overflowing.
pub fn retention_days(days: u64) -> Duration {
    Duration::from_secs(days.saturating_mul(24 * 3600))
}

/// The kind of portal at `portal_url` (a sharing root): `PORTAL_FLAVOUR`
/// (`online` or `enterprise`) when set (`auto` is unset), else what the URL implies
/// ([`flavour_of_url`]: `*.arcgis.com` and loopback → online, any other
/// host → enterprise).
pub fn portal_flavour(portal_url: &str) -> Result<PortalFlavour, ConfigError> {
    if let Some(set) = env_var("PORTAL_FLAVOUR").filter(|s| !s.trim().eq_ignore_ascii_case("auto"))
    {
        return set.parse().map_err(|_| {
            ConfigError(format!(
                "PORTAL_FLAVOUR {:?} is not one of online, enterprise or auto",
                set.trim()
            ))
        });
    }
    let url = url::Url::parse(portal_url.trim())
        .map_err(|_| ConfigError(format!("PORTAL_URL {portal_url:?} is not a URL")))?;
    Ok(flavour_of_url(&url))
}

/// Accepts `https://org.maps.arcgis.com`, `…/sharing/rest` or `…/sharing/rest/`
/// and returns the sharing root without a trailing slash. Plain `http://` is
/// only accepted for loopback addresses (the simulator).
pub fn normalise_portal_url(raw: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(raw.trim())
        .map_err(|_| ConfigError(format!("PORTAL_URL {raw:?} is not a URL")))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(ConfigError(
            "PORTAL_URL must use https (tokens are sent to it)".into(),
        ));
    }
    let mut s = url.as_str().trim_end_matches('/').to_string();
    if !s.ends_with("/sharing/rest") {
        s.push_str("/sharing/rest");
    }
    Ok(s)
}

impl Secrets {
    /// Loads the secrets from their source, then [`Secrets::checked`].
    pub async fn load(source: &SecretsSource) -> Result<Secrets, ConfigError> {
        Self::load_unchecked(source).await?.checked()
    }

    /// Blank entries of the secret lists dropped (a blank secret would
    /// verify anything signed with an empty key), and a Slack signing
    /// secret or status token shorter than [`MIN_SECRET_CHARS`] refused.
    /// Errors name the setting, never the value. (The senders' secrets are
    /// checked with their sources, `intake::sources`.)
    pub fn checked(mut self) -> Result<Secrets, ConfigError> {
        let keep = |list: &mut Vec<Secret>| list.retain(|s| !s.expose().trim().is_empty());
        keep(&mut self.slack_signing_secrets);
        keep(&mut self.status_tokens);
        keep(&mut self.standard_webhook_secrets);
        keep(&mut self.approval_webhook_secrets);
        for list in self.source_secrets.values_mut() {
            keep(list);
        }
        for (what, list) in [
            (
                "SLACK_SIGNING_SECRETS (slack_signing_secrets)",
                &self.slack_signing_secrets,
            ),
            ("STATUS_TOKEN (status_tokens)", &self.status_tokens),
        ] {
            if let Some(n) = first_short_secret(list) {
                return Err(ConfigError(format!(
                    "{what}: entry {n} has fewer than {MIN_SECRET_CHARS} characters; a secret that short can be guessed"
                )));
            }
        }
        Ok(self)
    }

    async fn load_unchecked(source: &SecretsSource) -> Result<Secrets, ConfigError> {
        match source {
            SecretsSource::SecretsManager(arn) => {
                let client = aws_sdk_secretsmanager::Client::new(aws_config().await);
                let out = client
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|e| {
                        ConfigError(format!(
                            "cannot read secret {arn}: {}",
                            aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                        ))
                    })?;
                let text = out
                    .secret_string()
                    .ok_or_else(|| ConfigError(format!("secret {arn} has no string value")))?;
                serde_json::from_str(text).map_err(|e| {
                    // Only the error's position and kind: never the content.
                    ConfigError(format!(
                        "secret {arn} is not the expected JSON (line {}, column {})",
                        e.line(),
                        e.column()
                    ))
                })
            }
            SecretsSource::Environment => {
                let var = env_var;
                let password = match (var("ARCGIS_PASSWORD"), var("ARCGIS_PASSWORD_FILE")) {
                    (Some(p), _) => p,
                    (None, Some(path)) => std::fs::read_to_string(&path)
                        .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                        .map_err(|e| {
                            ConfigError(format!("cannot read ARCGIS_PASSWORD_FILE {path}: {e}"))
                        })?,
                    (None, None) => String::new(),
                };
                Ok(Secrets {
                    arcgis_username: var("ARCGIS_USERNAME").unwrap_or_default(),
                    arcgis_password: Secret::new(password),
                    standard_webhook_secrets: env_secrets("STANDARD_WEBHOOK_SECRETS")
                        .map_err(ConfigError)?,
                    status_tokens: var("STATUS_TOKEN").into_iter().map(Secret::new).collect(),
                    source_secrets: Default::default(),
                    approval_webhook_secrets: env_secrets("APPROVAL_WEBHOOK_SECRETS")
                        .map_err(ConfigError)?,
                    approval_link_secret: var("APPROVAL_LINK_SECRET").map(Secret::new),
                    notify_webhook_url: var("NOTIFY_WEBHOOK_URL").map(Secret::new),
                    slack_signing_secrets: env_secrets("SLACK_SIGNING_SECRETS")
                        .map_err(ConfigError)?,
                    admin_secret: var("ADMIN_SECRET").map(Secret::new),
                    admin_session_key: var("ADMIN_SESSION_KEY").map(Secret::new),
                    smtp_password: match (var("SMTP_PASSWORD"), var("SMTP_PASSWORD_FILE")) {
                        (Some(p), _) => Some(Secret::new(p)),
                        (None, Some(path)) => Some(Secret::new(
                            std::fs::read_to_string(&path)
                                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                                .map_err(|e| {
                                    ConfigError(format!(
                                        "cannot read SMTP_PASSWORD_FILE {path}: {}",
                                        e.kind()
                                    ))
                                })?,
                        )),
                        (None, None) => None,
                    },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_urls_are_completed_and_must_be_https() {
        assert_eq!(
            normalise_portal_url("https://acme.maps.arcgis.com/").unwrap(),
            "https://acme.maps.arcgis.com/sharing/rest"
        );
        assert_eq!(
            normalise_portal_url("https://acme.maps.arcgis.com/sharing/rest/").unwrap(),
            "https://acme.maps.arcgis.com/sharing/rest"
        );
        assert!(normalise_portal_url("http://acme.maps.arcgis.com").is_err());
        assert!(normalise_portal_url("http://127.0.0.1:8080/sharing/rest").is_ok());
    }

    #[test]
    fn retention_days_are_whole_days_and_saturate() {
        assert_eq!(retention_days(0), Duration::ZERO);
        assert_eq!(retention_days(180), Duration::from_secs(180 * 86_400));
        assert_eq!(retention_days(u64::MAX), Duration::from_secs(u64::MAX));
    }

    /// Issue 13, critical: each entry is one whole secret (spaces inside
    /// kept); commas, newlines or a JSON list separate them.
    #[test]
    fn a_secret_list_keeps_each_secret_whole() {
        assert_eq!(
            secret_list("Basic dXNlcjpwYXNz").unwrap(),
            vec!["Basic dXNlcjpwYXNz"]
        );
        assert_eq!(
            secret_list(" first secret , second\r\nthird\n\n").unwrap(),
            vec!["first secret", "second", "third"]
        );
        assert_eq!(
            secret_list(r#"["a, b", " c "]"#).unwrap(),
            vec!["a, b", "c"]
        );
        assert!(secret_list("").unwrap().is_empty());
        let err = secret_list(r#"["unterminated"#).unwrap_err();
        assert!(!err.contains("unterminated"), "no value in errors: {err}");
    }

    #[test]
    fn short_slack_secrets_and_status_tokens_are_refused_and_blank_ones_dropped() {
        let s = Secrets {
            slack_signing_secrets: vec![Secret::new(""), Secret::new("  ")],
            status_tokens: vec![Secret::new("a-status-token-of-24-chr")],
            ..Secrets::default()
        }
        .checked()
        .unwrap();
        assert!(s.slack_signing_secrets.is_empty(), "blank ones dropped");
        assert_eq!(s.status_tokens.len(), 1);

        let short = Secrets {
            slack_signing_secrets: vec![Secret::new("0123456789abcde")],
            ..Secrets::default()
        }
        .checked()
        .unwrap_err()
        .to_string();
        assert!(short.contains("SLACK_SIGNING_SECRETS"), "{short}");
        assert!(!short.contains("0123456789abcde"), "{short}");
        let short = Secrets {
            status_tokens: vec![Secret::new("tok")],
            ..Secrets::default()
        }
        .checked()
        .unwrap_err()
        .to_string();
        assert!(short.contains("STATUS_TOKEN"), "{short}");
    }

    #[test]
    fn secrets_do_not_print() {
        let s: Secrets = serde_json::from_str(
            r#"{"arcgis_username":"admin","arcgis_password":"hunter2","standard_webhook_secrets":["whsec_abc"]}"#,
        )
        .unwrap();
        let printed = format!("{s:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("whsec_abc"),
            "{printed}"
        );
        let s: Secrets = serde_json::from_str(
            r#"{"arcgis_username":"admin","arcgis_password":"x","admin_secret":"open sesame, for admins"}"#,
        )
        .unwrap();
        assert_eq!(
            s.admin_secret.as_ref().map(Secret::expose),
            Some("open sesame, for admins")
        );
        assert!(!format!("{s:?}").contains("sesame"));
    }
}

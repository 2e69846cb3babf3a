//! `serve` and `demo`: the local server (see [`crate::startup::local`]),
//! configured from the flags and the environment (`serve`) or from the
//! example rules and secrets it makes under `./data` (`demo`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use clap::Args;

use super::StoreArgs;
use crate::clock::Clock;
use crate::config::{Secret, Secrets, WorkflowSettings, normalise_portal_url};
use crate::entrypoints::http::admin::AdminSettings;
use crate::ids::Ids;
use crate::intake::signature::SigningKey;
use crate::intake::sources::Sources;
use crate::policy::Rules;
use crate::startup;
use crate::startup::local::{self, LocalPortal, LocalServer, Store};

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
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
    /// Before serving, make the store ready as `init` does (a `dynamodb:`
    /// table is created when missing, refused when keyed otherwise).
    #[arg(long)]
    create_table: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
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

/// Rules and sources from one file, with the sources' secrets.
fn load_config(path: &Path, secrets: &Secrets) -> Result<(Rules, Sources)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    startup::load_config(&text, secrets).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// `serve`: the local server on the store and portal the flags name.
pub(crate) async fn serve(a: ServeArgs) -> Result<()> {
    let secrets = Secrets::load(&crate::config::SecretsSource::Environment)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let keys = startup::signing_keys(&secrets).map_err(|e| anyhow!("{e}"))?;
    let portal = if a.portal == "simulator" {
        LocalPortal::Simulator { members_file: None }
    } else {
        LocalPortal::Url {
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
    let (approval_routes, approvals) = startup::approvals(
        &secrets,
        &crate::config::ApprovalSettings::from_env(),
        &crate::config::mail::MailSettings::from_env().map_err(|e| anyhow!("{e}"))?,
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;
    let admin = admin_settings(&secrets, a.listen)?;
    let store = a.store.store()?;
    if a.create_table {
        println!("{}", super::init::prepare_store(&store).await?);
    }
    local::serve(LocalServer {
        approval_routes,
        approvals,
        rules,
        sources,
        store,
        portal,
        listen: a.listen,
        keys,
        status_tokens: secrets.status_tokens,
        admin,
        workflow,
        hint: None,
        clock: Clock::system(),
        ids: Ids::random(),
    })
    .await
    .map_err(|e| anyhow!("{e}"))
}

/// `demo`: the local server on the example rules, an embedded store under
/// `--data` and the built-in simulator, with secrets it makes itself.
pub(crate) async fn demo(a: DemoArgs) -> Result<()> {
    std::fs::create_dir_all(&a.data)
        .with_context(|| format!("cannot create {}", a.data.display()))?;
    let ids = Ids::random();
    let secret = read_or_create_secret(&a.data.join("webhook-secret"), || {
        format!("whsec_{}", ids.base64(32))
    })?;
    let status_token = read_or_create_secret(&a.data.join("status-token"), || ids.base64(24))?;
    let keys = vec![SigningKey::parse(&secret).map_err(|e| anyhow!("data/webhook-secret: {e}"))?];
    let env_secrets = Secrets::load(&crate::config::SecretsSource::Environment)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let (rules, sources) = load_config(&a.config, &env_secrets)?;
    let (approval_routes, approvals) = startup::approvals(
        &env_secrets,
        &crate::config::ApprovalSettings::from_env(),
        &crate::config::mail::MailSettings::from_env().map_err(|e| anyhow!("{e}"))?,
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;
    // The demo's page: a secret of its own unless ADMIN_SECRET is set.
    let admin_secret = match &env_secrets.admin_secret {
        Some(s) => s.clone(),
        None => Secret::new(read_or_create_secret(&a.data.join("admin-secret"), || {
            ids.base64(24)
        })?),
    };
    let admin = admin_settings(
        &Secrets {
            admin_secret: Some(admin_secret),
            ..env_secrets.clone()
        },
        a.listen,
    )?;
    local::serve(LocalServer {
        approval_routes,
        approvals,
        rules,
        sources,
        store: Store::Sqlite(a.data.join("ledger.db")),
        portal: LocalPortal::Simulator {
            members_file: Some(a.data.join("simulator-members.json")),
        },
        listen: a.listen,
        keys,
        status_tokens: vec![Secret::new(status_token)],
        admin,
        workflow: WorkflowSettings::default(),
        hint: Some(format!(
            "try:    agol-seat-broker send events/standard-signup.body.json --url http://{}/webhooks/standard\n        agol-seat-broker seats --store sqlite:{}\n        the administrator's page: /admin (the secret is in {})",
            a.listen,
            a.data.join("ledger.db").display(),
            a.data.join("admin-secret").display()
        )),
        clock: Clock::system(),
        ids,
    })
    .await
    .map_err(|e| anyhow!("{e}"))
}
/// The administrator's page of the local server. It serves plain http, so
/// its cookies can only carry `Secure` when a TLS proxy sits in front: on a
/// loopback address they go without (browsers would not send them back over
/// http otherwise); on any other address they keep it.
fn admin_settings(secrets: &Secrets, listen: SocketAddr) -> Result<Option<AdminSettings>> {
    AdminSettings::from_secrets(secrets, !listen.ip().is_loopback()).map_err(|e| anyhow!("{e}"))
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
    // Created 0600 from the start (issue 13: written, then chmod-ed, it
    // was readable by others in between); an existing empty file is
    // narrowed to 0600 before the secret goes in.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict {}", path.display()))?;
        }
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{value}\n").as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(value)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// Issue 13: a generated secret file is never readable by others, not
    /// even between its creation and a later chmod.
    #[test]
    fn a_generated_secret_file_is_created_0600() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("asb-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("webhook-secret");
        let _ = std::fs::remove_file(&path);
        let v = read_or_create_secret(&path, || "whsec_generated".into()).unwrap();
        assert_eq!(v, "whsec_generated");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // An existing empty file, world-readable, is narrowed first.
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        read_or_create_secret(&path, || "whsec_again".into()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            "whsec_again"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
